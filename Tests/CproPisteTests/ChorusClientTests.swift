import CproHTTP
import Foundation
@testable import PisteSim
import Testing
@testable import CproCore
@testable import CproPiste
@testable import CproVault

@Suite struct ChorusClientTests {
    func client(_ sim: SimHarness, dir: String = tempDir(), password: String = Simulator.defaultTechPassword) throws -> ChorusClient {
        let account = try CproAccount.encode(login: SecretBytes(utf8: Simulator.defaultTechLogin), password: SecretBytes(utf8: password))
        return ChorusClient(transport: AHCTransport(environment: testBudget), tokens: provider(sim, dir: dir), endpoints: sim.endpoints,
                            cproAccount: account, policy: fastRetries)
    }

    let rattachements = "utilisateurs/v1/monCompte/recuperer/rattachements"
    let body = Array(#"{"parametresRecherche":{"nbResultatsParPage":100,"pageResultatDemandee":1}}"#.utf8)

    @Test func sendsBothAuthenticationsAndReadsTheEnvelope() async throws {
        let sim = try await SimHarness.start()
        let answer = try await client(sim).post(rattachements, json: body)
        #expect(answer.codeRetour == 0)
        #expect((answer.object["listeStructureRattachement"] as? [Any])?.count == 3)
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
        } catch let e as PisteError {
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
        } catch let e as PisteError {
            #expect(e.api == "structures")
        }
        #expect(try await client(sim).post(rattachements, json: body).codeRetour == 0, "other APIs still pass")
    }
}

@Suite struct ServerTextTests {
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
