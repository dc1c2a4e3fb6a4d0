/*
 * peer_reply_test: framing of a peer's replies (cluster/peer_reply.h):
 * what memcached sends for each kind frames whole and relays the right
 * bytes, a reply cut anywhere asks for more, and garbage is refused
 * rather than misread.
 */
#include <gtest/gtest.h>

#include <string>

#include "cluster/peer_reply.h"

namespace {

peer_reply_status Frame(peer_reply_kind k, const std::string &s, peer_reply *r)
{
    return peer_reply_frame(k, s.data(), s.size(), r);
}

/* Every strict prefix is incomplete; the whole frames as expected. */
void ExpectWhole(peer_reply_kind k, const std::string &reply, size_t relay,
                 const std::string &after = "")
{
    peer_reply r;
    for (size_t i = 0; i < reply.size(); i++) {
        ASSERT_EQ(Frame(k, reply.substr(0, i), &r), PEER_REPLY_MORE)
            << "prefix " << i << " of " << reply;
    }
    ASSERT_EQ(Frame(k, reply + after, &r), PEER_REPLY_DONE) << reply;
    EXPECT_EQ(r.len, reply.size());
    EXPECT_EQ(r.relay_len, relay);
}

TEST(PeerReply, LinesFrameWhole)
{
    for (const char *l : { "STORED\r\n", "NOT_STORED\r\n", "EXISTS\r\n",
                           "NOT_FOUND\r\n", "DELETED\r\n", "TOUCHED\r\n",
                           "18446744073709551615\r\n", "OK\r\n" }) {
        ExpectWhole(PEER_REPLY_LINE, l, strlen(l), "STORED\r\n");
    }
}

TEST(PeerReply, HitsRelayTheValueBlockAndMissesNothing)
{
    std::string hit = "VALUE k 5 3\r\nabc\r\n";
    ExpectWhole(PEER_REPLY_GET, hit + "END\r\n", hit.size(), "VALUE");
    std::string cas = "VALUE key:1 0 0 1234567\r\n\r\n";
    ExpectWhole(PEER_REPLY_GET, cas + "END\r\n", cas.size());
    /* A value holding CRLF and "END" is data, not framing. */
    std::string tricky = "VALUE k 0 7\r\nEND\r\n\r\n\r\n";
    ExpectWhole(PEER_REPLY_GET, tricky + "END\r\n", tricky.size());
    ExpectWhole(PEER_REPLY_GET, "END\r\n", 0, "END\r\n");
}

TEST(PeerReply, ErrorsAreOneLineAndFlagged)
{
    peer_reply r;
    for (const char *l : { "SERVER_ERROR out of memory storing object\r\n",
                           "CLIENT_ERROR bad data chunk\r\n", "ERROR\r\n" }) {
        for (peer_reply_kind k : { PEER_REPLY_LINE, PEER_REPLY_GET }) {
            ASSERT_EQ(Frame(k, l, &r), PEER_REPLY_DONE) << l;
            EXPECT_TRUE(r.error);
            EXPECT_EQ(r.len, strlen(l));
            EXPECT_EQ(r.relay_len, strlen(l));
        }
    }
    ASSERT_EQ(Frame(PEER_REPLY_LINE, "STORED\r\n", &r), PEER_REPLY_DONE);
    EXPECT_FALSE(r.error);
}

TEST(PeerReply, GarbageIsRefused)
{
    peer_reply r;
    const char *get_garbage[] = {
        "STORED\r\n",                       /* a line where a get was due */
        "VALUE k 0 3\r\nabcX\nEND\r\n",     /* data not followed by CRLF */
        "VALUE k 0 3\r\nabc\r\nEND\n",      /* END without CR */
        "VALUE k 0 3\r\nabc\r\nVALUE",      /* no END after the value */
        "VALUE k 0\r\n",                    /* no length */
        "VALUE k x 3\r\n",                  /* bad flags */
        "VALUE k 0 3 \r\n",                 /* empty cas */
        "VALUE k 0 3 12a\r\n",              /* bad cas */
        "VALUE  0 3\r\n",                   /* no key */
        "VALUE k 0 99999999999\r\n",        /* too long a value */
        "\r\n",                             /* empty line */
        "END\n",                            /* bare LF */
    };
    for (const char *g : get_garbage) {
        EXPECT_EQ(Frame(PEER_REPLY_GET, g, &r), PEER_REPLY_GARBAGE) << g;
    }
    EXPECT_EQ(Frame(PEER_REPLY_LINE, "VALUE k 0 1\r\nx\r\nEND\r\n", &r),
              PEER_REPLY_GARBAGE);
    EXPECT_EQ(Frame(PEER_REPLY_LINE, "END\r\n", &r), PEER_REPLY_GARBAGE);
    /* A line that never ends is refused once it is over the limit. */
    std::string endless(PEER_REPLY_LINE_MAX + 2, 'x');
    EXPECT_EQ(Frame(PEER_REPLY_LINE, endless, &r), PEER_REPLY_GARBAGE);
    EXPECT_EQ(Frame(PEER_REPLY_LINE, endless.substr(0, 100), &r),
              PEER_REPLY_MORE);
}

}  // namespace
