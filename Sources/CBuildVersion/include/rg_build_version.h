#ifndef RG_BUILD_VERSION_H
#define RG_BUILD_VERSION_H

/// The version the running binary was built as (`git describe`, baked in by the GitVersion plugin), or ""
/// when it was linked without that definition (the library alone: tests, an embedding application).
const char *rg_build_version(void);

#endif
