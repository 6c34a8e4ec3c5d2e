import CCproSys

#if canImport(Glibc)
import Glibc
#endif

/// Keeps secrets out of crash output and core files, the way ssh-agent and gpg
/// do: no core dump, no ptrace attach by other processes of the same user, and
/// no Swift backtracer (it prints registers and the memory they point at).
enum Hardening {
    // Written by `apply`, which main.swift calls on the main thread before
    // any task or thread exists, and never again; only read afterwards
    // (`restoreForChild`, from any thread: the start of those threads orders it).
    nonisolated(unsafe) private static var originalCoreLimit = rlimit()

    nonisolated(unsafe) private static var applied = false

    /// Once per process (the fast path runs it, then the full path may):
    /// a second call would record the already-lowered limit as the user's.
    static func apply() {
        guard !applied else { return }
        applied = true
        _ = getrlimit(Int32(RLIMIT_CORE.rawValue), &originalCoreLimit)
        // Soft limit only, so the child of `cpro exec` can get its own back.
        var none = rlimit(rlim_cur: 0, rlim_max: originalCoreLimit.rlim_max)
        _ = setrlimit(Int32(RLIMIT_CORE.rawValue), &none)
        _ = cpro_set_not_dumpable()
        // SIGQUIT too: the Swift backtracer answers it by printing registers
        // and the memory they point at, then lets the process run on.
        for sig in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGABRT, SIGQUIT] {
            signal(sig, SIG_DFL)
        }
    }

    /// What `cpro exec` gives back before replacing itself: the program it runs
    /// is not cpro and keeps the user's own core-dump setting.
    static func restoreForChild() {
        _ = setrlimit(Int32(RLIMIT_CORE.rawValue), &originalCoreLimit)
    }

    /// The user's own limit, for a child started while cpro runs on (`exec
    /// --mask`): set in the child alone, cpro keeps 0.
    static var userCoreLimit: rlimit { originalCoreLimit }
}
