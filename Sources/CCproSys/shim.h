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

#include <sys/socket.h>
#include <sys/signalfd.h>

// SO_PEERCRED fills a struct ucred, which glibc only declares under
// _GNU_SOURCE; the layout is fixed by the kernel: pid, uid, gid.
struct cpro_ucred { pid_t pid; uid_t uid; gid_t gid; };
static inline int cpro_peer_credentials(int fd, uid_t *uid, pid_t *pid) {
    struct cpro_ucred c;
    socklen_t len = sizeof c;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c, &len) != 0 || len != sizeof c) return -1;
    *uid = c.uid;
    *pid = c.pid;
    return 0;
}

// The session agent waits on its socket and on these signals in one poll():
// they are blocked and read from a file descriptor instead of interrupting
// whatever the agent is doing with a key in memory.
static inline int cpro_termination_signalfd(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) return -1;
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}
