/*
 * numparse: memcached-compatible number parsing (see numparse.h).
 *
 * Note that strtoul accepts leading whitespace and a sign; memcached relies
 * on that, so do we. The only extra rule is the negative check for values
 * that wrap past the signed range.
 */
#include "util/numparse.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool ends_number(const char *s, const char *end)
{
    return isspace((unsigned char)*end) || (*end == '\0' && end != s);
}

bool num_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    *out = 0;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno == ERANGE || end == s || !ends_number(s, end)) {
        return false;
    }
    /* A huge value that reads negative as signed may be "-1" wrapped. */
    if ((long long)v < 0 && strchr(s, '-') != NULL) {
        return false;
    }
    *out = v;
    return true;
}

bool num_parse_u32(const char *s, uint32_t *out)
{
    char *end;
    unsigned long v;

    *out = 0;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno == ERANGE || end == s || !ends_number(s, end)) {
        return false;
    }
    if ((long)v < 0 && strchr(s, '-') != NULL) {
        return false;
    }
    /* Note that memcached truncates to 32 bits here rather than failing. */
    *out = (uint32_t)v;
    return true;
}

bool num_parse_i64(const char *s, int64_t *out)
{
    char *end;
    long long v;

    *out = 0;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno == ERANGE || end == s || !ends_number(s, end)) {
        return false;
    }
    *out = v;
    return true;
}

bool num_parse_i32(const char *s, int32_t *out)
{
    int64_t v;

    *out = 0;
    if (!num_parse_i64(s, &v)) {
        return false;
    }
    *out = (int32_t)v; /* truncating, as memcached's safe_strtol does */
    return true;
}

bool num_parse_size(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    uint64_t mul = 1;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno == ERANGE || end == s || strchr(s, '-') != NULL) {
        return false;
    }
    switch (*end) {
    case 'k': case 'K': mul = 1024ULL; end++; break;
    case 'm': case 'M': mul = 1024ULL * 1024; end++; break;
    case 'g': case 'G': mul = 1024ULL * 1024 * 1024; end++; break;
    default: break;
    }
    if (*end != '\0' || v > UINT64_MAX / mul) {
        return false;
    }
    *out = v * mul;
    return true;
}

int num_format_u64(uint64_t v, char *buf)
{
    char tmp[24];
    int n = 0, i;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (i = 0; i < n; i++) {
        buf[i] = tmp[n - 1 - i];
    }
    buf[n] = '\0';
    return n;
}
