// Linux calls that Glibc's Swift module does not bring in.
#include <sys/prctl.h>
#include <sys/resource.h>

// prctl is variadic, which Swift cannot call.
static inline int cpro_set_not_dumpable(void) { return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); }
