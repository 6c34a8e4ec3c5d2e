import CCproSys

#if canImport(Glibc)
import Glibc
#endif

/// Keeps secrets out of crash output and core files, the way ssh-agent and gpg
/// do: no core dump, no ptrace attach by other processes of the same user, and
/// no Swift backtracer (it prints registers and the memory they point at).
enum Hardening {
    static func apply() {
        var none = rlimit(rlim_cur: 0, rlim_max: 0)
        _ = setrlimit(Int32(RLIMIT_CORE.rawValue), &none)
        _ = cpro_set_not_dumpable()
        for sig in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGABRT] {
            signal(sig, SIG_DFL)
        }
    }
}
