#ifndef REPLYGUARD_CSQLITE_SHIM_H
#define REPLYGUARD_CSQLITE_SHIM_H
#include <sqlite3.h>
#endif
