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


#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <unistd.h>
#include <sys/wait.h>

// `cpro vault unlock` starts the agent: it must not inherit the caller's
// descriptors (a `flock job.lock cpro vault unlock` would keep job.lock held
// for the agent's whole life).
static inline int cpro_spawn_close_from(posix_spawn_file_actions_t *actions, int from) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
#else
    (void)actions; (void)from;
    return ENOSYS;
#endif
}

// `cpro exec --mask`: the program gets the user's core-dump limit back, in
// the child only (cpro keeps 0 while it holds every handed secret). fork,
// then only async-signal-safe calls until execve; an exec failure's errno
// comes back through a close-on-exec pipe. Returns 0 and the pid, or errno.
static inline int cpro_spawn_with_core_limit(const char *path, char *const argv[], char *const envp[],
                                             int out_fd, int err_fd, const struct rlimit *core, pid_t *pid_out) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) return errno;
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(report[0]);
        close(report[1]);
        return e;
    }
    if (pid == 0) {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        for (int s = 1; s < NSIG; s++) {
            if (s != SIGKILL && s != SIGSTOP) sigaction(s, &dfl, NULL);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (core != NULL) setrlimit(RLIMIT_CORE, core);
        if ((out_fd < 0 || dup2(out_fd, 1) >= 0) && (err_fd < 0 || dup2(err_fd, 2) >= 0)) execve(path, argv, envp);
        int e = errno;
        ssize_t ignored = write(report[1], &e, sizeof e);
        (void)ignored;
        _exit(127);
    }
    close(report[1]);
    int e = 0;
    ssize_t n;
    do { n = read(report[0], &e, sizeof e); } while (n < 0 && errno == EINTR);
    close(report[0]);
    if (n == (ssize_t)sizeof e) {
        waitpid(pid, NULL, 0);
        return e;
    }
    *pid_out = pid;
    return 0;
}

// The agent's termination signals, whichever thread the kernel picks: a
// process-wide handler writes the signal's number into a pipe that the
// agent's poll loop reads (the self-pipe trick). A signalfd only sees what
// every thread blocks, and the runtime's threads do not all keep a mask set
// before they started: the default action then ended the agent with the key
// unwiped. Returns the pipe's read end, or -1.
static int cpro_signal_pipe_fds[2] = {-1, -1};
static void cpro_signal_to_pipe(int sig) {
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    ssize_t ignored = write(cpro_signal_pipe_fds[1], &b, 1);
    (void)ignored;
    errno = saved;
}
static inline int cpro_termination_pipe(void) {
    if (cpro_signal_pipe_fds[0] < 0 && pipe2(cpro_signal_pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) return -1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = cpro_signal_to_pipe;
    sa.sa_flags = SA_RESTART;
    sigfillset(&sa.sa_mask);
    int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};
    sigset_t set;
    sigemptyset(&set);
    for (unsigned i = 0; i < 4; i++) {
        if (sigaction(sigs[i], &sa, NULL) != 0) return -1;
        sigaddset(&set, sigs[i]);
    }
    // This thread at least takes them, whatever mask it inherited.
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    return cpro_signal_pipe_fds[0];
}

// RLIMIT_MEMLOCK, which Glibc's Swift module does not name: -1 when unknown,
// -2 for no limit.
static inline long long cpro_memlock_limit(void) {
    struct rlimit l;
    if (getrlimit(RLIMIT_MEMLOCK, &l) != 0) return -1;
    return l.rlim_cur == RLIM_INFINITY ? -2 : (long long)l.rlim_cur;
}
