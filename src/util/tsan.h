/*
 * tsan: tells ThreadSanitizer about orderings it cannot see.
 *
 * Debian's liburcu is not built with TSan, so the release/acquire that RCU
 * publication (rcu_assign_pointer / rcu_dereference inside cds_lfht) and
 * grace periods provide are invisible to it, and every item read through the
 * table would be reported as a race with the writes that filled it. These
 * macros state those edges; they compile to nothing in other builds.
 */
#ifndef RC_UTIL_TSAN_H
#define RC_UTIL_TSAN_H

#if defined(__SANITIZE_THREAD__)
#define RC_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RC_TSAN 1
#endif
#endif

#ifdef RC_TSAN
#ifdef __cplusplus
extern "C" {
#endif
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#ifdef __cplusplus
}
#endif
#define TSAN_RELEASE(addr) __tsan_release((void *)(addr))
#define TSAN_ACQUIRE(addr) __tsan_acquire((void *)(addr))
#else
#define TSAN_RELEASE(addr) ((void)(addr))
#define TSAN_ACQUIRE(addr) ((void)(addr))
#endif

/* One token stands for "all read-side sections so far": every unlock
 * releases it, and whoever waited for a grace period acquires it. */
extern int tsan_grace_token;

#endif
