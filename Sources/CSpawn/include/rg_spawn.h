#ifndef RG_SPAWN_H
#define RG_SPAWN_H
#include <sys/types.h>

/// Starts `file` (searched in PATH) with `argv`, `in_fd` as its standard input and `out_fd` as its
/// standard output, every signal unblocked and SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT at their
/// defaults, and `close_fds` closed. The child is sent SIGKILL when the calling thread exits
/// (PR_SET_PDEATHSIG), so it never outlives a killed parent. Returns its pid, or -1 with `*error` set to
/// the errno of what failed (exec included: ENOENT when not found, EACCES when not executable).
pid_t rg_spawn(const char *file, char *const argv[], int in_fd, int out_fd,
               const int *close_fds, int close_count, int *error);

#endif
