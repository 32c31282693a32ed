#ifndef RG_SPAWN_H
#define RG_SPAWN_H
#include <sys/types.h>

/// Starts `file` (searched in PATH) with `argv`, `in_fd` as its standard input and `out_fd` as its
/// standard output, in a session (and process group) of its own whose id is its pid, every signal unblocked and SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT at their
/// defaults, and `close_fds` closed. The child is sent SIGKILL when the calling thread exits
/// (PR_SET_PDEATHSIG), so it never outlives a killed parent. Returns its pid, or -1 with `*error` set to
/// the errno of what failed (exec included: ENOENT when not found, EACCES when not executable).
pid_t rg_spawn(const char *file, char *const argv[], int in_fd, int out_fd,
               const int *close_fds, int close_count, int *error);

/// Forks a guard that sends SIGKILL to process group `group` when the calling process is gone without
/// standing it down: it waits for end of file on a pipe whose only write end is returned in
/// `*disarm_fd` (close-on-exec), so the calling process's death by any cause, SIGKILL included, sets it
/// off. Writing one byte to `*disarm_fd` stands it down (it exits without signalling). It ignores
/// terminal and termination signals and holds no other descriptor. Returns its pid, or -1 (errno set).
pid_t rg_guard_group(pid_t group, int *disarm_fd);

/// Makes the calling process the reaper of its orphaned descendants (PR_SET_CHILD_SUBREAPER), so the
/// bot's children that outlive it can be waited for. 0 on success (and where there is no such thing).
int rg_become_subreaper(void);

/// Forwards each of `signals` to process group `group` from a signal handler (kill and clock_gettime are
/// async-signal-safe), installed before this returns: a signal that arrives at any moment after it is
/// forwarded, none is dropped while an asynchronous handler is being set up. The signals are unblocked
/// on the calling thread. Call once.
void rg_forward_signals(pid_t group, const int *signals, int count);

/// Stops forwarding (the group's leader has been reaped and its pid may be reused); the signals are
/// then only noted.
void rg_forward_signals_stop(void);

/// CLOCK_MONOTONIC seconds when the first of the signals arrived; 0 when none has.
double rg_forwarded_at(void);

#endif
