/*
 * numparse_test: memcached's number acceptance rules (util/numparse.h).
 *
 * Clients see these rules as protocol behaviour: a flags, exptime, length,
 * delta or cas field that memcached accepts must be accepted here, with the
 * same value, and one it rejects must be rejected. The expectations mirror
 * memcached 1.6.18's safe_strtoul/safe_strtol/safe_strtoull, and were checked
 * against a running memcached where they are visible on the wire (for
 * example "set k 4294967296 0 1" is STORED with flags 0).
 */
#include <gtest/gtest.h>

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "util/numparse.h"

namespace {

/* Renders a value the way a failure message should show it. */
std::string Show(const char *s)
{
    return std::string("\"") + s + "\"";
}

/*
 * Inputs that every parser accepts with the same value. Note that memcached
 * lets strtoul skip leading whitespace and a '+' sign, and accepts any
 * whitespace after the digits (the "\r" of a stored value, a tab).
 */
struct Accepted {
    const char *text;
    uint64_t value;
};

const Accepted kAcceptedEverywhere[] = {
    {"0", 0},
    {"12", 12},
    {"12 ", 12},
    {"12\r", 12},
    {"12\t", 12},
    {"12 34", 12},             /* stops at the space, like memcached */
    {" 12", 12},
    {"+7", 7},
    {"0000000000000000000000012", 12},
    {"2147483647", 2147483647},
};

/* Inputs that every parser rejects. */
const char *const kRejectedEverywhere[] = {
    "", " ", "abc", "12abc", "12.5", "1e3", "0x10", "--1", "- 1", "+",
    "12-", "99999999999999999999999",  /* ERANGE even for u64 */
};

TEST(NumParse, AcceptsWhatMemcachedAccepts)
{
    for (const Accepted &a : kAcceptedEverywhere) {
        uint32_t u32 = 99;
        int32_t i32 = 99;
        uint64_t u64 = 99;
        int64_t i64 = 99;

        EXPECT_TRUE(num_parse_u32(a.text, &u32)) << Show(a.text);
        EXPECT_EQ(u32, a.value) << Show(a.text);
        EXPECT_TRUE(num_parse_i32(a.text, &i32)) << Show(a.text);
        EXPECT_EQ((uint64_t)i32, a.value) << Show(a.text);
        EXPECT_TRUE(num_parse_u64(a.text, &u64)) << Show(a.text);
        EXPECT_EQ(u64, a.value) << Show(a.text);
        EXPECT_TRUE(num_parse_i64(a.text, &i64)) << Show(a.text);
        EXPECT_EQ((uint64_t)i64, a.value) << Show(a.text);
    }
}

TEST(NumParse, RejectsGarbageAndZeroesTheOutput)
{
    for (const char *s : kRejectedEverywhere) {
        uint32_t u32 = 99;
        int32_t i32 = 99;
        uint64_t u64 = 99;
        int64_t i64 = 99;

        EXPECT_FALSE(num_parse_u32(s, &u32)) << Show(s);
        EXPECT_FALSE(num_parse_i32(s, &i32)) << Show(s);
        EXPECT_FALSE(num_parse_u64(s, &u64)) << Show(s);
        EXPECT_FALSE(num_parse_i64(s, &i64)) << Show(s);
        /* memcached's safe_strto* zero *out first; callers rely on it
         * (a rejected value never leaks a stale number). */
        EXPECT_EQ(u32, 0u) << Show(s);
        EXPECT_EQ(i32, 0) << Show(s);
        EXPECT_EQ(u64, 0u) << Show(s);
        EXPECT_EQ(i64, 0) << Show(s);
    }
}

TEST(NumParse, UnsignedRejectsNegativeNumbers)
{
    /* "-1" wraps to the maximum, reads negative as signed, and has a '-':
     * memcached rejects it ("incr k -1" is an invalid delta). */
    const char *const negatives[] = {"-1", "-2", " -1", "-1 ",
                                     "-9223372036854775808"};

    for (const char *s : negatives) {
        uint32_t u32 = 99;
        uint64_t u64 = 99;

        EXPECT_FALSE(num_parse_u32(s, &u32)) << Show(s);
        EXPECT_FALSE(num_parse_u64(s, &u64)) << Show(s);
    }
}

TEST(NumParse, SignedAcceptsNegativeNumbers)
{
    int32_t i32 = 0;
    int64_t i64 = 0;

    /* A negative exptime means "already expired"; it must parse. */
    EXPECT_TRUE(num_parse_i32("-1", &i32));
    EXPECT_EQ(i32, -1);
    EXPECT_TRUE(num_parse_i64("-9223372036854775808", &i64));
    EXPECT_EQ(i64, INT64_MIN);
    EXPECT_FALSE(num_parse_i64("-9223372036854775809", &i64)); /* ERANGE */
    EXPECT_FALSE(num_parse_i64("9223372036854775808", &i64));
}

TEST(NumParse, U64FullRangeAndOverflow)
{
    uint64_t v = 0;

    EXPECT_TRUE(num_parse_u64("18446744073709551615", &v));
    EXPECT_EQ(v, UINT64_MAX);
    EXPECT_TRUE(num_parse_u64("18446744073709551615 ", &v));
    EXPECT_EQ(v, UINT64_MAX);
    /* One past the maximum is ERANGE: rejected, not wrapped. */
    EXPECT_FALSE(num_parse_u64("18446744073709551616", &v));
    EXPECT_EQ(v, 0u);
    /* Values above INT64_MAX are fine as long as there is no '-'. */
    EXPECT_TRUE(num_parse_u64("9223372036854775808", &v));
    EXPECT_EQ(v, (uint64_t)INT64_MAX + 1);
}

/*
 * What we do with out-of-range 32-bit fields, as memcached does: the number
 * is parsed as a 64-bit long and then truncated to 32 bits. It is NOT
 * rejected. On the wire, "set k 4294967296 0 1" stores flags 0, and
 * "set k 0 0 4294967297" announces a 1-byte value (both checked against
 * memcached 1.6.18). Only a number that overflows 64 bits is rejected.
 */
TEST(NumParse, ThirtyTwoBitFieldsTruncateLikeMemcached)
{
    uint32_t u32 = 0;
    int32_t i32 = 0;

    EXPECT_TRUE(num_parse_u32("4294967295", &u32));
    EXPECT_EQ(u32, UINT32_MAX);
    EXPECT_TRUE(num_parse_u32("4294967296", &u32));
    EXPECT_EQ(u32, 0u);
    EXPECT_TRUE(num_parse_u32("4294967297", &u32));
    EXPECT_EQ(u32, 1u);
    EXPECT_TRUE(num_parse_u32("18446744073709551615", &u32));
    EXPECT_EQ(u32, UINT32_MAX);
    EXPECT_FALSE(num_parse_u32("18446744073709551616", &u32));

    EXPECT_TRUE(num_parse_i32("2147483647", &i32));
    EXPECT_EQ(i32, INT32_MAX);
    EXPECT_TRUE(num_parse_i32("2147483648", &i32));
    EXPECT_EQ(i32, INT32_MIN);
    EXPECT_TRUE(num_parse_i32("4294967297", &i32));
    EXPECT_EQ(i32, 1);
    EXPECT_TRUE(num_parse_i32("-2147483649", &i32));
    EXPECT_EQ(i32, INT32_MAX);
    EXPECT_FALSE(num_parse_i32("9223372036854775808", &i32));
    EXPECT_EQ(i32, 0);
}

TEST(NumParse, SizeSuffixesAreBinaryUnits)
{
    struct {
        const char *text;
        uint64_t value;
    } const ok[] = {
        {"0", 0},
        {"1048576", 1048576},
        {"1k", 1024},
        {"1K", 1024},
        {"64k", 64 * 1024},
        {"1m", 1024 * 1024},
        {"2M", 2 * 1024 * 1024},
        {"1g", 1024ULL * 1024 * 1024},
        {"3G", 3ULL * 1024 * 1024 * 1024},
        {"16777215g", 16777215ULL << 30},
    };
    const char *const bad[] = {
        "", "k", "1x", "1kb", "1 k", "1.5m", "-1", "-1k", "abc",
        "17179869184g",           /* 2^34 GiB = 2^64 bytes: overflows */
        "99999999999999999999999", /* ERANGE */
    };

    for (const auto &c : ok) {
        uint64_t v = 12345;

        EXPECT_TRUE(num_parse_size(c.text, &v)) << Show(c.text);
        EXPECT_EQ(v, c.value) << Show(c.text);
    }
    for (const char *s : bad) {
        uint64_t v = 12345;

        EXPECT_FALSE(num_parse_size(s, &v)) << Show(s);
    }
}

TEST(NumParse, FormatU64)
{
    char buf[32];
    int n;

    memset(buf, 'x', sizeof(buf));
    n = num_format_u64(0, buf);
    EXPECT_EQ(n, 1);
    EXPECT_STREQ(buf, "0");

    memset(buf, 'x', sizeof(buf));
    n = num_format_u64(UINT64_MAX, buf);
    EXPECT_EQ(n, 20);
    EXPECT_STREQ(buf, "18446744073709551615");
    /* The documented buffer size (21) is enough: nothing past it. */
    EXPECT_EQ(buf[21], 'x');

    /* Round trip through the parser over a spread of magnitudes, compared
     * with the C library's rendering. */
    for (uint64_t v = 1; v != 0; v = v * 3 + 1) {
        char want[32];
        uint64_t back = 0;

        snprintf(want, sizeof(want), "%" PRIu64, v);
        n = num_format_u64(v, buf);
        EXPECT_STREQ(buf, want);
        EXPECT_EQ((size_t)n, strlen(want));
        EXPECT_TRUE(num_parse_u64(buf, &back));
        EXPECT_EQ(back, v);
        if (v > UINT64_MAX / 4) {
            break;
        }
    }
}

}  // namespace
