/*
 * meta_test: parsing of memcached's meta commands (proto/meta.h).
 *
 * Every expected error line is the one memcached 1.6.18 sends for the same
 * request line (checked against /usr/bin/memcached while writing these; the
 * same lines run through both daemons in t/diff/meta_*.script). The parser
 * is pure, so the tests are tables.
 */
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "proto/meta.h"

namespace {

const char *const kBadFormat = "CLIENT_ERROR bad command line format";
const char *const kBadToken = "CLIENT_ERROR bad token in command line format";
const char *const kInvalid = "CLIENT_ERROR invalid flag";
const char *const kDup = "CLIENT_ERROR duplicate flag";
const char *const kInvDup = "CLIENT_ERROR invalid or duplicate flag";
const char *const kDecode = "CLIENT_ERROR error decoding key";

struct Parsed {
    std::vector<char> buf;
    struct meta_request req;
};

void Parse(Parsed *p, const std::string &line)
{
    p->buf.assign(line.begin(), line.end());
    p->buf.push_back('\0');
    memset(&p->req, 0xa5, sizeof(p->req)); /* no stale field passes */
    meta_parse(p->buf.data(), &p->req);
}

std::string Key(const struct meta_request &r)
{
    return std::string(r.key, r.nkey);
}

std::string Flags(const struct meta_request &r)
{
    std::string s;

    for (size_t i = 0; i < r.nflags; i++) {
        s += (i ? " " : "") + std::string(r.flags[i].value,
                                          r.flags[i].length);
    }
    return s;
}

struct ErrorCase {
    const char *line;
    const char *error;
    bool swallow;
    size_t swallow_len;
};

TEST(MetaParse, ErrorLinesAreMemcachedsExactly)
{
    const std::string k251(251, 'k');
    const std::string mg251 = "mg " + k251 + " v";
    const std::string ms251 = "ms " + k251 + " 3";
    const ErrorCase cases[] = {
        { "mg", "ERROR", false, 0 },
        { "ms", "ERROR", false, 0 },
        { "md", "ERROR", false, 0 },
        { "ma", "ERROR", false, 0 },
        { "mx foo", "ERROR", false, 0 },
        { "mgg foo", "ERROR", false, 0 },
        { "me", kBadFormat, false, 0 },
        { mg251.c_str(), kBadFormat, false, 0 },
        { ms251.c_str(), kBadFormat, false, 0 },
        { "mg foo zz", kInvalid, false, 0 },
        { "mg foo E5", kInvalid, false, 0 },
        { "mg foo S3", kInvalid, false, 0 },
        { "mg foo v v", kDup, false, 0 },
        { "mg foo \x80", kDup, false, 0 },
        { "mg foo Tabc", kBadToken, false, 0 },
        { "mg foo T", kBadToken, false, 0 },
        { "mg foo Nabc", kBadToken, false, 0 },
        { "mg foo R", kBadToken, false, 0 },
        { "mg foo C", kBadToken, false, 0 },
        { "mg foo C-1", kBadToken, false, 0 },
        { "mg foo MEE", "CLIENT_ERROR incorrect length for M token", false, 0 },
        { "mg foo Jx", "CLIENT_ERROR invalid numeric initial value", false, 0 },
        { "mg foo Dx", "CLIENT_ERROR invalid numeric delta value", false, 0 },
        /* F keeps whatever message came before it. */
        { "mg foo Fabc", kBadFormat, false, 0 },
        { "mg foo Tx Fx", kBadToken, false, 0 },
        { "mg foo Fx Tx", kBadToken, false, 0 },
        /* An unknown flag stops at once and wins over earlier errors. */
        { "mg foo Fx zz", kInvalid, false, 0 },
        { "mg foo Tx v v", kDup, false, 0 },
        { "mg Zm9v= b", kDecode, false, 0 },
        { "mg !!!! b", kDecode, false, 0 },
        { "mg Zm9v==== b", kDecode, false, 0 },
        { "mg Zg=== b", kDecode, false, 0 },
        { "mg foo 1 2 3 4 5 6 7 8 9 0 a b c d e f g h i j k l",
          "CLIENT_ERROR options flags are too long", false, 0 },
        { "mg a b c d e f g h i j k l m n o p s t u",
          "CLIENT_ERROR options flags are too long", false, 0 },
        { "mg a b c d e f g h i j k l m n o p s t", kInvalid, false, 0 },
        /* md and ma collapse flag errors. */
        { "md foo zz", kInvDup, false, 0 },
        { "md foo v v", kInvDup, false, 0 },
        { "md foo Tx", kInvDup, false, 0 },
        { "ma foo Dx", kInvDup, false, 0 },
        { "ma cnt b", kInvDup, false, 0 },
        { "ma foo MII", kInvDup, false, 0 },
        { "ma foo Mx", "CLIENT_ERROR invalid mode for ma M token", false, 0 },
        { "md foo a b c d e f g h i j k l m n o p s t u v",
          "CLIENT_ERROR options flags too long", false, 0 },
        /* ms: errors before the length swallow nothing, after it the
         * value and its \r\n. */
        { "ms foo", kBadFormat, false, 0 },
        { "ms foo abc", kBadFormat, false, 0 },
        { "ms foo -1", kBadFormat, false, 0 },
        { "ms foo 2147483646", kBadFormat, false, 0 },
        { "ms foo 3 a b c d e f g h i j k l m n o p s t u v",
          "CLIENT_ERROR options flags too long", false, 0 },
        { "ms foo 3 zz", kInvalid, true, 5 },
        { "ms foo 3 v v", kDup, true, 5 },
        { "ms foo 10 Tx", kBadToken, true, 12 },
        { "ms foo 3 Fx", kBadFormat, true, 5 },
        { "ms foo 3 MX", "CLIENT_ERROR invalid mode for ms M token", true, 5 },
        { "ms foo 3 MEE", "CLIENT_ERROR incorrect length for M token", true,
          5 },
        { "ms foo 3 O12345678901234567890123456789012",
          "CLIENT_ERROR opaque token too long", true, 5 },
        /* An invalid mode is reported before a long opaque. */
        { "ms foo 3 O12345678901234567890123456789012 MX",
          "CLIENT_ERROR invalid mode for ms M token", true, 5 },
        { "ms Zm9v= 0 b", kDecode, true, 2 },
    };

    for (const auto &c : cases) {
        Parsed p;

        Parse(&p, c.line);
        ASSERT_EQ(p.req.cmd, META_ERROR_REPLY) << c.line;
        EXPECT_STREQ(p.req.error, c.error) << c.line;
        EXPECT_EQ(p.req.swallow, c.swallow) << c.line;
        if (c.swallow) {
            EXPECT_EQ(p.req.swallow_len, c.swallow_len) << c.line;
        }
    }
}

TEST(MetaParse, GetFlagsAndTheirValues)
{
    Parsed p;

    Parse(&p, "mg foo v k O123 s t c f h l q u T-5 N30 R7");
    ASSERT_EQ(p.req.cmd, META_GET);
    EXPECT_EQ(Key(p.req), "foo");
    EXPECT_TRUE(p.req.value);
    EXPECT_TRUE(p.req.quiet);
    EXPECT_TRUE(p.req.no_update);
    EXPECT_TRUE(p.req.new_ttl);
    EXPECT_EQ(p.req.ttl, -5);
    EXPECT_TRUE(p.req.vivify);
    EXPECT_EQ(p.req.vivify_ttl, 30);
    EXPECT_EQ(p.req.recache_ttl, 7);
    EXPECT_FALSE(p.req.key_binary);
    EXPECT_FALSE(p.req.has_cas);
    /* Kept in request order: the reply is composed from them. */
    EXPECT_EQ(Flags(p.req), "v k O123 s t c f h l q u T-5 N30 R7");

    Parse(&p, "mg foo");
    ASSERT_EQ(p.req.cmd, META_GET);
    EXPECT_EQ(p.req.nflags, 0u);
    EXPECT_FALSE(p.req.value);
    EXPECT_FALSE(p.req.vivify);

    /* Flags mg ignores but memcached accepts. */
    Parse(&p, "mg foo P L Mx J1 D1 F5 I C9");
    ASSERT_EQ(p.req.cmd, META_GET);
    EXPECT_EQ(p.req.mode, 'x');
    EXPECT_EQ(p.req.initial, 1u);
    EXPECT_EQ(p.req.client_flags, 5u);
    EXPECT_TRUE(p.req.set_stale);
    EXPECT_TRUE(p.req.has_cas);
    EXPECT_EQ(p.req.cas, 9u);

    /* Leading and repeated spaces, as memcached's tokenizer. */
    Parse(&p, "  mg   foo  v ");
    ASSERT_EQ(p.req.cmd, META_GET);
    EXPECT_EQ(Key(p.req), "foo");
    EXPECT_EQ(Flags(p.req), "v");

    /* The opaque length is checked while composing (after T acted). */
    Parse(&p, "mg foo O12345678901234567890123456789012");
    EXPECT_EQ(p.req.cmd, META_GET);
    EXPECT_FALSE(meta_opaque_ok(&p.req));
    Parse(&p, "mg foo O1234567890123456789012345678901");
    EXPECT_TRUE(meta_opaque_ok(&p.req));

    /* Key at the limit; 19 flags at the limit. */
    Parse(&p, "mg " + std::string(250, 'k'));
    EXPECT_EQ(p.req.cmd, META_GET);
    EXPECT_EQ(p.req.nkey, 250u);
}

TEST(MetaParse, SetArithmeticDeleteNoopDebug)
{
    Parsed p;

    Parse(&p, "ms foo 42 T100 F7 C123 MA I q k c O1");
    ASSERT_EQ(p.req.cmd, META_SET);
    EXPECT_EQ(p.req.vlen, 42);
    EXPECT_EQ(p.req.ttl, 100);
    EXPECT_EQ(p.req.client_flags, 7u);
    EXPECT_EQ(p.req.cas, 123u);
    EXPECT_EQ(p.req.mode, 'A');
    EXPECT_TRUE(p.req.set_stale);
    EXPECT_EQ(Flags(p.req), "T100 F7 C123 MA I q k c O1");

    for (const char *m : { "ME", "MA", "MP", "MR", "MS" }) {
        Parse(&p, std::string("ms foo 0 ") + m);
        EXPECT_EQ(p.req.cmd, META_SET) << m;
    }

    Parse(&p, "ma cnt");
    ASSERT_EQ(p.req.cmd, META_ARITHMETIC);
    EXPECT_EQ(p.req.delta, 1u);   /* memcached's default */
    EXPECT_EQ(p.req.mode, 0);
    Parse(&p, "ma cnt N0 J18446744073709551615 D5 M-");
    ASSERT_EQ(p.req.cmd, META_ARITHMETIC);
    EXPECT_EQ(p.req.initial, UINT64_MAX);
    EXPECT_EQ(p.req.delta, 5u);
    EXPECT_EQ(p.req.mode, '-');
    for (const char *m : { "MI", "M+", "MD", "M-" }) {
        Parse(&p, std::string("ma cnt ") + m);
        EXPECT_EQ(p.req.cmd, META_ARITHMETIC) << m;
    }

    Parse(&p, "md foo I T30 C5 q");
    ASSERT_EQ(p.req.cmd, META_DELETE);
    EXPECT_TRUE(p.req.set_stale);
    EXPECT_TRUE(p.req.new_ttl);
    EXPECT_EQ(p.req.ttl, 30);
    EXPECT_TRUE(p.req.has_cas);
    EXPECT_TRUE(p.req.quiet);

    Parse(&p, "mn");
    EXPECT_EQ(p.req.cmd, META_NOOP);
    Parse(&p, "mn anything at all");
    EXPECT_EQ(p.req.cmd, META_NOOP);

    Parse(&p, "me foo");
    ASSERT_EQ(p.req.cmd, META_DEBUG);
    EXPECT_EQ(Key(p.req), "foo");
    Parse(&p, "me Zm9v b");
    ASSERT_EQ(p.req.cmd, META_DEBUG);
    EXPECT_EQ(Key(p.req), "foo");
    EXPECT_TRUE(p.req.key_binary);
    /* me only knows b right after the key; anything else is ignored. */
    Parse(&p, "me Zm9v zz b");
    ASSERT_EQ(p.req.cmd, META_DEBUG);
    EXPECT_EQ(Key(p.req), "Zm9v");
    Parse(&p, "me Zm9v= b");
    EXPECT_EQ(p.req.cmd, META_ERROR_REPLY);
    EXPECT_STREQ(p.req.error, kBadFormat);
}

TEST(MetaParse, IsCommand)
{
    EXPECT_TRUE(meta_is_command("mg foo"));
    EXPECT_TRUE(meta_is_command("mn"));
    EXPECT_TRUE(meta_is_command("  ms foo 1"));
    EXPECT_TRUE(meta_is_command("mx foo"));   /* answered ERROR */
    EXPECT_FALSE(meta_is_command("m"));
    EXPECT_FALSE(meta_is_command("mgg foo"));
    EXPECT_FALSE(meta_is_command("get foo"));
    EXPECT_FALSE(meta_is_command(""));
    EXPECT_FALSE(meta_is_command("m foo"));
}

struct B64Case {
    const char *in;
    const char *out;              /* nullptr: decoding fails */
    size_t nout;
};

TEST(MetaParse, Base64DecodesLikeMemcached)
{
    const B64Case cases[] = {
        { "Zm9v", "foo", 3 },
        { "Zg==", "f", 1 },
        { "Zm8=", "fo", 2 },
        { "Zm9vYg==", "foob", 4 },
        { "AAEC", "\x00\x01\x02", 3 },
        /* Bytes outside the alphabet are skipped. */
        { "Zm9v!", "foo", 3 },
        { "Z!m9v", "foo", 3 },
        /* '=' anywhere counts as a zero and as padding; decoding stops
         * after the first padded block. */
        { "Zg=a", "f\x00", 2 },
        { "=Zg=", "\x01", 1 },
        { "Zg==Zm9v", "f", 1 },
        { "Zm9v=", nullptr, 0 },
        { "Zm9", nullptr, 0 },
        { "!!!!", nullptr, 0 },
        { "Zg===", nullptr, 0 },
        { "Zm9v====", nullptr, 0 },
        { "====", nullptr, 0 },
    };

    for (const auto &c : cases) {
        std::string in(c.in);
        std::vector<unsigned char> out(in.size() + 1);
        size_t n = meta_base64_decode(in.data(), in.size(), out.data());

        if (c.out == nullptr) {
            EXPECT_EQ(n, 0u) << c.in;
        } else {
            ASSERT_EQ(n, c.nout) << c.in;
            EXPECT_EQ(memcmp(out.data(), c.out, n), 0) << c.in;
        }
    }
    /* In place, as the parser uses it. */
    char buf[] = "Zm9vYmFy";
    EXPECT_EQ(meta_base64_decode(buf, 8, (unsigned char *)buf), 6u);
    EXPECT_EQ(std::string(buf, 6), "foobar");
}

TEST(MetaParse, Base64EncodeRoundTrips)
{
    char out[META_B64_KEY_MAX];

    EXPECT_EQ(meta_base64_encode("f", 1, out), 4u);
    EXPECT_STREQ(out, "Zg==");
    EXPECT_EQ(meta_base64_encode("\x00\x01\x02", 3, out), 4u);
    EXPECT_STREQ(out, "AAEC");
    EXPECT_EQ(meta_base64_encode("", 0, out), 0u);

    /* The longest decoded key re-encodes within META_B64_KEY_MAX. */
    std::string key(186, '\xff');
    size_t n = meta_base64_encode(key.data(), key.size(), out);
    EXPECT_LT(n, sizeof(out));
    std::vector<unsigned char> back(n);
    EXPECT_EQ(meta_base64_decode(out, n, back.data()), key.size());
    EXPECT_EQ(memcmp(back.data(), key.data(), key.size()), 0);
}

TEST(MetaParse, BinaryKeyDecodedInPlace)
{
    Parsed p;

    Parse(&p, "mg AAEC b k v");
    ASSERT_EQ(p.req.cmd, META_GET);
    EXPECT_TRUE(p.req.key_binary);
    EXPECT_EQ(Key(p.req), std::string("\x00\x01\x02", 3));
    /* The key length limit applies to the encoded key. */
    Parse(&p, "mg " + std::string(248, 'A') + " b");
    ASSERT_EQ(p.req.cmd, META_GET);
    EXPECT_EQ(p.req.nkey, 186u);
    Parse(&p, "mg " + std::string(252, 'A') + " b");
    EXPECT_EQ(p.req.cmd, META_ERROR_REPLY);
}

}  // namespace
