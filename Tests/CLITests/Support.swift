import Foundation
import TestSupport
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
        // A time budget well above the default: most tests are about answers, and
        // the machine running them may be loaded. BoundedFailureTests set it back.
        var e = ["PATH": "/usr/bin:/bin", "CPRO_HOME": home, "LANG": "C.UTF-8", "HOME": home + "-home", "CPRO_TIMEOUT": "120",
                 "CPRO_SECRET_SERVICE_TIMEOUT": "60"]
        if let passphrase { e["CPRO_VAULT_PASSPHRASE"] = passphrase }
        env = e
    }

    var vaultPath: String { home + "/vault.cpro" }

    /// A step that sets the scene: it must succeed, or the test fails here,
    /// with cpro's own words, rather than later for a reason it hides.
    @discardableResult
    func must(_ args: [String], stdin: [UInt8] = [], env extra: [String: String] = [:],
              sourceLocation: SourceLocation = #_sourceLocation) async throws -> Result {
        let r = try await run(args, stdin: stdin, env: extra)
        #expect(r.status == 0, "set-up step `cpro \(args.joined(separator: " "))` failed (\(r.status)): \(r.stderr)", sourceLocation: sourceLocation)
        return r
    }

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
        let child = try Child(["/usr/bin/setsid", "-w", Cli.binary] + args, environment: env.merging(extra) { $1 },
                              stdin: inPath, stdout: outPath, stderr: errPath)
        return Running(child: child, outPath: outPath, errPath: errPath, inPath: inPath)
    }
}

final class Running: @unchecked Sendable {
    let child: Child
    let outPath, errPath, inPath: String

    init(child: Child, outPath: String, errPath: String, inPath: String) {
        self.child = child
        self.outPath = outPath
        self.errPath = errPath
        self.inPath = inPath
    }

    func wait() async throws -> Cli.Result {
        let status = await child.wait()
        defer {
            for p in [outPath, errPath, inPath] { try? FileManager.default.removeItem(atPath: p) }
        }
        return Cli.Result(
            status: status,
            stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
    }

    /// The pid of cpro itself: the spawned child is no group leader, so
    /// setsid execs cpro in place rather than forking.
    var pid: Int32 { child.pid }
}

/// Every process's command line, as `ps` shows it.
func allCommandLines() -> [String] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.filter { Int($0) != nil }.compactMap { pid in
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
        return String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
    }
}

/// The processes whose command line starts with `prefix`.
func processIDs(commandPrefix prefix: String) -> [pid_t] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { Int32($0) }.filter { pid in
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        return String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self).hasPrefix(prefix)
    }
}

func sleep(ms: Int) async { try? await Task.sleep(nanoseconds: UInt64(ms) * 1_000_000) }

/// Waits (bounded) for a process to be gone; true when it is. A zombie
/// counts as gone: a grandchild once `vault unlock` exited is not ours to reap.
func processGone(_ pid: Int32, within seconds: Double = 30) async -> Bool {
    let end = Date().addingTimeInterval(seconds)
    while Date() < end {
        if kill(pid, 0) != 0 && errno == ESRCH { return true }
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), stat.contains(") Z ") { return true }
        await sleep(ms: 50)
    }
    return false
}

extension Cli {
    enum Step {
        case expect(String)
        case send(String)
        case interrupt
        /// Ctrl-D at the start of a line: end of input.
        case eof
        /// Sends a signal by name (TSTP, CONT) to cpro.
        case signal(String)
        /// Waits this many seconds, still reading the screen.
        case pause(Double)
        /// Notes whether echo is on now; printed as "[pty-driver] at prompt echo=…".
        case echoState
        /// Posts a JSON object (as text) to a loopback URL: changes a
        /// simulator's behaviour mid-run.
        case post(String, json: String)
        var json: [String: Any] {
            switch self {
            case .expect(let s): ["expect": s]
            case .send(let s): ["send": s]
            case .interrupt: ["interrupt": true]
            case .eof: ["eof": true]
            case .signal(let name): ["signal": name]
            case .pause(let s): ["pause": s]
            case .echoState: ["echo_state": true]
            case .post(let url, let body): ["post": url, "body": (try? JSONSerialization.jsonObject(with: Data(body.utf8))) ?? [:]]
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
        let outPath = NSTemporaryDirectory() + "ptyout-" + UUID().uuidString
        FileManager.default.createFile(atPath: outPath, contents: nil)
        let child = try Child(["/usr/bin/env", "python3", driver, script, "--", Cli.binary] + args,
                              environment: copy.env.merging(extra) { $1 }, stdout: outPath)
        let running = Running(child: child, outPath: outPath, errPath: outPath + ".none", inPath: outPath + ".none")
        return try await running.wait()
    }
}

extension Int64 {
    var rfc3339: String {
        let f = ISO8601DateFormatter()
        return f.string(from: Date(timeIntervalSince1970: TimeInterval(self)))
    }
}

