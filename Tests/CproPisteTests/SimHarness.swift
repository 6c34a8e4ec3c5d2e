import CproHTTP
import Foundation
import Testing
@testable import PisteSim
@testable import CproCore
@testable import CproPiste
@testable import CproVault

/// An in-process piste-sim on 127.0.0.1, a free port, for one test.
final class SimHarness: @unchecked Sendable {
    let sim = Simulator()
    private var task: Task<Void, Error>?
    private(set) var port = 0

    static func start() async throws -> SimHarness {
        let h = SimHarness()
        let ready = AsyncStream<Int>.makeStream()
        h.task = Task {
            try await SimulatorServer(simulator: h.sim, port: 0).run { port in ready.continuation.yield(port) }
        }
        for await p in ready.stream { h.port = p; break }
        return h
    }

    func stop() { task?.cancel() }
    deinit { task?.cancel() }

    var endpoints: Endpoints {
        Endpoints(oauthURL: "http://127.0.0.1:\(port)", apiURL: "http://127.0.0.1:\(port)/cpro")
    }

    /// A refused configuration fails the calling test, not the whole run.
    func configure(_ patch: [String: Any]) async {
        guard let data = try? JSONSerialization.data(withJSONObject: patch) else {
            Issue.record("not a JSON object: \(patch)")
            return
        }
        let (ok, message) = await sim.configure(json: data)
        if !ok { Issue.record("piste-sim refused the configuration: \(message)") }
    }

    var tokenRequests: Int { get async { await sim.tokenRequests } }
}

let fastRetries = RetryPolicy(attempts: 3, baseDelay: 0.05, maxDelay: 0.2, maxRetryAfter: 5)

func envStore(id: String = Simulator.defaultClientID, secret: String = Simulator.defaultClientSecret,
              login: String = Simulator.defaultTechLogin, password: String = Simulator.defaultTechPassword) -> EnvStore {
    EnvStore(variables: [
        "PISTE_CLIENT_ID": id, "PISTE_CLIENT_SECRET": secret, "CPRO_TECH_LOGIN": login, "CPRO_TECH_PASSWORD": password,
    ], profile: .default, environment: .sandbox)
}

func tempDir() -> String { NSTemporaryDirectory() + "cpro-piste-" + UUID().uuidString }

func provider(_ sim: SimHarness, store: CredentialStore = envStore(), dir: String = tempDir(), margin: Int64 = 300,
              transport: HTTPTransport = AHCTransport(environment: testBudget), clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }) -> TokenProvider {
    TokenProvider(
        store: store, profile: .default, environment: .sandbox, endpoints: sim.endpoints,
        directory: dir + "/tokens", keyDirectory: dir + "/keys", margin: margin,
        client: TokenClient(transport: transport, policy: fastRetries, clock: clock), clock: clock)
}

func diagnosis(_ body: () async throws -> Void) async -> Diagnosis? {
    do {
        try await body()
        return nil
    } catch let e as Failure {
        return e.diagnosis
    } catch {
        return nil
    }
}

/// A time budget far above the default: these tests are about answers, not
/// time, and the machine running them may be loaded. The budget has tests of
/// its own (CLITests' BoundedFailureTests).
let testBudget = ["CPRO_TIMEOUT": "300", "CPRO_HTTP_TIMEOUT": "60"]
