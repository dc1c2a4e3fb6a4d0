// proto/binary: header coding and memcached 1.6's per-opcode length rules,
// table-driven.
#include <gtest/gtest.h>

#include <string>
#include <vector>

extern "C" {
#include "proto/binary.h"
}

namespace {

struct bin_header Header(uint8_t op, uint16_t key, uint8_t ext, uint32_t body)
{
    struct bin_header h = {};

    h.magic = BIN_REQ_MAGIC;
    h.opcode = op;
    h.keylen = key;
    h.extlen = ext;
    h.bodylen = body;
    return h;
}

TEST(BinaryHeader, DecodesNetworkOrderAndKeepsOpaqueBytes)
{
    const uint8_t raw[BIN_HEADER_SIZE] = {
        0x80, 0x01, 0x01, 0x02, 0x08, 0x00, 0x00, 0x07,
        0x00, 0x01, 0x00, 0x10, 0xde, 0xad, 0xbe, 0xef,
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
    };
    struct bin_header h;
    uint8_t out[BIN_HEADER_SIZE];

    bin_decode_header(raw, &h);
    EXPECT_EQ(0x80, h.magic);
    EXPECT_EQ(BIN_SET, h.opcode);
    EXPECT_EQ(0x0102, h.keylen);
    EXPECT_EQ(8, h.extlen);
    EXPECT_EQ(7, h.vbucket);
    EXPECT_EQ(0x00010010u, h.bodylen);
    EXPECT_EQ(0x0102030405060708ull, h.cas);
    bin_encode_header(out, &h, BIN_KEY_EEXISTS, 4, 3, 0x01020304, 0x1122334455667788ull);
    const uint8_t want[BIN_HEADER_SIZE] = {
        0x81, 0x01, 0x00, 0x03, 0x04, 0x00, 0x00, 0x02,
        0x01, 0x02, 0x03, 0x04, 0xde, 0xad, 0xbe, 0xef,
        0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
    };
    EXPECT_EQ(0, memcmp(want, out, sizeof(out)));
}

TEST(BinaryHeader, QuietOpcodesMapToTheirLoudForms)
{
    const std::vector<std::pair<uint8_t, uint8_t>> pairs = {
        {BIN_GETQ, BIN_GET},         {BIN_GETKQ, BIN_GETK},
        {BIN_SETQ, BIN_SET},         {BIN_ADDQ, BIN_ADD},
        {BIN_REPLACEQ, BIN_REPLACE}, {BIN_DELETEQ, BIN_DELETE},
        {BIN_INCREMENTQ, BIN_INCREMENT}, {BIN_DECREMENTQ, BIN_DECREMENT},
        {BIN_QUITQ, BIN_QUIT},       {BIN_FLUSHQ, BIN_FLUSH},
        {BIN_APPENDQ, BIN_APPEND},   {BIN_PREPENDQ, BIN_PREPEND},
        {BIN_GATQ, BIN_GAT},         {BIN_GATKQ, BIN_GATK},
    };
    for (const auto &p : pairs) {
        EXPECT_TRUE(bin_is_quiet(p.first)) << (int)p.first;
        EXPECT_EQ(p.second, bin_loud_opcode(p.first));
        EXPECT_FALSE(bin_is_quiet(p.second));
    }
    EXPECT_FALSE(bin_is_quiet(BIN_NOOP));
    EXPECT_FALSE(bin_is_quiet(BIN_TOUCH));
}

struct CheckCase {
    uint8_t op;
    uint16_t key;
    uint8_t ext;
    uint32_t body;
    enum bin_verdict want;
};

TEST(BinaryCheck, MemcachedsLengthRules)
{
    const std::vector<CheckCase> cases = {
        {BIN_GET, 3, 0, 3, BIN_RUN},
        {BIN_GETKQ, 3, 0, 3, BIN_RUN},
        {BIN_GET, 0, 0, 0, BIN_PROTOCOL_ERROR},    /* no key */
        {BIN_GET, 3, 4, 7, BIN_PROTOCOL_ERROR},    /* extras */
        {BIN_GET, 3, 0, 5, BIN_PROTOCOL_ERROR},    /* a value */
        {BIN_GET, 251, 0, 251, BIN_PROTOCOL_ERROR}, /* key too long */
        {BIN_GET, 250, 0, 250, BIN_RUN},
        {BIN_SET, 1, 8, 9, BIN_RUN},               /* empty value */
        {BIN_SETQ, 1, 8, 100, BIN_RUN},
        {BIN_SET, 1, 4, 9, BIN_PROTOCOL_ERROR},
        {BIN_SET, 0, 8, 8, BIN_PROTOCOL_ERROR},
        {BIN_APPEND, 1, 0, 1, BIN_RUN},            /* no value is fine */
        {BIN_APPEND, 1, 4, 9, BIN_PROTOCOL_ERROR},
        {BIN_DELETE, 2, 0, 2, BIN_RUN},
        {BIN_DELETE, 2, 0, 3, BIN_PROTOCOL_ERROR},
        {BIN_INCREMENT, 1, 20, 21, BIN_RUN},
        {BIN_DECREMENTQ, 1, 20, 22, BIN_PROTOCOL_ERROR},
        {BIN_INCREMENT, 1, 8, 9, BIN_PROTOCOL_ERROR},
        {BIN_TOUCH, 1, 4, 5, BIN_RUN},
        {BIN_GATKQ, 1, 4, 100, BIN_RUN},           /* body not checked */
        {BIN_TOUCH, 1, 0, 1, BIN_PROTOCOL_ERROR},
        {BIN_FLUSH, 0, 0, 0, BIN_RUN},
        {BIN_FLUSHQ, 0, 4, 4, BIN_RUN},
        {BIN_FLUSH, 0, 8, 8, BIN_PROTOCOL_ERROR},
        {BIN_FLUSH, 1, 0, 1, BIN_PROTOCOL_ERROR},
        {BIN_NOOP, 0, 0, 0, BIN_RUN},
        {BIN_NOOP, 0, 0, 1, BIN_PROTOCOL_ERROR},
        {BIN_VERSION, 1, 0, 1, BIN_PROTOCOL_ERROR},
        {BIN_QUITQ, 0, 0, 0, BIN_RUN},
        {BIN_STAT, 5, 0, 5, BIN_RUN},
        {BIN_STAT, 0, 4, 4, BIN_PROTOCOL_ERROR},
        {BIN_SASL_AUTH, 5, 0, 20, BIN_RUN},
        {BIN_SASL_STEP, 0, 0, 20, BIN_PROTOCOL_ERROR},
        {BIN_SASL_LIST_MECHS, 0, 0, 0, BIN_RUN},
        {BIN_VERBOSITY, 0, 4, 4, BIN_UNKNOWN},     /* 1.6.18 has no handler */
        {0x45, 3, 0, 6, BIN_UNKNOWN},
        {0xff, 0, 0, 0, BIN_UNKNOWN},
    };
    for (const auto &c : cases) {
        struct bin_header h = Header(c.op, c.key, c.ext, c.body);

        EXPECT_EQ(c.want, bin_check(&h, 250))
            << "op " << (int)c.op << " key " << c.key << " ext " << (int)c.ext
            << " body " << c.body;
    }
}

TEST(BinaryCheck, KeyAndExtrasMustFitTheBody)
{
    struct bin_header ok = Header(BIN_SET, 3, 8, 11);
    struct bin_header key_over = Header(BIN_GET, 4, 0, 3);
    struct bin_header sum_over = Header(BIN_SET, 3, 8, 10);
    struct bin_header wrap = Header(BIN_SET, 0xffff, 0xff, 0xffff);

    EXPECT_TRUE(bin_lengths_fit(&ok));
    EXPECT_FALSE(bin_lengths_fit(&key_over));
    EXPECT_FALSE(bin_lengths_fit(&sum_over));
    EXPECT_FALSE(bin_lengths_fit(&wrap));
}

}  // namespace
