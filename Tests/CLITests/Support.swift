import Foundation
import Testing

/// Runs the built `cpro` as a user would: a fresh process, its own CPRO_HOME,
/// no controlling terminal (setsid), input from a file, output to files.
struct Cli {
    static let binary: String = {
        if let b = ProcessInfo.processInfo.environment["CPRO_BIN"] { return b }
        // The test bundle lives next to the products in .build/<triple>/debug.
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = runner.deletingLastPathComponent()
        while dir.path != "/" {
            let candidate = dir.appendingPathComponent("cpro").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return ".build/debug/cpro"
    }()

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
        var all: String { stdout + stderr }
    }

    let home: String
    var env: [String: String]

    static let passphrase = "correct horse battery staple"

    init(passphrase: String? = Cli.passphrase) {
        home = NSTemporaryDirectory() + "cpro-cli-" + UUID().uuidString
        var e = ["PATH": "/usr/bin:/bin", "CPRO_HOME": home, "LANG": "C.UTF-8", "HOME": home + "-home"]
        if let passphrase { e["CPRO_VAULT_PASSPHRASE"] = passphrase }
        env = e
    }

    var vaultPath: String { home + "/vault.cpro" }

    @discardableResult
    func run(_ args: [String], stdin: [UInt8] = [], env extra: [String: String] = [:]) async throws -> Result {
        let p = try start(args, stdin: stdin, env: extra)
        return try await p.wait()
    }

    func start(_ args: [String], stdin: [UInt8] = [], env extra: [String: String] = [:]) throws -> Running {
        let id = UUID().uuidString
        let dir = NSTemporaryDirectory()
        let inPath = dir + "in-" + id, outPath = dir + "out-" + id, errPath = dir + "err-" + id
        FileManager.default.createFile(atPath: inPath, contents: Data(stdin))
        FileManager.default.createFile(atPath: outPath, contents: nil)
        FileManager.default.createFile(atPath: errPath, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
        p.arguments = ["-w", Cli.binary] + args
        p.environment = env.merging(extra) { $1 }
        p.standardInput = FileHandle(forReadingAtPath: inPath)
        p.standardOutput = FileHandle(forWritingAtPath: outPath)
        p.standardError = FileHandle(forWritingAtPath: errPath)
        let running = Running(process: p, outPath: outPath, errPath: errPath, inPath: inPath)
        p.terminationHandler = { _ in running.finished() }
        try p.run()
        return running
    }
}

final class Running: @unchecked Sendable {
    let process: Process
    let outPath, errPath, inPath: String
    private let lock = NSLock()
    private var done = false
    private var waiter: CheckedContinuation<Void, Never>?

    init(process: Process, outPath: String, errPath: String, inPath: String) {
        self.process = process
        self.outPath = outPath
        self.errPath = errPath
        self.inPath = inPath
    }

    func finished() {
        let w: CheckedContinuation<Void, Never>? = lock.withLock {
            done = true
            defer { waiter = nil }
            return waiter
        }
        w?.resume()
    }

    func wait() async throws -> Cli.Result {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let resumeNow: Bool = lock.withLock {
                if done { return true }
                waiter = c
                return false
            }
            if resumeNow { c.resume() }
        }
        defer {
            for p in [outPath, errPath, inPath] { try? FileManager.default.removeItem(atPath: p) }
        }
        return Cli.Result(
            status: process.terminationStatus,
            stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
    }

    /// The pid of cpro itself (setsid -w forks it as a child).
    var pid: Int32 { process.processIdentifier }
}

/// Every process's command line, as `ps` shows it.
func allCommandLines() -> [String] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.filter { Int($0) != nil }.compactMap { pid in
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
        return String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
    }
}

func sleep(ms: Int) async { try? await Task.sleep(nanoseconds: UInt64(ms) * 1_000_000) }

extension Cli {
    enum Step {
        case expect(String)
        case send(String)
        case interrupt
        /// Notes whether echo is on now; printed as "[pty-driver] at prompt echo=…".
        case echoState
        var json: [String: Any] {
            switch self {
            case .expect(let s): ["expect": s]
            case .send(let s): ["send": s]
            case .interrupt: ["interrupt": true]
            case .echoState: ["echo_state": true]
            }
        }
    }

    /// Runs cpro on a pseudo-terminal, typing as a person would.
    func interactive(_ args: [String], _ steps: [Step], env extra: [String: String] = [:]) async throws -> Cli.Result {
        let driver = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("pty-driver.py").path
        let script = NSTemporaryDirectory() + "pty-" + UUID().uuidString + ".json"
        try JSONSerialization.data(withJSONObject: steps.map(\.json)).write(to: URL(fileURLWithPath: script))
        defer { try? FileManager.default.removeItem(atPath: script) }
        var copy = self
        copy.env.removeValue(forKey: "CPRO_VAULT_PASSPHRASE")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", driver, script, "--"] + [Cli.binary] + args
        p.environment = copy.env.merging(extra) { $1 }
        let outPath = NSTemporaryDirectory() + "ptyout-" + UUID().uuidString
        FileManager.default.createFile(atPath: outPath, contents: nil)
        p.standardOutput = FileHandle(forWritingAtPath: outPath)
        p.standardError = FileHandle(forWritingAtPath: outPath)
        p.standardInput = FileHandle.nullDevice
        let running = Running(process: p, outPath: outPath, errPath: outPath + ".none", inPath: outPath + ".none")
        p.terminationHandler = { _ in running.finished() }
        try p.run()
        return try await running.wait()
    }
}

extension Int64 {
    var rfc3339: String {
        let f = ISO8601DateFormatter()
        return f.string(from: Date(timeIntervalSince1970: TimeInterval(self)))
    }
}

/// Runs a program to its end with posix_spawn and a blocking waitpid on its
/// own thread, output to a file: for programs that leave daemons behind
/// (dbus-run-session), where Foundation's Process may never report the exit.
func spawnAndWait(_ argv: [String], env: [String: String], timeout: Double = 60) async throws -> (status: Int32, output: String) {
    let outPath = NSTemporaryDirectory() + "spawn-" + UUID().uuidString
    FileManager.default.createFile(atPath: outPath, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: outPath) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_APPEND, 0)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    let cArgs = argv.map { strdup($0) } + [nil]
    let cEnv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { (cArgs + cEnv).forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, argv[0], &actions, nil, cArgs, cEnv)
    guard rc == 0 else { throw NSError(domain: "spawn", code: Int(rc)) }
    let child = pid
    let status: Int32 = await withCheckedContinuation { c in
        Thread {
            var s: Int32 = 0
            while waitpid(child, &s, 0) < 0 && errno == EINTR {}
            c.resume(returning: s)
        }.start()
    }
    let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return (code, (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "")
}
