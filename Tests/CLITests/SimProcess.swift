import Foundation
import Testing
import TestSupport
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The real piste-sim binary on 127.0.0.1, a free port, for one test.
final class SimProcess: @unchecked Sendable {
    let child: Child
    let port: Int

    static var binary: String { URL(fileURLWithPath: Cli.binary).deletingLastPathComponent().appendingPathComponent("piste-sim").path }

    init() async throws {
        let portFile = NSTemporaryDirectory() + "simport-" + UUID().uuidString
        child = try Child([SimProcess.binary, "--port", "0", "--port-file", portFile], environment: ["PATH": "/usr/bin:/bin"])
        var port = 0
        for _ in 0..<200 {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let p = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                port = p
                break
            }
            try await Task.sleep(nanoseconds: 25_000_000)
        }
        try? FileManager.default.removeItem(atPath: portFile)
        guard port > 0 else {
            child.terminate()
            throw SimError(message: "piste-sim did not start")
        }
        self.port = port
    }

    deinit { child.terminate() }

    struct SimError: Error { let message: String }

    var base: String { "http://127.0.0.1:\(port)" }

    /// The variables that point cpro at this simulator.
    var env: [String: String] { ["PISTE_OAUTH_URL": base, "CPRO_API_URL": base + "/cpro"] }

    @discardableResult
    func admin(_ path: String, _ body: [String: Any]? = nil) async throws -> [String: Any] {
        var request = URLRequest(url: URL(string: base + path)!)
        if let body {
            request.httpMethod = "POST"
            request.httpBody = try JSONSerialization.data(withJSONObject: body)
        } else if path != "/_sim/stats" {
            request.httpMethod = "POST"
        }
        let (data, _) = try await URLSession.shared.data(for: request)
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    }

    func configure(_ patch: [String: Any]) async throws { try await admin("/_sim/config", patch) }

    var tokenRequests: Int { get async throws { try await admin("/_sim/stats")["token_requests"] as? Int ?? -1 } }
    var apiRequests: Int { get async throws { try await admin("/_sim/stats")["api_requests"] as? Int ?? -1 } }
}

extension Cli {
    static let simClientID = "5e1f0c2a-6b3d-4c8e-9a7f-0d1e2f3a4b5c"
    static let simClientSecret = "sim-client-secret-8c41"
    static let simTechLogin = "TECH_1_00000000000000@cpro.fr"
    static let simTechPassword = "sim-tech-password-Ü7"

    /// A Cli pointed at `sim`, with the simulator's credentials stored.
    static func withSim(_ sim: SimProcess, profile: String = "default", env: String = "sandbox") async throws -> Cli {
        var cli = Cli()
        cli.env.merge(sim.env) { $1 }
        try await cli.storeSimCredentials(profile: profile, env: env)
        return cli
    }

    func storeSimCredentials(profile: String = "default", env: String = "sandbox",
                             id: String = Cli.simClientID, secret: String = Cli.simClientSecret) async throws {
        let json = try JSONSerialization.data(withJSONObject: [
            "PISTE_CLIENT_ID": id, "PISTE_CLIENT_SECRET": secret,
            "CPRO_TECH_LOGIN": Cli.simTechLogin, "CPRO_TECH_PASSWORD": Cli.simTechPassword,
        ])
        // An expectation, not a precondition: a failure fails this test, not the whole run.
        try await must(["creds", "import", "--profile", profile, "--env", env], stdin: Array(json))
    }
}
