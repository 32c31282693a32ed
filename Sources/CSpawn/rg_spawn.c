#define _GNU_SOURCE
#include "rg_spawn.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <sys/wait.h>
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
