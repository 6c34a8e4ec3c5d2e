#ifndef CPRO_BUILD_H
#define CPRO_BUILD_H

/// The release number; the file VERSION at the top of the repository says
/// the same (a test checks it).
#define CPRO_VERSION "0.9.0"

/// The commit a packaged binary was built from, or "" in a build that
/// scripts/package did not stamp.
const char *cpro_build_commit(void);

#endif
