/*
 * gossip: cluster membership by SWIM with Lifeguard's refinements, in the
 * manner of hashicorp/memberlist, as an I/O-free protocol core.
 *
 * Contract: the core never reads a clock, a socket or global randomness.
 * The caller passes CLOCK_MONOTONIC nanoseconds into every entry point,
 * randomness comes from the per-instance PRNG seeded at gossip_create(),
 * and every byte the core wants to send leaves through the transport
 * vtable. The only exception is the AES-GCM nonce, which comes from
 * OpenSSL's RAND_bytes (a nonce must never repeat; it does not influence
 * protocol decisions, so runs stay deterministic).
 *
 * Driving it (the daemon with libevent, the simulator with a virtual clock):
 *   - gossip_create(), gossip_start(), optionally gossip_join();
 *   - every inbound UDP datagram -> gossip_on_datagram();
 *   - every inbound TCP message -> gossip_on_stream(), which may call the
 *     reply function once before it returns;
 *   - the answer to a stream the core opened (transport->stream_open) ->
 *     gossip_on_stream_reply(), or gossip_on_stream_failed() if the
 *     connection broke (the core also times streams out by itself);
 *   - arm one timer for gossip_next_deadline() and call gossip_advance()
 *     when it fires; re-read the deadline after every call into the core.
 * Framing of stream messages on TCP (a length prefix) is the transport's
 * business: the core always sees whole messages.
 *
 * Thread safety: none. One instance belongs to one thread (the daemon's
 * gossip thread); publish the view to other threads from member_changed
 * (e.g. an RCU snapshot).
 */
#ifndef RC_CLUSTER_GOSSIP_H
#define RC_CLUSTER_GOSSIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GOSSIP_NAME_MAX 64        /* bytes in a member name */
#define GOSSIP_META_MAX 128       /* bytes of metadata per member */
#define GOSSIP_CLUSTER_NAME_MAX 64
#define GOSSIP_DATAGRAM_MAX 1400  /* under a 1500-byte path MTU */
#define GOSSIP_MAX_SEEDS 16
/* Members one table holds, self included (gossip_config.max_members): far
 * above any real cluster, and small enough that a flood of fresh names
 * from an unauthenticated peer costs milliseconds and a few megabytes
 * (doc/cluster.md, "Member cap"). Never above GOSSIP_WIRE_MAX_STATES, so
 * the full table always fits in one push-pull. */
#define GOSSIP_MAX_MEMBERS_DEFAULT 16384
#define GOSSIP_MAX_MEMBERS_LIMIT 65536  /* == GOSSIP_WIRE_MAX_STATES */

enum gossip_state {
    GOSSIP_ALIVE = 0,
    GOSSIP_SUSPECT = 1,
    GOSSIP_DEAD = 2,
    GOSSIP_LEFT = 3,              /* left gracefully */
};
#define GOSSIP_NSTATES 4

const char *gossip_state_name(enum gossip_state s);

/* Member names are 1..GOSSIP_NAME_MAX printable ASCII bytes, no space:
 * they end up in text replies (`cluster members`), where a space, CR or LF
 * from a peer could forge lines. */
bool gossip_name_valid(const char *name, size_t len);

/* An IPv4 or IPv6 address and port, in network byte order (ip) and host
 * order (port). Compared bytewise, so zero unused ip bytes. */
struct gossip_addr {
    uint8_t family;               /* 4 or 6 */
    uint8_t pad;
    uint16_t port;
    uint8_t ip[16];               /* first 4 bytes used for IPv4 */
};

bool gossip_addr_equal(const struct gossip_addr *a,
                       const struct gossip_addr *b);

/* The read-only view of one member. */
struct gossip_member {
    char name[GOSSIP_NAME_MAX + 1];  /* NUL-terminated */
    uint8_t state;                /* enum gossip_state */
    uint8_t meta_len;
    uint16_t weight;
    uint32_t incarnation;
    struct gossip_addr client_addr;  /* where clients reach its cache */
    struct gossip_addr gossip_addr;  /* its UDP/TCP gossip endpoint */
    uint64_t state_change_ns;     /* local clock when state last changed */
    const uint8_t *meta;          /* meta_len bytes, NULL when empty */
};

struct gossip_keyring;            /* gossip_crypto.h */

/* Every timing knob, with memberlist's LAN defaults from
 * gossip_config_defaults(). Durations in nanoseconds. The strings and the
 * keyring are borrowed: they must outlive the instance. */
struct gossip_config {
    const char *name;             /* unique; default host:port by the caller */
    const char *cluster_name;     /* "" is a valid name; never NULL */
    struct gossip_addr client_addr;
    struct gossip_addr gossip_addr;
    uint16_t weight;
    const uint8_t *meta;
    size_t meta_len;
    const struct gossip_keyring *keyring;  /* NULL: authenticate nothing */

    uint64_t probe_interval_ns;   /* 1 s */
    uint64_t probe_timeout_ns;    /* 500 ms */
    unsigned indirect_checks;     /* 3 */
    uint64_t gossip_interval_ns;  /* 200 ms */
    unsigned gossip_nodes;        /* 3 */
    uint64_t gossip_to_dead_ns;   /* 30 s: keep gossiping to the dead */
    uint64_t push_pull_interval_ns;  /* 30 s, scaled up with log2 N */
    unsigned suspicion_mult;      /* 4 */
    unsigned suspicion_max_timeout_mult;  /* 6 */
    unsigned retransmit_mult;     /* 4 */
    unsigned awareness_max_multiplier;    /* 8 */
    uint64_t stream_timeout_ns;   /* 10 s for push-pull over TCP */
    uint64_t dead_retention_ns;   /* 60 s before dead/left are reaped */
    uint64_t reap_interval_ns;    /* 1 s */
    uint64_t rejoin_interval_ns;  /* 30 s; 0 disables re-join to seeds */
    uint64_t join_backoff_min_ns; /* 1 s, doubling ... */
    uint64_t join_backoff_max_ns; /* ... up to 60 s */
    size_t max_datagram;          /* GOSSIP_DATAGRAM_MAX, incl. envelope */
    size_t max_members;           /* GOSSIP_MAX_MEMBERS_DEFAULT; 0: that;
                                   * clamped to GOSSIP_WIRE_MAX_STATES */
};

void gossip_config_defaults(struct gossip_config *c);

/* Everything the core sends. ctx is gossip_create()'s ctx. The callbacks
 * must not call back into the instance (report a failed connect later,
 * from the event loop, through gossip_on_stream_failed()). */
struct gossip_transport {
    /* Send one datagram (UDP); losing it is fine. */
    void (*send_datagram)(void *ctx, const struct gossip_addr *to,
                          const uint8_t *buf, size_t len);
    /* Open a reliable stream (TCP) to `to`, send one message and deliver
     * the one reply message through gossip_on_stream_reply(stream_id) or
     * the failure through gossip_on_stream_failed(stream_id). */
    void (*stream_open)(void *ctx, uint64_t stream_id,
                        const struct gossip_addr *to,
                        const uint8_t *buf, size_t len);
    /* Optional: a member was added (old_state is then GOSSIP_DEAD: it was
     * nothing to us), changed state, incarnation or metadata (old_state
     * may equal m->state), or is about to be reaped (removed == true).
     * m is valid only during the call; self is reported too. */
    void (*member_changed)(void *ctx, const struct gossip_member *m,
                           enum gossip_state old_state, bool removed);
};

/* Replies to an inbound stream message; called at most once, from within
 * gossip_on_stream(). */
typedef void gossip_reply_fn(void *reply_arg, const uint8_t *buf, size_t len);

struct gossip_stats {
    uint64_t members[GOSSIP_NSTATES];  /* current view, self included */
    uint64_t probes;              /* probes started */
    uint64_t probe_failures;      /* probes that ended in a suspicion */
    uint64_t indirect_probes;     /* ping-reqs sent */
    uint64_t fallback_probes;     /* TCP pings sent */
    uint64_t suspicions;          /* members this node started suspecting */
    uint64_t deaths;              /* members this node declared dead */
    uint64_t refutations;         /* times this node refuted */
    uint64_t push_pulls;          /* push-pulls completed (both sides) */
    uint64_t join_attempts;
    uint64_t msgs_in, msgs_out;   /* messages (compound parts counted) */
    uint64_t packets_in, packets_out;    /* datagrams */
    uint64_t bytes_in, bytes_out; /* datagram + stream bytes */
    uint64_t streams_in, streams_out;
    uint64_t auth_failures;       /* sealed messages that failed to open */
    uint64_t wrong_cluster;       /* plain messages of another cluster */
    uint64_t decode_errors;       /* malformed messages dropped */
    uint64_t members_refused;     /* unknown names dropped: table full */
    uint32_t awareness;           /* health score, 0 = healthy */
};

struct gossip;

/* Creates an instance (not started). Returns NULL on a bad config (empty or
 * too long name, oversized meta or cluster name) or out of memory. The
 * seed also picks this life's 64-bit probe-sequence start (replay
 * protection), so a daemon must take it from a real random source
 * (RAND_bytes), never from the clock or the pid alone. */
struct gossip *gossip_create(const struct gossip_config *cfg,
                             const struct gossip_transport *t, void *ctx,
                             uint64_t seed);
void gossip_destroy(struct gossip **g);

/* Announces self as alive (incarnation 1, as memberlist) and arms the
 * periodic timers, each at a random offset so that a cluster started at
 * once does not tick in step. */
void gossip_start(struct gossip *g, uint64_t now);

/* Push-pull with every seed; retried with exponential backoff until one
 * answers. Seeds are remembered for the periodic re-join. Returns the
 * number of seeds accepted (self and excess are skipped). */
size_t gossip_join(struct gossip *g, const struct gossip_addr *seeds,
                   size_t nseeds, uint64_t now);

/* Announces a graceful leave (members will see `left`). Keep driving the
 * instance until gossip_leave_flushed() or a timeout, then destroy it. */
void gossip_leave(struct gossip *g, uint64_t now);
bool gossip_leave_flushed(const struct gossip *g);

/* Changes own metadata/weight and disseminates it (raises incarnation).
 * Returns -1 after a leave, on bad metadata, or when the incarnation is
 * already 2^32 - 1 (peers would take the change for old news). */
int gossip_update(struct gossip *g, const uint8_t *meta, size_t meta_len,
                  uint16_t weight, uint64_t now);

void gossip_on_datagram(struct gossip *g, const struct gossip_addr *from,
                        const uint8_t *buf, size_t len, uint64_t now);
void gossip_on_stream(struct gossip *g, const struct gossip_addr *from,
                      const uint8_t *buf, size_t len, uint64_t now,
                      gossip_reply_fn *reply, void *reply_arg);
void gossip_on_stream_reply(struct gossip *g, uint64_t stream_id,
                            const uint8_t *buf, size_t len, uint64_t now);
void gossip_on_stream_failed(struct gossip *g, uint64_t stream_id,
                             uint64_t now);

/* Runs every timer due at or before now. */
void gossip_advance(struct gossip *g, uint64_t now);
/* The earliest pending timer; UINT64_MAX if none. */
uint64_t gossip_next_deadline(const struct gossip *g);

/* The view: members in no particular order, self included. Pointers stay
 * valid until the next call into the instance. */
size_t gossip_member_count(const struct gossip *g);
const struct gossip_member *gossip_member_at(const struct gossip *g,
                                             size_t i);
const struct gossip_member *gossip_member_find(const struct gossip *g,
                                               const char *name);
const struct gossip_member *gossip_self(const struct gossip *g);

void gossip_get_stats(const struct gossip *g, struct gossip_stats *out);

#ifdef __cplusplus
}
#endif

#endif
