import CCproSys

#if canImport(Glibc)
import Glibc
#endif

/// The descriptors this process was started with, above the standard three:
/// those a user passed on purpose (`cpro exec -- prog 3<file`) or that a
/// caller leaked (`flock job.lock cpro vault unlock`). Recorded once, before
/// cpro opens anything of its own.
package enum InheritedDescriptors {
    nonisolated(unsafe) private static var recorded: Set<Int32> = []
    nonisolated(unsafe) private static var done = false

    /// Written once by main.swift, on the main thread before any other
    /// thread exists; only read afterwards.
    static func record() {
        guard !done else { return }
        done = true
        recorded = Set(openDescriptors().filter { $0 > 2 })
    }

    static var atStart: Set<Int32> { recorded }

    /// Every descriptor open now, from /proc/self/fd (the directory's own
    /// descriptor left out).
    static func openDescriptors() -> [Int32] {
        guard let dir = opendir("/proc/self/fd") else { return [] }
        defer { closedir(dir) }
        let own = dirfd(dir)
        var out: [Int32] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if let fd = Int32(name), fd != own { out.append(fd) }
        }
        return out
    }

    /// Before cpro hands control to another program: every descriptor cpro
    /// opened for itself (the HTTP client's event loop, its connections, a
    /// lock) is marked close-on-exec; those it was given stay open.
    static func closeOursOnExec() {
        for fd in openDescriptors() where fd > 2 && !recorded.contains(fd) {
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 && flags & FD_CLOEXEC == 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
    }

    /// The agent keeps nothing of its caller's but the standard three.
    static func closeInherited() {
        for fd in recorded { close(fd) }
        recorded = []
    }
}
