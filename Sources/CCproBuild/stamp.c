#include "cpro_build.h"

// scripts/package writes the commit into this array of the built binary
// (same length, NUL padded), after the build: stamping needs no rebuild and
// no build flag, so a release build and a test build share their caches.
// The marker must stay unique in the binary and the array 64 bytes long.
__attribute__((used)) static const volatile char stamp[64] = "cpro-build-stamp:";

const char *cpro_build_commit(void) {
    return (const char *)stamp + sizeof "cpro-build-stamp:" - 1;
}
