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
    for (const char *g : { "HELLO THERE\r\n", "12a\r\n", "STORED \r\n",
                           "123456789012345678901\r\n", "VA 1\r\nx\r\n" }) {
        EXPECT_EQ(Frame(PEER_REPLY_LINE, g, &r), PEER_REPLY_GARBAGE) << g;
    }
    /* A line that never ends is refused once it is over the limit. */
    std::string endless(PEER_REPLY_LINE_MAX + 2, 'x');
    EXPECT_EQ(Frame(PEER_REPLY_LINE, endless, &r), PEER_REPLY_GARBAGE);
    EXPECT_EQ(Frame(PEER_REPLY_LINE, endless.substr(0, 100), &r),
              PEER_REPLY_MORE);
}

TEST(PeerReply, MetaRepliesEndInMnAndRelayWhatComesBefore)
{
    ExpectWhole(PEER_REPLY_META, "HD O1 k\r\nMN\r\n", 9, "HD\r\n");
    ExpectWhole(PEER_REPLY_META, "MN\r\n", 0, "HD\r\n");  /* q hid it */
    ExpectWhole(PEER_REPLY_META, "EN\r\nMN\r\n", 4);
    std::string va = "VA 6 f1 c9\r\nMN\r\nxx\r\n";  /* MN inside data */
    ExpectWhole(PEER_REPLY_META, va + "MN\r\n", va.size());
    ExpectWhole(PEER_REPLY_META, "VA 0\r\n\r\nMN\r\n", 8);
    for (std::string line : { "CLIENT_ERROR bad data chunk\r\n",
                              "ME k exp=-1 la=1 cas=2 fetch=no cls=1 size=63\r\n",
                              "NF O123456789 kkey\r\n", "EX\r\n", "NS\r\n" }) {
        ExpectWhole(PEER_REPLY_META, line + "MN\r\n", line.size());
    }
    peer_reply r;
    for (const char *g : { "HD\r\nHD\r\nMN\r\n",  /* two replies */
                           "STORED\r\nMN\r\n", "VA x\r\n", "VA 2\r\nabc\r\n",
                           "HD\r\nMX", "HDX\r\nMN\r\n", "VALUE k 0 1\r\n" }) {
        EXPECT_EQ(Frame(PEER_REPLY_META, g, &r), PEER_REPLY_GARBAGE) << g;
    }
}

std::string BinaryResponse(uint8_t op, uint16_t status, const std::string& body,
                           uint8_t extlen = 0, uint16_t keylen = 0)
{
    std::string h(24, '\0');
    h[0] = (char)0x81;
    h[1] = (char)op;
    h[2] = (char)(keylen >> 8);
    h[3] = (char)keylen;
    h[4] = (char)extlen;
    h[6] = (char)(status >> 8);
    h[7] = (char)status;
    h[11] = (char)body.size();
    return h + body;
}

TEST(PeerReply, BinaryPacketsFrameByTheirBodyLength)
{
    std::string hit = BinaryResponse(0x00, 0, std::string("\0\0\0\5", 4) + "value", 4);
    ExpectWhole(PEER_REPLY_BINARY, hit, hit.size());
    peer_reply r;
    std::string bad = hit;
    bad[0] = 'H';
    EXPECT_EQ(Frame(PEER_REPLY_BINARY, bad, &r), PEER_REPLY_GARBAGE);
    EXPECT_EQ(Frame(PEER_REPLY_BINARY, "H", &r), PEER_REPLY_GARBAGE);
    /* Key and extras longer than the body. */
    EXPECT_EQ(Frame(PEER_REPLY_BINARY, BinaryResponse(0x0c, 0, "abc", 2, 2), &r),
              PEER_REPLY_GARBAGE);
}

TEST(PeerReply, BinaryRelayAppliesTheClientsQuietOpcode)
{
    struct Case {
        uint8_t client, sent;
        uint16_t status;
        bool relayed;
    } cases[] = {
        { 0x09, 0x00, 0x01, false },  /* GETQ miss: hidden */
        { 0x09, 0x00, 0x00, true },   /* GETQ hit */
        { 0x0d, 0x0c, 0x01, false },  /* GETKQ miss */
        { 0x11, 0x01, 0x00, false },  /* SETQ success: hidden */
        { 0x11, 0x01, 0x02, true },   /* SETQ exists: errors are sent */
        { 0x14, 0x04, 0x01, true },   /* DELETEQ not found */
        { 0x1e, 0x1d, 0x01, false },  /* GATQ miss */
        { 0x01, 0x01, 0x00, true },   /* SET */
        { 0x00, 0x00, 0x01, true },   /* GET miss */
    };
    for (const Case& k : cases) {
        std::string p = BinaryResponse(k.sent, k.status, "x");
        size_t relay = 99;
        ASSERT_TRUE(peer_reply_binary_relay(&p[0], p.size(), k.client, &relay));
        EXPECT_EQ(relay, k.relayed ? p.size() : 0u) << (int)k.client;
        EXPECT_EQ((uint8_t)p[1], k.client);
    }
    /* A response to another opcode than the one sent. */
    std::string p = BinaryResponse(0x01, 0, "");
    size_t relay;
    EXPECT_FALSE(peer_reply_binary_relay(&p[0], p.size(), 0x09, &relay));
}

}  // namespace
