// Linux calls that Glibc's Swift module does not bring in.
#include <sys/prctl.h>
#include <sys/resource.h>

// prctl is variadic, which Swift cannot call.
static inline int cpro_set_not_dumpable(void) { return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); }

#include <signal.h>
#include <string.h>
#include <sys/types.h>

// `cpro exec --mask`: signals sent to cpro by a process (kill, a service
// manager) go on to the child. Those the terminal generates (Ctrl-C, Ctrl-\)
// already reach the child, which shares cpro's process group: not twice.
static volatile pid_t cpro_forward_pid = 0;
static void cpro_forward(int sig, siginfo_t *info, void *context) {
    (void)context;
    if (cpro_forward_pid > 0 && (info == NULL || info->si_code <= 0)) kill(cpro_forward_pid, sig);
}
static inline void cpro_forward_signals_to(pid_t pid) {
    cpro_forward_pid = pid;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = cpro_forward;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT};
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
}
