import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A child process started with posix_spawn and reaped by a blocking waitpid
/// on a thread of its own. The tests use it instead of Foundation's Process:
/// on Linux, Process.run() over-reads a dirent while listing /proc/self/fd and
/// crashes now and then (swift-corelibs-foundation#5472, fixed after Swift
/// 6.3.1), and waitUntilExit() blocks a cooperative thread (with two cores
/// that starved the pool and hung the run).
public final class Child: @unchecked Sendable {
    public let pid: pid_t
    private let lock = NSLock()
    private var status: Int32?
    private var waiters: [CheckedContinuation<Int32, Never>] = []

    /// Starts argv[0] (an absolute path). Standard input and output are files
    /// (by path); standard error goes to `stderr`, or with standard output when nil.
    /// Descriptors above 2 are closed in the child.
    public init(_ argv: [String], environment: [String: String],
                stdin: String = "/dev/null", stdout: String = "/dev/null", stderr: String? = nil) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_APPEND, 0)
        if let stderr {
            posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_APPEND, 0)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        Self.closeFrom3(&actions)
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (cArgs + cEnv).forEach { free($0) } }
        // No signal blocked and default handlers in the child: the test
        // process's threads block most signals, and a spawned program inherits
        // that (daemons then shrug off SIGTERM and outlive the run).
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attr, &none)
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, &attr, cArgs, cEnv)
        guard rc == 0 else {
            throw NSError(domain: "spawn \(argv[0])", code: Int(rc), userInfo: [NSLocalizedDescriptionKey: String(cString: strerror(rc))])
        }
        self.pid = pid
        let child = pid
        Thread { [self] in
            var s: Int32 = 0
            while waitpid(child, &s, 0) < 0 && errno == EINTR {}
            let code = (s & 0x7f) == 0 ? (s >> 8) & 0xff : 128 + (s & 0x7f)
            let resume: [CheckedContinuation<Int32, Never>] = lock.withLock {
                status = code
                defer { waiters = [] }
                return waiters
            }
            for w in resume { w.resume(returning: code) }
        }.start()
    }

    /// glibc's posix_spawn_file_actions_addclosefrom_np (2.34+), which the
    /// Glibc module does not export: without it a long-lived child (a server)
    /// would inherit whatever the test process has open.
    private static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(sym, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    private static func closeFrom3(_ actions: inout posix_spawn_file_actions_t) {
        _ = addCloseFrom?(&actions, 3)
    }

    public var isRunning: Bool { lock.withLock { status == nil } }

    public func terminate() {
        if isRunning { kill(pid, SIGTERM) }
    }

    /// The exit status, or 128 + the signal that ended it.
    public func wait() async -> Int32 {
        await withCheckedContinuation { (c: CheckedContinuation<Int32, Never>) in
            let now: Int32? = lock.withLock {
                if let status { return status }
                waiters.append(c)
                return nil
            }
            if let now { c.resume(returning: now) }
        }
    }
}

/// Runs a program to its end, output and errors to one file, returned.
public func spawnAndWait(_ argv: [String], env: [String: String]) async throws -> (status: Int32, output: String) {
    let outPath = NSTemporaryDirectory() + "spawn-" + UUID().uuidString
    FileManager.default.createFile(atPath: outPath, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: outPath) }
    let status = try await Child(argv, environment: env, stdout: outPath).wait()
    return (status, (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "")
}
