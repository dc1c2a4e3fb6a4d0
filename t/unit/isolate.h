/*
 * isolate: runs a test body in a forked child, for modules with
 * process-global state that can be set up only once (slab, cache).
 *
 * Why fork: slab_setup() reserves the arena and computes the classes for the
 * life of the process, and cache_setup() adds the table, RCU threads and the
 * global CAS counter. Tests need different configurations (class factors, a
 * tiny -m to force eviction, -M, -C), and one test's allocations must not
 * change another's results. A child per test gives each test a fresh
 * process image at the cost of a fork (about a millisecond), and keeps the
 * tests independent of order, filtering and --gtest_repeat. gtest's own
 * death tests were not used: their statement must die, and failures inside
 * it are not reported as test failures.
 *
 * The parent must not start threads or set the modules up itself (a fork of
 * a process with RCU threads is not safe); every such call belongs in the
 * body. Inside the body, EXPECT_* and ASSERT_* work as usual: the child
 * prints them, and exits 1 if any failed, which fails the test in the
 * parent. A child that hangs is killed after timeout_s seconds.
 */
#ifndef RC_T_UNIT_ISOLATE_H
#define RC_T_UNIT_ISOLATE_H

#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>

#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

namespace isolate {

inline std::string describe_status(int status)
{
    if (WIFEXITED(status)) {
        return "child exited with code " +
               std::to_string(WEXITSTATUS(status)) +
               (WEXITSTATUS(status) == 1 ? " (assertions failed, see above)"
                                         : "");
    }
    if (WIFSIGNALED(status)) {
        return std::string("child killed by signal ") +
               strsignal(WTERMSIG(status)) +
               (WTERMSIG(status) == SIGALRM ? " (timed out)" : "");
    }
    return "child stopped with status " + std::to_string(status);
}

/* Runs body in a child process and fails the current test unless the child
 * passes every assertion and exits within timeout_s seconds. */
inline void run(const std::function<void()> &body, unsigned timeout_s = 20)
{
    struct timespec start, now;
    int status = 0;
    pid_t pid, got;

    fflush(stdout);
    fflush(stderr);
    pid = fork();
    ASSERT_NE(pid, -1) << "fork: " << strerror(errno);
    if (pid == 0) {
        int rc;

        alarm(timeout_s);         /* default action: the child dies */
        body();
        rc = ::testing::Test::HasFailure() ? 1 : 0;
#if defined(__SANITIZE_ADDRESS__)
        /* _exit skips LeakSanitizer's exit-time check; run it here so
         * leaks in the module under test are still reported. */
        if (__lsan_do_recoverable_leak_check() != 0) {
            rc = 2;
        }
#endif
        fflush(stdout);
        fflush(stderr);
        _exit(rc);                /* no gtest or static teardown in the child */
    }

    /* Wait, bounded: the alarm should fire first; this is the backstop. */
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        got = waitpid(pid, &status, WNOHANG);
        if (got == pid) {
            break;
        }
        if (got == -1 && errno != EINTR) {
            FAIL() << "waitpid: " << strerror(errno);
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec > (time_t)timeout_s + 10) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            FAIL() << "isolated test child did not exit; killed";
        }
        usleep(1000);
    }
    bool passed = WIFEXITED(status) && WEXITSTATUS(status) == 0;

    EXPECT_TRUE(passed) << describe_status(status);
}

}  // namespace isolate

#endif
