#ifndef REPLYGUARD_CZLIB_SHIM_H
#define REPLYGUARD_CZLIB_SHIM_H
#include <zlib.h>
#endif
