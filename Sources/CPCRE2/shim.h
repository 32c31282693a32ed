#ifndef REPLYGUARD_CPCRE2_SHIM_H
#define REPLYGUARD_CPCRE2_SHIM_H
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* Acquire/release loads and stores of a flag, for PCRE2Pattern's JIT compiled on first use. */
static inline int rg_pcre2_load_acquire(const int *flag) { return __atomic_load_n(flag, __ATOMIC_ACQUIRE); }
static inline void rg_pcre2_store_release(int *flag, int value) { __atomic_store_n(flag, value, __ATOMIC_RELEASE); }
#endif
