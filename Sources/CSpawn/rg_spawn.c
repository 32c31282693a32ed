#define _GNU_SOURCE
#include "rg_spawn.h"
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

pid_t rg_spawn(const char *file, char *const argv[], int in_fd, int out_fd,
               const int *close_fds, int close_count, int *error) {
    int status[2];
    if (pipe2(status, O_CLOEXEC) != 0) { *error = errno; return -1; }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) { *error = errno; close(status[0]); close(status[1]); return -1; }
    if (pid == 0) {
        // Only async-signal-safe calls from here to exec.
        close(status[0]);
        int e = 0;
#ifdef __linux__
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) { e = errno; goto fail; }
#endif
        if (getppid() != parent) _exit(127); // the parent died before prctl
        // Its own session (and process group): whatever it forks can be signalled as one group, and no
        // terminal can stop it for reading or writing in the background.
        if (setsid() < 0) { e = errno; goto fail; }
        sigset_t empty;
        sigemptyset(&empty);
        sigprocmask(SIG_SETMASK, &empty, NULL);
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        const int defaults[] = {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT};
        for (unsigned i = 0; i < sizeof defaults / sizeof defaults[0]; i++) sigaction(defaults[i], &dfl, NULL);
        if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0) { e = errno; goto fail; }
        for (int i = 0; i < close_count; i++) if (close_fds[i] > 2) close(close_fds[i]);
        execvp(file, argv);
        e = errno;
    fail:
        while (write(status[1], &e, sizeof e) < 0 && errno == EINTR) {}
        _exit(127);
    }
    close(status[1]);
    int e = 0;
    ssize_t n;
    do { n = read(status[0], &e, sizeof e); } while (n < 0 && errno == EINTR);
    close(status[0]);
    if (n == (ssize_t)sizeof e) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
        *error = e;
        return -1;
    }
    *error = 0;
    return pid;
}

/// Closes every descriptor from `low` up (close_range, else one by one up to the limit).
static void close_from(int low) {
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)low, ~0U, 0) == 0) return;
#endif
    int max = 65536;
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < (rlim_t)max) max = (int)limit.rlim_cur;
    for (int fd = low; fd < max; fd++) close(fd);
}

pid_t rg_guard_group(pid_t group, int *disarm_fd) {
    int guard[2];
    if (pipe2(guard, O_CLOEXEC) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) { close(guard[0]); close(guard[1]); return -1; }
    if (pid == 0) {
        // Only async-signal-safe calls from here on.
        struct sigaction ignore;
        memset(&ignore, 0, sizeof ignore);
        ignore.sa_handler = SIG_IGN;
        const int ignored[] = {SIGINT, SIGQUIT, SIGHUP, SIGTERM, SIGTSTP, SIGTTIN, SIGTTOU, SIGPIPE, SIGUSR1, SIGUSR2};
        for (unsigned i = 0; i < sizeof ignored / sizeof ignored[0]; i++) sigaction(ignored[i], &ignore, NULL);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) { dup2(null, 0); dup2(null, 1); dup2(null, 2); }
        // Keep only the read end (as descriptor 3): holding the write end would hide the parent's death.
        if (dup2(guard[0], 3) < 0) _exit(1);
        close_from(4);
        char byte;
        ssize_t n;
        do { n = read(3, &byte, 1); } while (n < 0 && errno == EINTR);
        if (n <= 0) kill(-group, SIGKILL);
        _exit(0);
    }
    close(guard[0]);
    *disarm_fd = guard[1];
    return pid;
}

int rg_become_subreaper(void) {
#ifdef __linux__
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
#else
    return 0;
#endif
}

static volatile sig_atomic_t forward_group = 0;
static _Atomic long long forward_first_ns = 0;

static void rg_forward_handler(int sig) {
    int saved = errno;
    pid_t group = (pid_t)forward_group;
    if (group > 0) kill(-group, sig);
    if (atomic_load(&forward_first_ns) == 0) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long long ns = (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
        long long expected = 0;
        atomic_compare_exchange_strong(&forward_first_ns, &expected, ns > 0 ? ns : 1);
    }
    errno = saved;
}

void rg_forward_signals(pid_t group, const int *signals, int count) {
    forward_group = (sig_atomic_t)group;
    sigset_t set;
    sigemptyset(&set);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = rg_forward_handler;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    for (int i = 0; i < count; i++) {
        sigaction(signals[i], &action, NULL);
        sigaddset(&set, signals[i]);
    }
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

void rg_forward_signals_stop(void) { forward_group = 0; }

double rg_forwarded_at(void) {
    long long ns = atomic_load(&forward_first_ns);
    return ns == 0 ? 0 : (double)ns / 1e9;
}
