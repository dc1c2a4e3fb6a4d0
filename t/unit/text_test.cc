/*
 * text_test: framing, tokenizing and parsing of memcached's text protocol
 * (proto/text.h).
 *
 * Clients see the first failing check's error line, so every expected reply
 * below is the line memcached 1.6.18 sends for the same request; each was
 * checked against a running memcached (and the unit under test only decides
 * the line: whether it is sent is the noreply flag, checked alongside).
 * The parser is pure, so the tests are plain tables.
 */
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "cache/cache.h"
#include "proto/text.h"

namespace {

const char *const kBadFormat = "CLIENT_ERROR bad command line format";
const char *const kBadDelete =
    "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]";
const char *const kBadExptime = "CLIENT_ERROR invalid exptime argument";
const char *const kBadDelta = "CLIENT_ERROR invalid numeric delta argument";

/* The parser works in place; keep the buffer alive with the request. */
struct Parsed {
    std::vector<char> buf;
    struct text_request req;
};

/* text_parse takes its request by pointer and keeps pointers into buf, so
 * the result is built in place rather than returned by value. */
void Parse(Parsed *p, const std::string &line, bool flush_enabled = true)
{
    struct text_options o;

    o.flush_enabled = flush_enabled;
    p->buf.assign(line.begin(), line.end());
    p->buf.push_back('\0');
    memset(&p->req, 0xa5, sizeof(p->req)); /* no stale field passes */
    text_parse(p->buf.data(), &o, &p->req);
}

std::vector<std::string> Keys(const struct text_request &r)
{
    std::vector<std::string> keys;

    for (const struct text_token *t = r.keys; t->length != 0; t++) {
        keys.emplace_back(t->value, t->length);
    }
    return keys;
}

std::string Repeat(char c, size_t n)
{
    return std::string(n, c);
}

/* ---- text_find_line ------------------------------------------------- */

struct FrameCase {
    std::string input;
    enum text_frame want;
    std::string line;             /* TEXT_LINE: the NUL-terminated line */
    size_t consumed;              /* TEXT_LINE: bytes taken */
};

std::string Describe(const std::string &s)
{
    std::string out;

    for (char c : s.substr(0, 60)) {
        if (c == '\r') {
            out += "\\r";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out + (s.size() > 60 ? "...(" + std::to_string(s.size()) + ")"
                                : "");
}

TEST(TextFindLine, Table)
{
    const std::string junk2048 = Repeat('x', 2048);
    const std::string junk2049 = Repeat('x', 2049);
    const std::string longget = "get " + Repeat('k', 3000);
    const std::string longgets = "gets " + Repeat('k', 3000);
    const FrameCase cases[] = {
        {"", TEXT_NEED_MORE, "", 0},
        {"get a", TEXT_NEED_MORE, "", 0},
        {"get a\r", TEXT_NEED_MORE, "", 0},
        {"get a\n", TEXT_LINE, "get a", 6},
        {"get a\r\n", TEXT_LINE, "get a", 7},
        {"get a\r\nget b\r\n", TEXT_LINE, "get a", 7},
        /* Only the \r right before \n is dropped. */
        {"get a\r\r\n", TEXT_LINE, "get a\r", 8},
        {"get\ra\n", TEXT_LINE, "get\ra", 6},
        {"\n", TEXT_LINE, "", 1},
        /* memcached strips the \r only when the line has 2+ bytes, so a
         * bare "\r\n" is the 1-byte line "\r" (which answers ERROR). */
        {"\r\n", TEXT_LINE, "\r", 2},
        {"a\r\n", TEXT_LINE, "a", 3},
        /* Without a newline, up to 2048 bytes of anything may wait. */
        {junk2048, TEXT_NEED_MORE, "", 0},
        /* Past that only a multi-get may grow; anything else is junk. */
        {junk2049, TEXT_CLOSE, "", 0},
        {"set k 0 0 1 " + junk2048, TEXT_CLOSE, "", 0},
        {"getx " + junk2048, TEXT_CLOSE, "", 0},
        {"gat 10 " + junk2048, TEXT_CLOSE, "", 0},
        {longget, TEXT_NEED_MORE, "", 0},
        {longgets, TEXT_NEED_MORE, "", 0},
        {Repeat(' ', 100) + longget, TEXT_NEED_MORE, "", 0},
        {Repeat(' ', 101) + longget, TEXT_CLOSE, "", 0},
        /* A newline anywhere frames a line, however long. */
        {junk2049 + "\r\n", TEXT_LINE, junk2049, 2051},
    };

    for (const FrameCase &c : cases) {
        std::vector<char> buf(c.input.begin(), c.input.end());
        size_t line_len = 12345, consumed = 12345;

        buf.push_back('\0'); /* not part of len; lets us read the line */
        enum text_frame got = text_find_line(buf.data(), c.input.size(),
                                             1 << 20, &line_len, &consumed);

        EXPECT_EQ(got, c.want) << Describe(c.input);
        if (got == TEXT_LINE && c.want == TEXT_LINE) {
            EXPECT_EQ(line_len, c.line.size()) << Describe(c.input);
            EXPECT_EQ(consumed, c.consumed) << Describe(c.input);
            EXPECT_EQ(std::string(buf.data(), line_len), c.line)
                << Describe(c.input);
            EXPECT_EQ(buf[line_len], '\0') << Describe(c.input);
        }
    }
}

TEST(TextFindLine, MultiGetLineIsBoundedByMaxLine)
{
    std::string get = "get " + Repeat('k', 10000);
    size_t line_len, consumed;

    EXPECT_EQ(text_find_line(&get[0], get.size(), 20000, &line_len,
                             &consumed), TEXT_NEED_MORE);
    EXPECT_EQ(text_find_line(&get[0], get.size(), get.size() + 1,
                             &line_len, &consumed), TEXT_NEED_MORE);
    EXPECT_EQ(text_find_line(&get[0], get.size(), get.size(), &line_len,
                             &consumed), TEXT_CLOSE);
    EXPECT_EQ(text_find_line(&get[0], get.size(), 4096, &line_len,
                             &consumed), TEXT_CLOSE);
}

TEST(TextFindLine, BareCrLfAnswersError)
{
    char buf[] = "\r\n";
    size_t line_len, consumed;
    struct text_options o = {true};
    struct text_request r;

    ASSERT_EQ(text_find_line(buf, 2, 1 << 20, &line_len, &consumed),
              TEXT_LINE);
    text_parse(buf, &o, &r);
    EXPECT_EQ(r.cmd, TEXT_ERROR_REPLY);
    EXPECT_STREQ(r.error, "ERROR");
}

/* ---- text_tokenize -------------------------------------------------- */

std::string Words(int from, int to)
{
    std::string s;

    for (int i = from; i <= to; i++) {
        s += (i > from ? " w" : "w") + std::to_string(i);
    }
    return s;
}

struct TokenizeCase {
    std::string line;
    std::vector<std::string> tokens; /* the real tokens */
    const char *rest;                /* terminator's value, or NULL */
};

TEST(TextTokenize, Table)
{
    const TokenizeCase cases[] = {
        {"", {}, nullptr},
        {"   ", {}, nullptr},
        {"get", {"get"}, nullptr},
        {"get a b", {"get", "a", "b"}, nullptr},
        {"  get   a  b  ", {"get", "a", "b"}, nullptr},
        /* Only spaces separate. */
        {"get a\tb", {"get", "a\tb"}, nullptr},
        {"get a\rb", {"get", "a\rb"}, nullptr},
    };

    for (const TokenizeCase &c : cases) {
        std::vector<char> buf(c.line.begin(), c.line.end());
        struct text_token tokens[TEXT_MAX_TOKENS];

        buf.push_back('\0');
        size_t n = text_tokenize(buf.data(), tokens, TEXT_MAX_TOKENS);

        ASSERT_EQ(n, c.tokens.size() + 1) << "\"" << c.line << "\"";
        for (size_t i = 0; i < c.tokens.size(); i++) {
            EXPECT_EQ(std::string(tokens[i].value, tokens[i].length),
                      c.tokens[i]);
            /* Tokens are NUL-terminated in place. */
            EXPECT_EQ(strlen(tokens[i].value), tokens[i].length);
        }
        EXPECT_EQ(tokens[n - 1].length, 0u);
        EXPECT_EQ(tokens[n - 1].value, nullptr) << "\"" << c.line << "\"";
    }
}

TEST(TextTokenize, TwentyFourthTokenHoldsTheRest)
{
    /* memcached's rule: at most max-1 tokens; if the line goes on, the
     * last entry (length 0) points at the untokenized rest. */
    struct {
        std::string line;
        size_t words;             /* real tokens expected */
        const char *rest;
    } const cases[] = {
        {Words(1, 22), 22, nullptr},
        {Words(1, 23), 23, nullptr},
        {Words(1, 23) + " ", 23, nullptr},
        {Words(1, 24), 23, "w24"},
        {Words(1, 30), 23, "w24 w25 w26 w27 w28 w29 w30"},
        {Words(1, 23) + "  w24  w25 ", 23, " w24  w25 "},
    };

    for (const auto &c : cases) {
        std::vector<char> buf(c.line.begin(), c.line.end());
        struct text_token tokens[TEXT_MAX_TOKENS];

        buf.push_back('\0');
        size_t n = text_tokenize(buf.data(), tokens, TEXT_MAX_TOKENS);

        ASSERT_EQ(n, c.words + 1) << c.line;
        for (size_t i = 0; i < c.words; i++) {
            EXPECT_EQ(std::string(tokens[i].value),
                      "w" + std::to_string(i + 1));
        }
        EXPECT_EQ(tokens[c.words].length, 0u);
        if (c.rest == nullptr) {
            EXPECT_EQ(tokens[c.words].value, nullptr) << c.line;
        } else {
            ASSERT_NE(tokens[c.words].value, nullptr) << c.line;
            EXPECT_STREQ(tokens[c.words].value, c.rest);
        }
    }
}

TEST(TextTokenize, SmallMaxKeepsTheRestForTheCaller)
{
    char line[] = "get a b c d";
    struct text_token tokens[3];

    ASSERT_EQ(text_tokenize(line, tokens, 3), 3u);
    EXPECT_STREQ(tokens[0].value, "get");
    EXPECT_STREQ(tokens[1].value, "a");
    EXPECT_STREQ(tokens[2].value, "b c d");
    EXPECT_EQ(tokens[2].length, 0u);
    /* Re-tokenizing the rest continues where it stopped (as the get
     * loop does). */
    ASSERT_EQ(text_tokenize(tokens[2].value, tokens, 3), 3u);
    EXPECT_STREQ(tokens[0].value, "b");
    EXPECT_STREQ(tokens[1].value, "c");
    EXPECT_STREQ(tokens[2].value, "d");
}

/* ---- text_parse: outcome table -------------------------------------- */

struct ParseCase {
    std::string line;
    enum text_cmd cmd;
    const char *error;            /* TEXT_ERROR_REPLY only */
    bool noreply;
    bool flush_enabled;
};

ParseCase Ok(std::string line, enum text_cmd cmd, bool noreply = false)
{
    return {std::move(line), cmd, nullptr, noreply, true};
}

ParseCase Err(std::string line, const char *error, bool noreply = false)
{
    return {std::move(line), TEXT_ERROR_REPLY, error, noreply, true};
}

const std::string k250 = Repeat('k', 250);
const std::string k251 = Repeat('k', 251);

TEST(TextParse, OutcomeTable)
{
    const ParseCase cases[] = {
        /* Framing leftovers and unknown commands. */
        Err("", "ERROR"),
        Err("   ", "ERROR"),
        Err("\r", "ERROR"),
        Err("a", "ERROR"),
        Err("g", "ERROR"),
        Err("ab", "ERROR"),
        Err("getx a", "ERROR"),
        Err("GeT a", "ERROR"),
        Err("FLUSH_ALL", "ERROR"),
        Err("mn", "ERROR"),
        Err("settle k 0 0 1", "ERROR"),

        /* get family: a key is required (gat: after the exptime). */
        Err("get", "ERROR"),
        Err("gets", "ERROR"),
        Err("gat", "ERROR"),
        Err("gats", "ERROR"),
        /* memcached answers "gat 10" with END: a touch of no keys. */
        Ok("gat 10", TEXT_GET),
        Ok("get a", TEXT_GET),
        Ok("get a b c", TEXT_GET),
        Ok("gets a", TEXT_GET),
        Ok("bget a", TEXT_GET),
        Ok("gats 10 a b", TEXT_GET),
        Ok("gat -5 k", TEXT_GET),
        Ok("get " + k250, TEXT_GET),
        /* A long key fails the whole batch: the executor drops what it
         * queued and answers "CLIENT_ERROR bad command line format". */
        Ok("get " + k251, TEXT_GET_BAD_KEY),
        Ok("get a " + k251, TEXT_GET_BAD_KEY),
        Ok("gets a " + k251 + " b", TEXT_GET_BAD_KEY),
        Ok("gat 10 " + k251, TEXT_GET_BAD_KEY),
        Err("gat abc k", kBadExptime),
        Err("gat 1.5 k", kBadExptime),
        /* noreply is just a key to get. */
        Ok("get a noreply", TEXT_GET),

        /* storage: token counts first, then key length, then numbers. */
        Err("set", "ERROR"),
        Err("set k 0 0", "ERROR"),
        Err("set k 0 0 1 noreply extra", "ERROR"),
        Err("set k 0 0 1 2 3", "ERROR"),
        Err("cas k 0 0 1", "ERROR"),
        Err("cas k 0 0 1 5 6 7", "ERROR"),
        Ok("set k 0 0 1", TEXT_STORE),
        Ok("set k 0 0 1 garbage", TEXT_STORE),
        Ok("set k 0 0 1 noreply", TEXT_STORE, true),
        Ok("add k 0 0 1", TEXT_STORE),
        Ok("replace k 0 0 1", TEXT_STORE),
        Ok("append k 0 0 1", TEXT_STORE),
        Ok("prepend k 0 0 1 noreply", TEXT_STORE, true),
        Ok("cas k 0 0 1 5", TEXT_STORE),
        Ok("cas k 0 0 1 5 noreply", TEXT_STORE, true),
        Ok("set " + k250 + " 0 0 1", TEXT_STORE),
        Err("set " + k251 + " 0 0 1", kBadFormat),
        Err("set " + k251 + " 0 0 1 noreply", kBadFormat, true),
        Err("set k abc 0 1", kBadFormat),
        Err("set k 1x 0 1", kBadFormat),
        Err("set k -1 0 1", kBadFormat),
        Err("set k 0 abc 1", kBadFormat),
        Err("set k 0 0 abc", kBadFormat),
        Err("set k 0 0 1x", kBadFormat),
        Err("set k 0 0 -1", kBadFormat),
        Err("set k 0 0 2147483646", kBadFormat), /* > INT_MAX - 2 */
        Err("set k 0 0 2147483647", kBadFormat),
        Err("cas k 0 0 1 -1", kBadFormat),
        Err("cas k 0 0 1 abc", kBadFormat),
        Err("cas k 0 0 1 18446744073709551616", kBadFormat),
        Err("set k abc 0 1 noreply", kBadFormat, true),

        /* incr/decr */
        Err("incr k", "ERROR"),
        Err("incr k 1 2 3", "ERROR"),
        Ok("incr k 1", TEXT_DELTA),
        Ok("decr k 1 noreply", TEXT_DELTA, true),
        Ok("incr k 1 2", TEXT_DELTA),
        Ok("incr k 18446744073709551615", TEXT_DELTA),
        Err("incr k 18446744073709551616", kBadDelta),
        Err("incr k abc", kBadDelta),
        Err("incr k -1", kBadDelta),
        Err("incr k abc noreply", kBadDelta, true),
        Err("incr " + k251 + " 1", kBadFormat),
        Err("incr " + k251 + " abc", kBadFormat),

        /* delete: "0" and noreply are the only extras allowed. */
        Err("delete", "ERROR"),
        Err("delete a b c d", "ERROR"),
        Ok("delete k", TEXT_DELETE),
        Ok("delete k 0", TEXT_DELETE),
        Ok("delete k noreply", TEXT_DELETE, true),
        Ok("delete k 0 noreply", TEXT_DELETE, true),
        Err("delete k 1", kBadDelete),
        Err("delete k 0 0", kBadDelete),
        Err("delete k noreply 0", kBadDelete),
        Err("delete k 1 noreply", kBadDelete, true),
        Err("delete k noreply noreply", kBadDelete, true),
        Err("delete " + k251, kBadFormat),
        Err("delete " + k251 + " 1", kBadDelete),
        Ok("delete " + k250, TEXT_DELETE),

        /* touch */
        Err("touch k", "ERROR"),
        Err("touch k 1 2 3", "ERROR"),
        Ok("touch k 10", TEXT_TOUCH),
        Ok("touch k 10 20", TEXT_TOUCH),
        Ok("touch k -1 noreply", TEXT_TOUCH, true),
        Err("touch k abc", kBadExptime),
        Err("touch " + k251 + " 10", kBadFormat),

        /* flush_all */
        Ok("flush_all", TEXT_FLUSH_ALL),
        Ok("flush_all 0", TEXT_FLUSH_ALL),
        Ok("flush_all -1", TEXT_FLUSH_ALL),
        Ok("flush_all 10 20", TEXT_FLUSH_ALL),
        Ok("flush_all noreply", TEXT_FLUSH_ALL, true),
        Ok("flush_all 10 noreply", TEXT_FLUSH_ALL, true),
        Err("flush_all 0 0 0", "ERROR"),
        Err("flush_all abc", kBadExptime),
        Err("flush_all 1.5", kBadExptime),
        Err("flush_all noreply 10", kBadExptime),
        Err("flush_all abc noreply", kBadExptime, true),

        /* verbosity */
        Err("verbosity", "ERROR"),
        Err("verbosity 1 2 3", "ERROR"),
        Ok("verbosity 1", TEXT_VERBOSITY),
        Ok("verbosity 1 noreply", TEXT_VERBOSITY, true),
        Ok("verbosity 4294967296", TEXT_VERBOSITY),
        Err("verbosity abc", kBadFormat),
        Err("verbosity -1", kBadFormat),

        /* the rest take any arguments */
        Ok("version", TEXT_VERSION),
        Ok("version extra", TEXT_VERSION),
        Ok("quit", TEXT_QUIT),
        Ok("quit extra", TEXT_QUIT),
        Ok("shutdown", TEXT_SHUTDOWN),
        Ok("stats", TEXT_STATS),
        Ok("stats slabs", TEXT_STATS),
        Ok("stats nosuch", TEXT_STATS),

        /* An HTTP request line closes the connection silently. */
        Ok("GET / HTTP/1.1", TEXT_CLOSE_CONN),
        Ok("HEAD /x HTTP/1.0", TEXT_CLOSE_CONN),
        Ok("FOO bar HTTP/1.0", TEXT_CLOSE_CONN),
        Ok("HTTP/1.1", TEXT_CLOSE_CONN),
        Err("GET /index.html HTTP/1.0 extra", "ERROR"),
        Err("x HTTP/1.1 y", "ERROR"),
        Err("a b HTTP/1.1", "ERROR"), /* 1-byte command: ERROR first */
        /* Lower-case get is a get of the keys "/" and "HTTP/1.1". */
        Ok("get / HTTP/1.1", TEXT_GET),
    };

    for (const ParseCase &c : cases) {
        Parsed p;

        Parse(&p, c.line, c.flush_enabled);
        std::string shown = c.line.size() > 70
                                ? c.line.substr(0, 70) + "..."
                                : c.line;
        EXPECT_EQ(p.req.cmd, c.cmd) << "\"" << shown << "\"";
        if (c.cmd == TEXT_ERROR_REPLY && p.req.cmd == TEXT_ERROR_REPLY) {
            EXPECT_STREQ(p.req.error, c.error) << "\"" << shown << "\"";
        }
        EXPECT_EQ(p.req.noreply, c.noreply) << "\"" << shown << "\"";
    }
}

/* ---- text_parse: fields per command --------------------------------- */

TEST(TextParse, GetFamilyKeysCasAndTouch)
{
    Parsed p;

    Parse(&p, "get a bb ccc");
    ASSERT_EQ(p.req.cmd, TEXT_GET);
    EXPECT_FALSE(p.req.return_cas);
    EXPECT_FALSE(p.req.touch);
    EXPECT_EQ(Keys(p.req), (std::vector<std::string>{"a", "bb", "ccc"}));

    Parse(&p, "gets a");
    ASSERT_EQ(p.req.cmd, TEXT_GET);
    EXPECT_TRUE(p.req.return_cas);
    EXPECT_FALSE(p.req.touch);
    EXPECT_EQ(Keys(p.req), std::vector<std::string>{"a"});

    Parse(&p, "gat 100 a b");
    ASSERT_EQ(p.req.cmd, TEXT_GET);
    EXPECT_FALSE(p.req.return_cas);
    EXPECT_TRUE(p.req.touch);
    EXPECT_EQ(p.req.exptime, 100);
    EXPECT_EQ(Keys(p.req), (std::vector<std::string>{"a", "b"}));

    Parse(&p, "gats -1 a");
    ASSERT_EQ(p.req.cmd, TEXT_GET);
    EXPECT_TRUE(p.req.return_cas);
    EXPECT_TRUE(p.req.touch);
    EXPECT_EQ(p.req.exptime, -1);
    EXPECT_EQ(Keys(p.req), std::vector<std::string>{"a"});

    /* memcached answers "gat 10" with END: a touch of no keys. */
    Parse(&p, "gat 10");
    ASSERT_EQ(p.req.cmd, TEXT_GET);
    EXPECT_TRUE(Keys(p.req).empty());
}

TEST(TextParse, MultiGetPastTwentyFourTokens)
{
    std::string line = "get";

    for (int i = 0; i < 40; i++) {
        line += " k" + std::to_string(i);
    }
    Parsed p;

    Parse(&p, line);
    ASSERT_EQ(p.req.cmd, TEXT_GET);
    std::vector<std::string> first = Keys(p.req);
    ASSERT_EQ(first.size(), 22u);  /* 23 tokens minus the command */
    EXPECT_EQ(first.front(), "k0");
    EXPECT_EQ(first.back(), "k21");
    /* The rest is left for the executor to re-tokenize. */
    const struct text_token *end = p.req.keys + first.size();
    ASSERT_NE(end->value, nullptr);
    EXPECT_EQ(std::string(end->value).substr(0, 8), "k22 k23 ");
    EXPECT_TRUE(text_keys_valid(&p.req));

    /* A too-long key anywhere in the rest fails the whole request, as
     * memcached answers only the error. A 250-byte one is fine. */
    Parse(&p, line + " " + k250);
    EXPECT_EQ(p.req.cmd, TEXT_GET);
    Parse(&p, line + " " + k251);
    EXPECT_EQ(p.req.cmd, TEXT_GET_BAD_KEY);
    EXPECT_FALSE(text_keys_valid(&p.req));
    Parse(&p, line + " " + k251 + " z");
    EXPECT_EQ(p.req.cmd, TEXT_GET_BAD_KEY);
}

TEST(TextParse, StoreFields)
{
    struct {
        const char *line;
        enum text_store_mode mode;
        const char *key;
        uint32_t flags;
        int32_t exptime;
        int32_t vlen;
        uint64_t cas;
        bool noreply;
    } const cases[] = {
        {"set foo 5 100 3", TEXT_SET, "foo", 5, 100, 3, 0, false},
        {"add foo 4294967295 -1 0", TEXT_ADD, "foo", 4294967295u, -1, 0, 0,
         false},
        {"replace k 0 2592001 10 noreply", TEXT_REPLACE, "k", 0, 2592001,
         10, 0, true},
        {"append k 1 0 2147483645", TEXT_APPEND, "k", 1, 0, 2147483645, 0,
         false},
        {"prepend k 0 0 7", TEXT_PREPEND, "k", 0, 0, 7, 0, false},
        {"cas k 9 8 7 18446744073709551615", TEXT_CAS, "k", 9, 8, 7,
         18446744073709551615ULL, false},
        {"cas k 0 0 1 42 noreply", TEXT_CAS, "k", 0, 0, 1, 42, true},
        /* memcached truncates 32-bit fields instead of rejecting them. */
        {"set k 4294967296 0 4294967297", TEXT_SET, "k", 0, 0, 1, 0, false},
    };

    for (const auto &c : cases) {
        Parsed p;

        Parse(&p, c.line);
        ASSERT_EQ(p.req.cmd, TEXT_STORE) << c.line;
        EXPECT_EQ(p.req.mode, c.mode) << c.line;
        EXPECT_EQ(std::string(p.req.key, p.req.nkey), c.key) << c.line;
        EXPECT_EQ(p.req.flags, c.flags) << c.line;
        EXPECT_EQ(p.req.exptime, c.exptime) << c.line;
        EXPECT_EQ(p.req.vlen, c.vlen) << c.line;
        if (c.mode == TEXT_CAS) {
            EXPECT_EQ(p.req.cas, c.cas) << c.line;
        }
        EXPECT_EQ(p.req.noreply, c.noreply) << c.line;
    }
}

TEST(TextParse, StoreModesMatchCacheModes)
{
    /* text.h promises the same order as cache_store_mode; the executor
     * casts one to the other. */
    const struct {
        const char *line;
        enum cache_store_mode mode;
    } cases[] = {
        {"set k 0 0 1", CACHE_SET},
        {"add k 0 0 1", CACHE_ADD},
        {"replace k 0 0 1", CACHE_REPLACE},
        {"append k 0 0 1", CACHE_APPEND},
        {"prepend k 0 0 1", CACHE_PREPEND},
        {"cas k 0 0 1 1", CACHE_CAS},
    };

    for (const auto &c : cases) {
        Parsed p;

        Parse(&p, c.line);
        ASSERT_EQ(p.req.cmd, TEXT_STORE);
        EXPECT_EQ((int)p.req.mode, (int)c.mode) << c.line;
    }
}

TEST(TextParse, DeltaFields)
{
    Parsed p;

    Parse(&p, "incr counter 18446744073709551615");
    ASSERT_EQ(p.req.cmd, TEXT_DELTA);
    EXPECT_TRUE(p.req.incr);
    EXPECT_EQ(std::string(p.req.key, p.req.nkey), "counter");
    EXPECT_EQ(p.req.delta, 18446744073709551615ULL);

    Parse(&p, "decr c 7 noreply");
    ASSERT_EQ(p.req.cmd, TEXT_DELTA);
    EXPECT_FALSE(p.req.incr);
    EXPECT_EQ(p.req.delta, 7u);
    EXPECT_TRUE(p.req.noreply);
}

TEST(TextParse, DeleteTouchAndVerbosityFields)
{
    Parsed p;

    Parse(&p, "delete some-key 0 noreply");
    ASSERT_EQ(p.req.cmd, TEXT_DELETE);
    EXPECT_EQ(std::string(p.req.key, p.req.nkey), "some-key");

    Parse(&p, "touch tk -30");
    ASSERT_EQ(p.req.cmd, TEXT_TOUCH);
    EXPECT_EQ(std::string(p.req.key, p.req.nkey), "tk");
    EXPECT_EQ(p.req.exptime, -30);

    Parse(&p, "verbosity 2");
    ASSERT_EQ(p.req.cmd, TEXT_VERBOSITY);
    EXPECT_EQ(p.req.level, 2u);
}

TEST(TextParse, FlushAllForms)
{
    struct {
        const char *line;
        int32_t delay;
        bool noreply;
    } const cases[] = {
        {"flush_all", 0, false},
        {"flush_all 0", 0, false},
        {"flush_all 30", 30, false},
        {"flush_all -1", -1, false},
        {"flush_all noreply", 0, true},
        {"flush_all 30 noreply", 30, true},
        {"flush_all 10 20", 10, false},
    };

    for (const auto &c : cases) {
        Parsed p;

        Parse(&p, c.line);
        ASSERT_EQ(p.req.cmd, TEXT_FLUSH_ALL) << c.line;
        EXPECT_EQ(p.req.exptime, c.delay) << c.line;
        EXPECT_EQ(p.req.noreply, c.noreply) << c.line;
    }

    /* With -F every form is refused, after noreply is noted. */
    Parsed p;

    Parse(&p, "flush_all", false);
    EXPECT_EQ(p.req.cmd, TEXT_ERROR_REPLY);
    EXPECT_STREQ(p.req.error, "CLIENT_ERROR flush_all not allowed");
    EXPECT_FALSE(p.req.noreply);
    Parse(&p, "flush_all 10 noreply", false);
    EXPECT_EQ(p.req.cmd, TEXT_ERROR_REPLY);
    EXPECT_STREQ(p.req.error, "CLIENT_ERROR flush_all not allowed");
    EXPECT_TRUE(p.req.noreply);
    Parse(&p, "flush_all abc", false);
    EXPECT_STREQ(p.req.error, "CLIENT_ERROR flush_all not allowed");
    /* Token count still comes first. */
    Parse(&p, "flush_all 0 0 0", false);
    EXPECT_STREQ(p.req.error, "ERROR");
}

TEST(TextParse, StatsGroupAndArgument)
{
    Parsed p;

    Parse(&p, "stats");
    ASSERT_EQ(p.req.cmd, TEXT_STATS);
    EXPECT_EQ(p.req.stats_group, nullptr);
    EXPECT_EQ(p.req.stats_arg, nullptr);

    Parse(&p, "stats slabs");
    ASSERT_EQ(p.req.cmd, TEXT_STATS);
    ASSERT_NE(p.req.stats_group, nullptr);
    EXPECT_STREQ(p.req.stats_group, "slabs");
    EXPECT_EQ(p.req.stats_arg, nullptr);

    Parse(&p, "stats cachedump 1 10");
    ASSERT_EQ(p.req.cmd, TEXT_STATS);
    EXPECT_STREQ(p.req.stats_group, "cachedump");
    ASSERT_NE(p.req.stats_arg, nullptr);
    EXPECT_STREQ(p.req.stats_arg, "1");
}

TEST(TextParse, RequestIsResetBetweenParses)
{
    /* A request struct is reused per connection: nothing may carry over
     * from the previous line (noreply in particular). */
    struct text_options o = {true};
    struct text_request r;
    char a[] = "set k 0 0 1 noreply";
    char b[] = "delete k";
    char c[] = "gats 5 x";
    char d[] = "get y";

    text_parse(a, &o, &r);
    ASSERT_TRUE(r.noreply);
    text_parse(b, &o, &r);
    EXPECT_EQ(r.cmd, TEXT_DELETE);
    EXPECT_FALSE(r.noreply);
    text_parse(c, &o, &r);
    ASSERT_TRUE(r.touch);
    text_parse(d, &o, &r);
    EXPECT_FALSE(r.touch);
    EXPECT_FALSE(r.return_cas);
}

}  // namespace
