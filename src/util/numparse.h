/*
 * numparse: decimal number parsing with memcached's exact acceptance rules.
 *
 * Clients depend on which numbers memcached accepts ("12abc" is rejected,
 * "12 " is accepted, "-1" is rejected as an unsigned value only when it wraps
 * to a negative signed value), so these mirror its safe_strto* semantics,
 * including truncation of out-of-range 64-bit values to 32 bits.
 * Pure functions; thread safe.
 */
#ifndef RC_UTIL_NUMPARSE_H
#define RC_UTIL_NUMPARSE_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Each parses a NUL-terminated decimal string; true on success. The number
 * may be followed by whitespace; anything else makes it invalid. */
bool num_parse_u32(const char *s, uint32_t *out);
bool num_parse_i32(const char *s, int32_t *out);
bool num_parse_u64(const char *s, uint64_t *out);
bool num_parse_i64(const char *s, int64_t *out);

/* Parses a size with an optional k/m/g suffix (binary units), as -I and
 * slab_chunk_max take them. */
bool num_parse_size(const char *s, uint64_t *out);

/* Writes v in decimal to buf (>= 21 bytes); returns the length. */
int num_format_u64(uint64_t v, char *buf);

#ifdef __cplusplus
}
#endif
#endif
