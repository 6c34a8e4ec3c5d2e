import CproHTTP
import Foundation
@testable import PisteSim
import Testing
@testable import CproCore
@testable import CproPiste
@testable import CproVault

@Suite(.timeLimit(.minutes(10))) struct ChorusClientTests {
    func client(_ sim: SimHarness, dir: String = tempDir(), password: String = Simulator.defaultTechPassword) throws -> ChorusClient {
        let account = try CproAccount.encode(login: SecretBytes(utf8: Simulator.defaultTechLogin), password: SecretBytes(utf8: password))
        return ChorusClient(transport: AHCTransport(environment: testBudget), tokens: provider(sim, dir: dir), endpoints: sim.endpoints,
                            cproAccount: account, policy: fastRetries)
    }

    let rattachements = "utilisateurs/v1/monCompte/recuperer/rattachements"
    let body = Array(#"{"parametresRecherche":{"nbResultatsParPage":100,"pageResultatDemandee":1}}"#.utf8)

    /// JSON is UTF-8: an answer that is not (a proxy's page in Latin-1, a
    /// corrupted body) is unexpected_response, even when the bytes the
    /// envelope reads would pass: typed answers read other fields as well.
    @Test(arguments: [
        #"{"codeRetour":0,"libelle":"é"}"#, #"{"listeStructureRattachement":[],"x":"þ"}"#,
    ])
    func anAnswerThatIsNotUTF8IsUnexpected(_ text: String) throws {
        // Latin-1 bytes: é and þ become single bytes, invalid in UTF-8.
        let latin1 = { (s: String) in s.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) } }
        let body = latin1(text)
        #expect(String(validating: body, as: UTF8.self) == nil)
        let endpoints = Endpoints(oauthURL: "https://oauth.test", apiURL: "https://api.test/cpro")
        #expect {
            try ChorusClient.interpret(HTTPResponse(status: 200, body: body), path: rattachements, endpoints: endpoints)
        } throws: { ($0 as? Failure)?.diagnosis == .unexpectedResponse }
        let token = latin1(#"{"access_token":"t0k","token_type":"Bearer","x":"é"}"#)
        #expect {
            try TokenClient.interpret(HTTPResponse(status: 200, body: token), receivedAt: 0, host: "h", attempts: 1)
        } throws: { ($0 as? Failure)?.diagnosis == .unexpectedResponse }
    }

    @Test func sendsBothAuthenticationsAndReadsTheEnvelope() async throws {
        let sim = try await SimHarness.start()
        let answer = try await client(sim).post(rattachements, json: body)
        #expect(answer.codeRetour == 0)
        #expect(try answer.decode(LinkedStructuresPage.self).structures.count == 3)
    }

    @Test func aRevokedTokenIsRefreshedOnceAndTheCallRetried() async throws {
        let sim = try await SimHarness.start()
        let dir = tempDir()
        _ = try await client(sim, dir: dir).post(rattachements, json: body)
        _ = await sim.sim.handle(.init(method: "POST", path: "/_sim/revoke", headers: [:], body: []))
        let answer = try await client(sim, dir: dir).post(rattachements, json: body)
        #expect(answer.codeRetour == 0)
        #expect(await sim.tokenRequests == 2)
        #expect(await sim.sim.apiRequests == 3)
    }

    @Test func aTokenStillRefusedAfterRefreshIsNotRetriedForever() async throws {
        let sim = try await SimHarness.start()
        await sim.configure(["api": ["utilisateurs": "token_rejected"]])
        #expect(await diagnosis { _ = try await client(sim).post(rattachements, json: body) } == .oauthRejected)
        #expect(await sim.sim.apiRequests == 2)
    }

    @Test(arguments: [
        ("tech_rejected", Diagnosis.techAccountRejected), ("forbidden_403", .apiAccessDenied),
        ("code_retour_200", .chorusError), ("code_retour_400", .chorusError),
        ("malformed", .unexpectedResponse), ("server_error", .unreachable),
    ])
    func failuresMapToDiagnoses(_ behaviour: String, _ expected: Diagnosis) async throws {
        let sim = try await SimHarness.start()
        await sim.configure(["api": ["utilisateurs": behaviour]])
        #expect(await diagnosis { _ = try await client(sim).post(rattachements, json: body) } == expected)
    }

    @Test func wrongTechnicalPasswordIsNotRetried() async throws {
        let sim = try await SimHarness.start()
        #expect(await diagnosis { _ = try await client(sim, password: "wrong").post(rattachements, json: body) } == .techAccountRejected)
        #expect(await sim.sim.apiRequests == 1)
        #expect(await sim.tokenRequests == 1)
    }

    @Test func chorusErrorsCarryTheLibelle() async throws {
        let sim = try await SimHarness.start()
        await sim.configure(["api": ["utilisateurs": "code_retour_400"]])
        do {
            _ = try await client(sim).post(rattachements, json: body)
            Issue.record("a codeRetour 400 was accepted")
        } catch let e as Failure {
            #expect(e.libelle?.contains("GCU_MSG_05_003") == true)
            #expect(e.status == 400)
        }
    }

    @Test func forbiddenNamesTheAPI() async throws {
        let sim = try await SimHarness.start()
        await sim.configure(["api": ["structures": "forbidden_403"]])
        do {
            _ = try await client(sim).post("structures/v1/rechercher", json: Array("{}".utf8))
            Issue.record("accepted")
        } catch let e as Failure {
            #expect(e.api == "structures")
        }
        #expect(try await client(sim).post(rattachements, json: body).codeRetour == 0, "other APIs still pass")
    }
}

@Suite(.timeLimit(.minutes(10))) struct ServerTextTests {
    /// What a hostile server could put in a structure name or a libelle to
    /// rewrite the user's terminal: C0, C1 (8-bit CSI), bidi overrides.
    @Test func controlsAndBidiOverridesNeverReachATerminal() {
        let hostile = "Mairie\u{1B}[2J\u{9B}31m\u{202E}evil\u{2066}x\u{2069}\u{200F}\u{061C}\u{85}end\r\nnext"
        let shown = ServerText.oneLine(hostile)
        #expect(!shown.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) })
        #expect(!shown.unicodeScalars.contains { [0x202E, 0x2066, 0x2069, 0x200F, 0x061C].contains($0.value) })
        #expect(shown.hasPrefix("Mairie") && shown.contains("evil") && shown.hasSuffix("next"))
        #expect(ServerText.oneLine("Établissement public — Hôpital") == "Établissement public — Hôpital")
    }
}

/// A gateway inside the test: tokens from any token URL, and every other
/// request recorded (a real one would have left the machine).
final class RecordingGateway: HTTPTransport, @unchecked Sendable {
    private let lock = NSLock()
    private var urls: [String] = []
    var sent: [String] { lock.withLock { urls } }
    var apiCalls: [String] { sent.filter { !$0.hasSuffix("/api/oauth/token") } }
    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        lock.withLock { urls.append(request.url) }
        if request.url.hasSuffix("/api/oauth/token") {
            return HTTPResponse(status: 200, headers: [("Content-Type", "application/json")],
                                body: Array(#"{"access_token":"test-token","token_type":"Bearer","expires_in":3600}"#.utf8))
        }
        return HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: Array(#"{"codeRetour":0,"libelle":"ok"}"#.utf8))
    }
}

@Suite(.timeLimit(.minutes(10))) struct RetiredGatewayTests {
    static let retired = Endpoints(oauthURL: "https://sandbox-oauth.aife.economie.gouv.fr", apiURL: "https://sandbox-api.aife.economie.gouv.fr/cpro")

    @Test func noTokenRequestGoesToTheRetiredGateway() async throws {
        let gateway = RecordingGateway()
        let client = TokenClient(transport: gateway, policy: fastRetries)
        do {
            _ = try await client.fetch(clientID: SecretBytes(utf8: "id"), clientSecret: SecretBytes(utf8: "secret"), endpoints: Self.retired)
            Issue.record("a token request to the retired gateway was not refused")
        } catch let e as Failure {
            #expect(e.diagnosis == .wrongEndpoint)
            #expect(e.message(.en).contains("shut down in September 2023") && e.message(.en).contains("nothing was sent"), "\(e.message(.en))")
            #expect(e.message(.fr).contains("septembre 2023"))
        }
        #expect(gateway.sent.isEmpty, "\(gateway.sent)")
        // The same client on the PISTE host does send: the refusal is the host's alone.
        _ = try await client.fetch(clientID: SecretBytes(utf8: "id"), clientSecret: SecretBytes(utf8: "secret"),
                                   endpoints: Endpoints(oauthURL: "https://sandbox-oauth.piste.gouv.fr", apiURL: "https://sandbox-api.piste.gouv.fr/cpro"))
        #expect(gateway.sent == ["https://sandbox-oauth.piste.gouv.fr/api/oauth/token"])
    }

    @Test func noAPICallGoesToTheRetiredGateway() async throws {
        for api in [Self.retired.apiURL, "https://sandbox-api.piste.gouv.fr/cpro"] {
            let gateway = RecordingGateway()
            let dir = tempDir()
            let endpoints = Endpoints(oauthURL: "https://sandbox-oauth.piste.gouv.fr", apiURL: api)
            let tokens = TokenProvider(
                store: envStore(), profile: .default, environment: .sandbox, endpoints: endpoints,
                directory: dir + "/tokens", keyDirectory: dir + "/keys",
                client: TokenClient(transport: gateway, policy: fastRetries))
            let client = ChorusClient(transport: gateway, tokens: tokens, endpoints: endpoints, cproAccount: SecretBytes(utf8: "bG9naW46cGFzcw=="))
            let d = await diagnosis { _ = try await client.post("utilisateurs/v1/monCompte/recuperer/rattachements", json: Array("{}".utf8)) }
            if api == Self.retired.apiURL {
                #expect(d == .wrongEndpoint)
                #expect(gateway.apiCalls.isEmpty, "\(gateway.sent)")
            } else {
                #expect(d == nil)
                #expect(gateway.apiCalls == ["https://sandbox-api.piste.gouv.fr/cpro/utilisateurs/v1/monCompte/recuperer/rattachements"], "\(gateway.sent)")
            }
        }
    }

    @Test func onlyTheHostCounts() {
        #expect(Endpoints.isRetired("https://sandbox-api.aife.economie.gouv.fr/cpro/x"))
        #expect(Endpoints.isRetired("https://AIFE.economie.gouv.fr"))
        #expect(!Endpoints.isRetired("https://api.piste.gouv.fr/cpro/aife.economie.gouv.fr"))
        #expect(!Endpoints.isRetired("https://notaife.economie.gouv.fr"))
    }
}
