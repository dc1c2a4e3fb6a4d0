/*
 * gossip_internal: the instance struct shared by the core's files
 * (gossip.c: lifecycle, timers, datagram plumbing, dissemination;
 * gossip_probe.c: failure detection; gossip_state.c: the member state
 * machine; gossip_sync.c: push-pull, join, re-join over streams).
 * Not part of the API: include gossip.h outside src/cluster/gossip*.c.
 */
#ifndef RC_CLUSTER_GOSSIP_INTERNAL_H
#define RC_CLUSTER_GOSSIP_INTERNAL_H

#include "cluster/gossip.h"
#include "cluster/gossip_broadcast.h"
#include "cluster/gossip_lifeguard.h"
#include "cluster/gossip_member.h"
#include "cluster/gossip_rand.h"
#include "cluster/gossip_wire.h"

enum gossip_timer_kind {
    GT_PROBE,                     /* start the next probe */
    GT_PROBE_TIMEOUT,             /* b = seq: direct ping timed out */
    GT_PROBE_END,                 /* b = seq: probe interval over */
    GT_GOSSIP,                    /* piggyback-free gossip round */
    GT_PUSH_PULL,                 /* anti-entropy with a random member */
    GT_REAP,                      /* forget long-dead and left members */
    GT_REJOIN,                    /* re-join seeds we cannot see */
    GT_JOIN_RETRY,                /* b = join round */
    GT_SUSPICION,                 /* a = slot, b = generation */
    GT_RELAY,                     /* a = slot, b = seq: ping-req expired */
    GT_STREAM,                    /* a = slot, b = stream id: timed out */
};

struct gossip_timer {
    uint64_t at;                  /* CLOCK_MONOTONIC ns */
    uint64_t order;               /* insertion order breaks ties */
    uint32_t kind;                /* enum gossip_timer_kind */
    uint32_t a;
    uint64_t b;
};

#define GOSSIP_SUSPICION_CONFIRM_MAX 8

/* A running suspicion (Lifeguard): its timer shrinks with confirmations. */
struct gossip_suspicion {
    uint64_t gen;                 /* bumped on release: stale timers die */
    bool used;
    uint32_t next_free;           /* free list: next free slot + 1; 0: end */
    char name[GOSSIP_NAME_MAX + 1];
    uint64_t start_ns;
    uint64_t min_ns, max_ns;
    uint64_t deadline_ns;         /* current expiry */
    unsigned k;                   /* confirmations expected */
    unsigned c;                   /* confirmations seen */
    uint64_t from[GOSSIP_SUSPICION_CONFIRM_MAX + 1];  /* accuser hashes */
};

#define GOSSIP_RELAYS 64          /* ping-reqs relayed at once */

/* A ping we send on behalf of another node's indirect probe. */
struct gossip_relay {
    bool used;
    bool want_nack;
    uint64_t seq;                 /* our ping's seq */
    uint64_t orig_seq;            /* the requester's seq */
    struct gossip_addr orig;      /* the requester */
    char target[GOSSIP_NAME_MAX + 1];  /* whom we ping: its ack must say so */
};

enum gossip_stream_kind {
    GS_PUSH_PULL,
    GS_JOIN,
    GS_FALLBACK_PING,
};

#define GOSSIP_STREAMS 64

struct gossip_stream {
    bool used;
    uint8_t kind;                 /* enum gossip_stream_kind */
    uint64_t id;
    uint64_t round;               /* GS_JOIN: join round; ping: probe seq */
};

/* The probe in flight (SWIM probes one member at a time). */
struct gossip_probe {
    bool active;
    bool acked;
    bool fallback_ok;             /* the TCP ping was answered */
    uint64_t seq;
    char target[GOSSIP_NAME_MAX + 1];
    uint64_t start_ns;
    unsigned expected_nacks;
    unsigned nacks;
};

struct gossip {
    struct gossip_config cfg;     /* strings point into name/cluster */
    char name[GOSSIP_NAME_MAX + 1];
    char cluster[GOSSIP_CLUSTER_NAME_MAX + 1];
    struct gossip_transport t;
    void *ctx;
    struct gossip_rand rng;

    struct gossip_members members;
    struct gossip_node *self;
    size_t counts[GOSSIP_NSTATES];   /* members by state */
    struct gossip_bqueue bq;
    struct gossip_awareness aw;

    struct gossip_timer *heap;
    size_t nheap, capheap;
    uint64_t timer_order;

    struct gossip_suspicion *susp;
    size_t nsusp;                 /* slots allocated */
    uint32_t susp_free;           /* first free slot + 1; 0: none */

    struct gossip_relay relays[GOSSIP_RELAYS];
    struct gossip_stream streams[GOSSIP_STREAMS];
    uint64_t next_stream_id;

    struct gossip_probe probe;
    size_t probe_index;
    /* Probe and relay sequence numbers: 64 bits from a random start drawn
     * at create (a per-process epoch), so an ack recorded in an earlier
     * life of this node, or sent to another node, matches no probe of
     * ours (gossip_probe.c). */
    uint64_t next_seq;

    struct gossip_addr seeds[GOSSIP_MAX_SEEDS];
    size_t nseeds;
    uint64_t join_round;          /* current round; 0: not joining */
    unsigned join_attempt;
    unsigned join_outstanding;
    bool join_ok;

    bool started;
    bool left;
    struct gossip_stats st;
};

/* gossip.c */
void gossip_timer_add(struct gossip *g, uint64_t at, enum gossip_timer_kind k,
                      uint32_t a, uint64_t b);
/* Sends m to `to` with as many queued broadcasts as fit; extra (may be
 * NULL) is a second message that must travel with it. */
void gossip_send(struct gossip *g, const struct gossip_addr *to,
                 const struct gossip_msg *m, const struct gossip_msg *extra);
/* Queues an encoded broadcast of m about member m->node. */
void gossip_broadcast(struct gossip *g, const struct gossip_msg *m,
                      bool tracked);
/* Opens a stream carrying body (sealed here); returns the stream id or 0. */
uint64_t gossip_stream_start(struct gossip *g, const struct gossip_addr *to,
                             enum gossip_stream_kind kind, uint64_t round,
                             const uint8_t *body, size_t len,
                             uint64_t timeout_at);
/* Up to k distinct random members passing keep(); returns how many. */
size_t gossip_random_members(struct gossip *g, size_t k,
                             bool (*keep)(struct gossip *g,
                                          const struct gossip_node *n,
                                          const void *arg, uint64_t now),
                             const void *arg, uint64_t now,
                             struct gossip_node **out);

uint64_t gossip_jitter(struct gossip *g, uint64_t span);
size_t gossip_body_cap(const struct gossip *g);
/* Opens an envelope, counting why one was refused; *scratch (malloc'd for
 * sealed messages) is the caller's to free. */
bool gossip_open_envelope(struct gossip *g, const uint8_t *buf, size_t len,
                          uint8_t **scratch, const uint8_t **body,
                          size_t *blen);

/* gossip_sync.c */
void gossip_sync_push_pull_tick(struct gossip *g, uint64_t now);
void gossip_sync_rejoin_tick(struct gossip *g, uint64_t now);
void gossip_sync_join_retry(struct gossip *g, uint64_t round, uint64_t now);
void gossip_sync_stream_timeout(struct gossip *g, uint32_t slot, uint64_t id,
                                uint64_t now);

/* gossip_probe.c */
void gossip_probe_tick(struct gossip *g, uint64_t now);
void gossip_probe_timeout(struct gossip *g, uint64_t seq, uint64_t now);
void gossip_probe_end(struct gossip *g, uint64_t seq, uint64_t now);
void gossip_probe_on_ping(struct gossip *g, const struct gossip_addr *from,
                          const struct gossip_msg *m);
void gossip_probe_on_ping_req(struct gossip *g,
                              const struct gossip_addr *from,
                              const struct gossip_msg *m, uint64_t now);
/* Acks and nacks count only for the probe (or relayed ping) whose seq
 * they carry and whose target they name. */
void gossip_probe_on_ack(struct gossip *g, const struct gossip_msg *m,
                         uint64_t now);
void gossip_probe_on_nack(struct gossip *g, const struct gossip_msg *m);
void gossip_probe_relay_expired(struct gossip *g, uint32_t slot,
                                uint64_t seq);
/* The TCP ping of probe seq ended; node is the name its ack carried. */
void gossip_probe_fallback_done(struct gossip *g, uint64_t seq,
                                const char *node, bool ok);

/* gossip_state.c */
void gossip_state_set(struct gossip *g, struct gossip_node *n,
                      enum gossip_state s, uint64_t now);
void gossip_state_notify(struct gossip *g, struct gossip_node *n,
                         enum gossip_state old);
void gossip_state_alive(struct gossip *g, const struct gossip_msg *a,
                        uint64_t now);
void gossip_state_suspect(struct gossip *g, uint32_t inc, const char *node,
                          const char *from, uint64_t now);
void gossip_state_dead(struct gossip *g, uint32_t inc, const char *node,
                       const char *from, uint64_t now);
void gossip_state_suspicion_fired(struct gossip *g, uint32_t slot,
                                  uint64_t gen, uint64_t now);
void gossip_state_alive_msg(const struct gossip *g,
                            const struct gossip_node *n,
                            struct gossip_msg *out);
/* Encodes the full local state as a push-pull body; caller frees. Fails
 * only on out of memory: the table never outgrows one push-pull. */
uint8_t *gossip_state_encode(struct gossip *g, bool join, size_t *len);
/* Merges a checked push-pull body. */
void gossip_state_merge(struct gossip *g, const uint8_t *buf, size_t len,
                        uint64_t now);
void gossip_state_reap(struct gossip *g, uint64_t now);
void gossip_state_release_suspicion(struct gossip *g, struct gossip_node *n);
/* The incarnation after inc, saturating at UINT32_MAX (wrapping to 0
 * would be old news to every peer, and the node could never refute). */
uint32_t gossip_state_next_incarnation(uint32_t inc);

#endif
