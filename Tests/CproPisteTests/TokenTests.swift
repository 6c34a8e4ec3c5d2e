import CproHTTP
import Foundation
@testable import PisteSim
import Testing
@testable import CproCore
@testable import CproPiste
@testable import CproVault

@Suite(.timeLimit(.minutes(10))) struct TokenClientTests {
    @Test func formEncodingKeepsEveryByte() {
        let raw = "a b&c=d+e%f/é\u{1F642}~*"
        let encoded = String(decoding: FormEncoding.encode(SecretBytes(utf8: raw)), as: UTF8.self)
        #expect(encoded == "a+b%26c%3Dd%2Be%25f%2F%C3%A9%F0%9F%99%82%7E*")
        #expect(Simulator.parseForm(Array("k=\(encoded)".utf8))["k"] == raw)
    }

    @Test func fetchesWithCredentialsInTheBody() async throws {
        let sim = try await SimHarness.start()
        let awkward = "s3cr&t=+ %é"
        await sim.configure(["clients": ["id-1": awkward]])
        let client = TokenClient(transport: AHCTransport(environment: testBudget), policy: fastRetries, clock: { 1_000 })
        let t = try await client.fetch(clientID: SecretBytes(utf8: "id-1"), clientSecret: SecretBytes(utf8: awkward), endpoints: sim.endpoints)
        #expect(t.value.unprotectedString.hasPrefix("sim-"))
        #expect(t.obtainedAt == 1_000 && t.expiresAt == 4_600, "expiry from the local clock at receipt")
    }

    @Test(arguments: [("invalid_client_400", Diagnosis.oauthInvalidClient), ("invalid_client_401", .oauthInvalidClient),
                      ("no_subscription_401", .oauthRejected), ("invalid_grant", .oauthRejected), ("malformed", .unexpectedResponse)])
    func refusalsMapToDiagnoses(_ behaviour: String, _ expected: Diagnosis) async throws {
        let sim = try await SimHarness.start()
        await sim.configure(["token": behaviour])
        let p = provider(sim)
        #expect(await diagnosis { _ = try await p.token() } == expected)
        #expect(await sim.tokenRequests == 1, "no retry on a 4xx")
    }

    /// Only a whole number of seconds in range is a lifetime: `true` was read
    /// as 1 s, and `1e30`, a float or a word silently as PISTE's 3600 s.
    @Test(arguments: [
        (#""expires_in":3600"#, Int64?(3600)), (#""expires_in":"1800""#, 1800), (#""expires_in":3600.0"#, 3600), ("", 3600),
        (#""expires_in":0"#, nil), (#""expires_in":-5"#, nil), (#""expires_in":1e30"#, nil), (#""expires_in":99999999999999999999"#, nil),
        (#""expires_in":2592001"#, nil), (#""expires_in":true"#, nil), (#""expires_in":"soon""#, nil), (#""expires_in":"-60""#, nil),
        (#""expires_in":3600.5"#, nil), (#""expires_in":null"#, nil), (#""expires_in":[60]"#, nil),
    ])
    func expiresInMustBeWholeSeconds(_ field: String, _ expected: Int64?) {
        let body = #"{"access_token":"t0k","token_type":"Bearer""# + (field.isEmpty ? "" : "," + field) + "}"
        let answer = HTTPResponse(status: 200, body: Array(body.utf8))
        do {
            let t = try TokenClient.interpret(answer, receivedAt: 100, host: "h", attempts: 1)
            #expect(t.lifetime == expected, "\(field)")
        } catch let e as Failure {
            #expect(expected == nil, "\(field): \(e)")
            #expect(e.diagnosis == .unexpectedResponse)
        } catch {
            Issue.record("\(field): \(error)")
        }
    }

    @Test func wrongSecretIsInvalidClient() async throws {
        let sim = try await SimHarness.start()
        let p = provider(sim, store: envStore(secret: "not it"))
        #expect(await diagnosis { _ = try await p.token() } == .oauthInvalidClient)
    }

    @Test func retriesStopAfterTheBound() async throws {
        let sim = try await SimHarness.start()
        await sim.configure(["token_fail": ["status": 503, "count": 10]])
        let p = provider(sim)
        #expect(await diagnosis { _ = try await p.token() } == .unreachable)
        #expect(await sim.tokenRequests == 3)
    }

    @Test func transientFailuresAreRetried() async throws {
        let sim = try await SimHarness.start()
        await sim.configure(["token_fail": ["status": 502, "count": 2]])
        _ = try await provider(sim).token()
        #expect(await sim.tokenRequests == 3)
    }

    @Test func retryAfterIsHonoured() async throws {
        let sim = try await SimHarness.start()
        await sim.configure(["token_fail": ["status": 429, "count": 1, "retry_after": 1]])
        let start = Date()
        _ = try await provider(sim).token()
        #expect(Date().timeIntervalSince(start) >= 0.9)
        #expect(await sim.tokenRequests == 2)
    }

    @Test func aRetryAfterBeyondTheCapIsNotWaitedFor() async throws {
        let sim = try await SimHarness.start()
        await sim.configure(["token_fail": ["status": 429, "count": 5, "retry_after": 3600]])
        #expect(await diagnosis { _ = try await provider(sim).token() } == .unreachable)
        #expect(await sim.tokenRequests == 1)
    }

    @Test func refusedConnectionIsUnreachableAndNamed() async throws {
        let sim = try await SimHarness.start()
        sim.stop()
        try await Task.sleep(nanoseconds: 200_000_000)
        do {
            _ = try await provider(sim).token()
            Issue.record("reached a stopped server")
        } catch let e as Failure {
            #expect(e.diagnosis == .unreachable)
            #expect(e.en.contains("127.0.0.1") && e.en.contains("after 3 attempt"), "\(e.en)")
        }
    }

    @Test func slowAnswersTimeOut() async throws {
        let sim = try await SimHarness.start()
        await sim.configure(["token_delay_ms": 4000])
        let p = provider(sim, transport: AHCTransport(environment: ["CPRO_HTTP_TIMEOUT": "1"]))
        do {
            _ = try await p.token()
            Issue.record("no timeout")
        } catch let e as Failure {
            #expect(e.diagnosis == .unreachable)
            #expect(e.en.contains("did not answer in time"), "\(e.en)")
        }
    }
}

@Suite(.timeLimit(.minutes(10))) struct TokenCacheTests {
    @Test func secondCallIsServedFromTheCache() async throws {
        let sim = try await SimHarness.start()
        let dir = tempDir()
        let a = try await provider(sim, dir: dir).token()
        let b = try await provider(sim, dir: dir).token()
        #expect(a.value == b.value)
        #expect(await sim.tokenRequests == 1)
        #expect(SecureFiles.mode(of: dir + "/tokens/default.sandbox.token") == 0o600)
        #expect(SecureFiles.mode(of: dir + "/keys/token-cache.key") == 0o600)
        let file = try #require(try SecureFiles.read(dir + "/tokens/default.sandbox.token", limit: 4096))
        #expect(!String(decoding: file, as: UTF8.self).contains(a.value.unprotectedString), "encrypted at rest")
    }

    @Test func refreshedWithinTheMarginAndOnRequest() async throws {
        let sim = try await SimHarness.start()
        let dir = tempDir()
        let now = Clock()
        _ = try await provider(sim, dir: dir, margin: 300, clock: now.read).token()
        now.advance(3600 - 301)
        _ = try await provider(sim, dir: dir, margin: 300, clock: now.read).token()
        #expect(await sim.tokenRequests == 1, "still 301 s left")
        now.advance(2)
        _ = try await provider(sim, dir: dir, margin: 300, clock: now.read).token()
        #expect(await sim.tokenRequests == 2, "less than the margin left")
        _ = try await provider(sim, dir: dir, clock: now.read).token(refresh: true)
        #expect(await sim.tokenRequests == 3)
    }

    @Test func shortLivedTokensAreStillUsed() async throws {
        let sim = try await SimHarness.start()
        await sim.configure(["token_lifetime": 60])
        let dir = tempDir()
        let now = Clock()
        _ = try await provider(sim, dir: dir, margin: 300, clock: now.read).token()
        now.advance(20)
        _ = try await provider(sim, dir: dir, margin: 300, clock: now.read).token()
        #expect(await sim.tokenRequests == 1, "margin capped at half the lifetime")
        now.advance(15)
        _ = try await provider(sim, dir: dir, margin: 300, clock: now.read).token()
        #expect(await sim.tokenRequests == 2)
    }

    @Test func anotherClientIDNeverReusesAToken() async throws {
        let sim = try await SimHarness.start()
        await sim.configure(["clients": ["id-a": "secret-a", "id-b": "secret-b"]])
        let dir = tempDir()
        let a = try await provider(sim, store: envStore(id: "id-a", secret: "secret-a"), dir: dir).token()
        let b = try await provider(sim, store: envStore(id: "id-b", secret: "secret-b"), dir: dir).token()
        #expect(a.value != b.value)
        // Changing only the secret counts as well.
        await sim.configure(["clients": ["id-b": "secret-c"]])
        let c = try await provider(sim, store: envStore(id: "id-b", secret: "secret-c"), dir: dir).token()
        #expect(c.value != b.value)
        #expect(await sim.tokenRequests == 3)
    }

    @Test func anotherServerNeverReusesAToken() async throws {
        let one = try await SimHarness.start(), two = try await SimHarness.start()
        let dir = tempDir()
        _ = try await provider(one, dir: dir).token()
        _ = try await provider(two, dir: dir).token()
        #expect(await two.tokenRequests == 1)
    }

    @Test func fileVaultChangesAreNoticedWithoutThePassphraseOnTheWarmPath() async throws {
        let sim = try await SimHarness.start()
        let dir = tempDir()
        let vault = FileStore(path: dir + "/vault.cpro", lockPath: dir + "/vault.lock",
                              passphrases: CountingPassphrase(), params: .testOnlyWeak)
        try await vault.write([
            CredentialKey(.default, .sandbox, .clientID): StoredValue(SecretBytes(utf8: Simulator.defaultClientID), setAt: 1),
            CredentialKey(.default, .sandbox, .clientSecret): StoredValue(SecretBytes(utf8: Simulator.defaultClientSecret), setAt: 1),
        ])
        let locked = FileStore(path: dir + "/vault.cpro", lockPath: dir + "/vault.lock", passphrases: RefusingPassphrase(), params: .testOnlyWeak)
        let first = try await provider(sim, store: vault, dir: dir).token()
        // Warm: a store that refuses every passphrase still gets the token.
        #expect(try await provider(sim, store: locked, dir: dir).token().value == first.value)
        // Another field changes: the vault file changed, so the cold path opens
        // it, finds the same client credentials, and keeps the token.
        try await vault.write([CredentialKey(.default, .sandbox, .techLogin): StoredValue(SecretBytes(utf8: "TECH_1@cpro.fr"), setAt: 2)])
        #expect(try await provider(sim, store: vault, dir: dir).token().value == first.value)
        #expect(await sim.tokenRequests == 1)
        #expect(try await provider(sim, store: locked, dir: dir).token().value == first.value, "stamp updated")
    }

    @Test func concurrentProvidersInOneProcessShareOneKey() async throws {
        let sim = try await SimHarness.start()
        let dir = tempDir()
        let profiles = try (0..<8).map { try ProfileName("p\($0)") }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for p in profiles {
                group.addTask {
                    let store = EnvStore(variables: ["PISTE_CLIENT_ID": Simulator.defaultClientID, "PISTE_CLIENT_SECRET": Simulator.defaultClientSecret],
                                         profile: p, environment: .sandbox)
                    let provider = TokenProvider(
                        store: store, profile: p, environment: .sandbox, endpoints: sim.endpoints,
                        directory: dir + "/tokens", keyDirectory: dir + "/keys",
                        client: TokenClient(transport: AHCTransport(environment: testBudget), policy: fastRetries))
                    _ = try await provider.token()
                }
            }
            try await group.waitForAll()
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/keys") == ["token-cache.key"])
    }

    /// Single flight without processes: twelve providers (each its own
    /// in-process turn, as separate processes would have) share one cache
    /// while the token endpoint takes 400 ms, so every one of them is waiting
    /// at once. Only the cache's file lock keeps this to one request; without
    /// it, each provider fetches (checked by scripts/prove's mutation run).
    @Test func singleFlightAcrossProvidersSharingACache() async throws {
        let sim = try await SimHarness.start()
        await sim.configure(["token_delay_ms": 400])
        let dir = tempDir()
        let tokens = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<12 {
                group.addTask { try await provider(sim, dir: dir).token().value.unprotectedString }
            }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(await sim.tokenRequests == 1)
        #expect(tokens.count == 1, "every provider got the one token")
    }

    /// The same within one provider: twenty tasks asking at once, one request.
    @Test func singleFlightWithinOneProvider() async throws {
        let sim = try await SimHarness.start()
        await sim.configure(["token_delay_ms": 400])
        let p = provider(sim)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<20 { group.addTask { _ = try await p.token() } }
            try await group.waitForAll()
        }
        #expect(await sim.tokenRequests == 1)
    }

    @Test func missingCredentialsAreDiagnosed() async throws {
        let sim = try await SimHarness.start()
        let p = provider(sim, store: envStore(secret: ""))
        #expect(await diagnosis { _ = try await p.token() } == .credentialsMissing)
    }

    @Test func aDamagedOrForeignEntryIsIgnored() async throws {
        let sim = try await SimHarness.start()
        let dir = tempDir()
        _ = try await provider(sim, dir: dir).token()
        var file = try #require(try SecureFiles.read(dir + "/tokens/default.sandbox.token", limit: 4096))
        file[file.count - 3] ^= 1
        try SecureFiles.atomicWrite(dir + "/tokens/default.sandbox.token", bytes: file)
        _ = try await provider(sim, dir: dir).token()
        #expect(await sim.tokenRequests == 2)
        try SecureFiles.atomicWrite(dir + "/keys/token-cache.key", bytes: Sodium.randomBytes(32))
        _ = try await provider(sim, dir: dir).token()
        #expect(await sim.tokenRequests == 3)
    }

    @Test func invalidateDropsOnlyThatToken() async throws {
        let sim = try await SimHarness.start()
        let dir = tempDir()
        let old = try await provider(sim, dir: dir).token()
        let new = try await provider(sim, dir: dir).token(refresh: true)
        try await provider(sim, dir: dir).invalidate(old)
        #expect(try await provider(sim, dir: dir).token().value == new.value)
        try await provider(sim, dir: dir).invalidate(new)
        #expect(try await provider(sim, dir: dir).token().value != new.value)
        #expect(try provider(sim, dir: dir).clear())
        #expect(try !provider(sim, dir: dir).clear())
    }
}

final class Clock: @unchecked Sendable {
    private let lock = NSLock()
    private var now = Int64(Date().timeIntervalSince1970)
    func advance(_ s: Int64) { lock.withLock { now += s } }
    var read: @Sendable () -> Int64 { { [self] in lock.withLock { now } } }
}

struct CountingPassphrase: PassphraseSource {
    func passphrase(_ purpose: PassphrasePurpose) throws -> SecretBytes { SecretBytes(utf8: "correct horse battery") }
}

struct RefusingPassphrase: PassphraseSource {
    func passphrase(_ purpose: PassphrasePurpose) throws -> SecretBytes {
        throw Failure.vaultLocked("asked for the passphrase", fr: "phrase de passe demandée")
    }
}
