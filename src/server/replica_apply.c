/*
 * replica_apply: rc_set and rc_del from a peer (see replica_apply.h).
 *
 * A copy is checked against the key's tombstone before it is stored and
 * again after: a delete that lands in between (its tombstone first, then
 * its removal of older items) either sees the stored copy and removes it
 * or is seen by the second check, so the older copy never survives it.
 *
 * A copy with a base (a read-modify-write's result, see replica.h) that
 * finds a newer state than its base here, item or tombstone, is refused
 * with "CONFLICT <version here>": the sender takes this state instead.
 * So is one built on a result refused here (cache_note_refused).
 */
#include "server/replica_apply.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cache/cache.h"
#include "cache/tombstone.h"
#include "cluster/replica.h"
#include "proto/text.h"
#include "util/numparse.h"

#define REPLICA_COPY 1
#define REPLICA_COPY_STALE 2

static void reply(struct conn *c, const char *s)
{
    conn_out_line(c, s);
}

static void on_set(struct conn *c, struct text_token *t, size_t n)
{
    uint32_t flags, bytes;
    uint64_t ttl, version;
    rel_time_t exptime;
    struct item *it;
    enum cache_status st;
    struct conn_pending *p;

    uint64_t base = 0;
    bool stale = false;
    size_t i;

    for (i = 6; i < n; i++) {     /* [S] [b<base>], in that order */
        if (!stale && base == 0 && strcmp(t[i].value, "S") == 0) {
            stale = true;
        } else if (base == 0 && t[i].value[0] == 'b' &&
                   num_parse_u64(t[i].value + 1, &base) && base != 0) {
            continue;
        } else {
            break;
        }
    }
    if (n < 6 || i != n || t[1].length > KEY_MAX_LENGTH ||
        !num_parse_u32(t[2].value, &flags) ||
        !num_parse_u64(t[3].value, &ttl) ||
        !num_parse_u32(t[4].value, &bytes) ||
        !num_parse_u64(t[5].value, &version) || version == 0 ||
        base >= version) {
        reply(c, "CLIENT_ERROR bad command line format");
        return;
    }
    exptime = ttl == 0 ? 0
              : ttl >= UINT32_MAX - clock_now() ? UINT32_MAX
                                                : clock_now() + (rel_time_t)ttl;
    st = cache_alloc(t[1].value, t[1].length, flags, exptime, bytes, &it);
    if (st != CACHE_OK) {
        reply(c, st == CACHE_TOO_LARGE
                     ? "SERVER_ERROR object too large for cache"
                     : "SERVER_ERROR out of memory storing object");
        conn_swallow(c, (size_t)bytes + 2);
        return;
    }
    p = conn_pending(c);
    p->replica = stale ? REPLICA_COPY_STALE : REPLICA_COPY;
    p->cas = version;
    p->replica_base = base;
    conn_read_value(c, it, 2);
}

bool replica_apply_owns_value(struct conn *c)
{
    return conn_pending(c)->replica != 0;
}

void replica_apply_on_value(struct conn *c, struct item *it, bool valid)
{
    struct conn_pending *p = conn_pending(c);
    uint64_t version = p->cas, base = p->replica_base, floor, have = 0;
    bool stale = p->replica == REPLICA_COPY_STALE;
    enum cache_status st;

    p->replica = 0;
    if (!valid) {
        reply(c, "CLIENT_ERROR bad data chunk");
        return;
    }
    if (stale) {
        cache_item_flags_or(it, ITEM_STALE);
    }
    floor = tombstone_get(item_key(it), it->nkey);
    if (base != 0 && floor > base && floor != version) {
        st = CACHE_CONFLICT;      /* deleted here after the base */
        have = floor;
        cache_note_refused(item_key(it), it->nkey, version);
    } else if (floor >= version) {
        replica_count_applied(false);
        reply(c, "NOT_STORED");
        return;
    } else {
        st = cache_put_version_based(it, version, base, &have);
    }
    if (st == CACHE_CONFLICT) {
        char line[48];

        if (have < floor) {
            have = floor;         /* a chained refusal, deleted here */
        }
        replica_count_conflict();
        snprintf(line, sizeof(line), "CONFLICT %" PRIu64, have);
        reply(c, line);
        return;
    }
    floor = tombstone_get(item_key(it), it->nkey);
    if (st == CACHE_STORED && floor >= version) {
        cache_delete_below(item_key(it), it->nkey, floor);
        st = CACHE_NOT_STORED;
    }
    replica_count_applied(st == CACHE_STORED);
    reply(c, st == CACHE_STORED ? "STORED"
             : st == CACHE_EXISTS ? "EXISTS" : "NOT_STORED");
}

static void on_del(struct conn *c, struct text_token *t, size_t n)
{
    uint64_t version;
    enum cache_status st;

    if (n != 3 || t[1].length > KEY_MAX_LENGTH ||
        !num_parse_u64(t[2].value, &version) || version == 0) {
        reply(c, "CLIENT_ERROR bad command line format");
        return;
    }
    tombstone_put(t[1].value, t[1].length, version);
    st = cache_delete_below(t[1].value, t[1].length, version);
    if (st == CACHE_OK) {
        replica_count_deleted();
    }
    reply(c, st == CACHE_OK ? "DELETED"
             : st == CACHE_EXISTS ? "EXISTS" : "NOT_FOUND");
}

bool replica_apply_line(struct conn *c, char *line, size_t len)
{
    struct text_token t[9];
    size_t n;

    if (!conn_from_peer(c) || len < 7 ||
        (strncmp(line, "rc_set ", 7) != 0 &&
         strncmp(line, "rc_del ", 7) != 0)) {
        return false;
    }
    if (line[len - 1] == '\r') {
        line[--len] = '\0';
    }
    n = text_tokenize(line, t, 9) - 1;
    if (line[3] == 's') {
        on_set(c, t, n);
    } else {
        on_del(c, t, n);
    }
    return true;
}
