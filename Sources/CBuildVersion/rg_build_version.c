#include "rg_build_version.h"

// Weak: the replyguard executable links a strong definition generated from `git describe` (the GitVersion
// plugin), which replaces this one; the library alone keeps it and reports its base version.
__attribute__((weak)) const char *rg_build_version(void) { return ""; }
