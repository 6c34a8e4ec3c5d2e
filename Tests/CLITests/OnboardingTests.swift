import Foundation
import TestSupport
import Testing

@Suite(.timeLimit(.minutes(10))) struct HealthAndCheckTests {
    func json(_ r: Cli.Result) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stdout) \(r.stderr)")
    }

    @Test func healthyReportsTheStructures() async throws {
        let sim = try await SimProcess()
        try await sim.configure(["structures": 150])
        let cli = try await Cli.withSim(sim)
        let r = try await cli.run(["health", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let o = try json(r)
        #expect(o["status"] as? String == "ok" && o["diagnosis"] as? String == "ok")
        #expect(o["environment"] as? String == "sandbox" && o["profile"] as? String == "default")
        let structures = try #require(o["structures"] as? [[String: Any]])
        #expect(structures.count == 150, "both pages of 100")
        #expect(structures[0]["identifiantStructure"] as? String != nil && structures[0]["idStructure"] as? Int != nil)
        let human = try await cli.run(["health"])
        #expect(human.stdout.hasPrefix("OK default / sandbox"))
    }

    /// Every behaviour piste-sim can play: the diagnosis, the failing step,
    /// the exit status.
    @Test(arguments: [
        (#"{"token": "invalid_client_400"}"#, "oauth_invalid_client", "piste-application", 2),
        (#"{"token": "invalid_client_401"}"#, "oauth_invalid_client", "piste-application", 2),
        (#"{"token": "no_subscription_401"}"#, "oauth_rejected", "piste-application", 2),
        // An outage, or something else answering, is the connection's step
        // wherever it happens: nothing faulted the PISTE application.
        (#"{"token": "malformed"}"#, "unexpected_response", "authentication", 3),
        (#"{"token_fail": {"status": 503, "count": 99}}"#, "unreachable", "authentication", 2),
        (#"{"api": {"utilisateurs": "tech_rejected"}}"#, "tech_account_rejected", "technical-account", 2),
        (#"{"api": {"utilisateurs": "forbidden_403"}}"#, "api_access_denied", "cgu-consent", 2),
        (#"{"api": {"factures": "forbidden_403"}}"#, "api_access_denied", "cgu-consent", 2),
        (#"{"api": {"utilisateurs": "code_retour_200"}}"#, "chorus_error", "first-request", 2),
        (#"{"api": {"utilisateurs": "code_retour_400"}}"#, "chorus_error", "first-request", 2),
        (#"{"api": {"utilisateurs": "malformed"}}"#, "unexpected_response", "first-request", 3),
        (#"{"api": {"utilisateurs": "unknown_path"}}"#, "wrong_endpoint", "authentication", 2),
        (#"{"api": {"structures": "forbidden_403"}}"#, "api_access_denied", "cgu-consent", 2),
        (#"{"api": {"transverses": "forbidden_403"}}"#, "api_access_denied", "cgu-consent", 2),
        (#"{"api": {"utilisateurs": "server_error"}}"#, "unreachable", "authentication", 2),
        (#"{"api": {"utilisateurs": "token_rejected"}}"#, "oauth_rejected", "piste-application", 2),
    ] as [(String, String, String, Int32)])
    func everyFailureNamesItsStep(_ behaviour: String, _ diagnosis: String, _ step: String, _ status: Int32) async throws {
        let sim = try await SimProcess()
        try await sim.configure(try #require(try JSONSerialization.jsonObject(with: Data(behaviour.utf8)) as? [String: Any]))
        let cli = try await Cli.withSim(sim)
        let r = try await cli.run(["onboard", "--check", "--json"])
        #expect(r.status == status, "\(r.stderr)")
        let o = try json(r)
        #expect(o["diagnosis"] as? String == diagnosis)
        #expect(o["ready"] as? Bool == false)
        let steps = try #require(o["steps"] as? [[String: Any]])
        #expect(steps.map { $0["id"] as? String } == ["piste-account", "cgu-consent", "piste-application", "technical-account", "raccordement", "authentication", "first-request"])
        let failed = steps.filter { $0["status"] as? String == "failed" }
        #expect(failed.count == 1)
        #expect(failed.first?["id"] as? String == step)
        #expect(failed.first?["diagnosis"] as? String == diagnosis)
        #expect((failed.first?["hint"] as? String)?.isEmpty == false)
        let after = steps.drop { $0["status"] as? String != "failed" }.dropFirst()
        #expect(after.allSatisfy { $0["status"] as? String == "skipped" })
    }

    @Test func healthUsesTheSameDiagnosesAndMonitoringExitCodes() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        try await sim.configure(["api": ["utilisateurs": "tech_rejected"]])
        let r = try await cli.run(["health", "--json"])
        #expect(r.status == 2)
        let o = try json(r)
        #expect(o["status"] as? String == "critical" && o["diagnosis"] as? String == "tech_account_rejected")
        #expect(o["step"] as? String == "technical-account")
    }

    /// A password whose header holds `+`, `/` and `=`: the simulator decodes
    /// the standard alphabet only, as PISTE does, so a URL-safe encoder would
    /// be tech_account_rejected here.
    @Test func aPasswordEncodingToPlusSlashAndPaddingIsAccepted() async throws {
        let sim = try await SimProcess()
        let password = "p>?>?~~~"
        try await sim.configure(["accounts": [Cli.simTechLogin: password]])
        let cli = try await Cli.withSim(sim)
        let set = try await cli.run(["creds", "set", "--stdin", "tech-password"], stdin: Array(password.utf8))
        #expect(set.status == 0, "\(set.stderr)")
        let header = try await cli.run(["creds", "get", "cpro-account"])
        #expect(header.stdout == "VEVDSF8xXzAwMDAwMDAwMDAwMDAwQGNwcm8uZnI6cD4/Pj9+fn4=\n", "\(header.stdout)")
        let r = try await cli.run(["health", "--json"])
        #expect(r.status == 0, "\(r.stdout)")
        #expect(try json(r)["diagnosis"] as? String == "ok")
    }

    @Test func aForbiddenAPIIsNamed() async throws {
        let sim = try await SimProcess()
        try await sim.configure(["api": ["structures": "forbidden_403", "transverses": "forbidden_403"]])
        let cli = try await Cli.withSim(sim)
        let o = try json(try await cli.run(["onboard", "--check", "--json"]))
        #expect(o["refused_apis"] as? [String] == ["structures", "transverses"])
        #expect((o["message"] as? String)?.contains("structures, transverses") == true)
    }

    @Test func missingValuesPointAtTheirStep() async throws {
        let sim = try await SimProcess()
        var cli = Cli()
        cli.env.merge(sim.env) { $1 }
        let noneRun = try await cli.run(["onboard", "--check", "--json"])
        #expect(noneRun.status == 2, "credentials_missing is CRITICAL: \(noneRun.stdout)")
        let none = try json(noneRun)
        #expect(none["diagnosis"] as? String == "credentials_missing")
        let health = try await cli.run(["health"])
        #expect(health.status == 2 && health.stdout.hasPrefix("CRITICAL default / sandbox: credentials_missing: "), "\(health.stdout)")
        #expect((none["steps"] as? [[String: Any]])?.first { $0["status"] as? String == "failed" }?["id"] as? String == "piste-application")
        let imported = try await cli.run(["creds", "import"], stdin: Array(try JSONSerialization.data(withJSONObject: ["PISTE_CLIENT_ID": Cli.simClientID, "PISTE_CLIENT_SECRET": Cli.simClientSecret])))
        #expect(imported.status == 0, "\(imported.stderr)")
        let halfRun = try await cli.run(["onboard", "--check", "--json"])
        #expect(halfRun.status == 2)
        let half = try json(halfRun)
        let steps = try #require(half["steps"] as? [[String: Any]])
        #expect(steps.first { $0["status"] as? String == "failed" }?["id"] as? String == "technical-account")
        #expect(steps[0]["status"] as? String == "ok" && steps[2]["status"] as? String == "ok", "the token proved the PISTE side")
    }

    @Test func aLockedVaultIsVaultLockedAndUnknown() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        let r = try await cli.run(["health", "--json"], env: ["CPRO_VAULT_PASSPHRASE": "wrong passphrase"])
        #expect(r.status == 3)
        #expect(try json(r)["diagnosis"] as? String == "vault_locked")
        let noTTY = try await cli.run(["onboard", "--json"], env: ["CPRO_VAULT_PASSPHRASE": ""])
        #expect(noTTY.status == 3, "never waits for input: \(noTTY.stderr)")
        #expect(try json(noTTY)["diagnosis"] as? String == "vault_locked")
    }

    /// The checker builds its report without a language; every text in it
    /// (message, hints, warnings, notes) is rendered by the command in the
    /// reader's. Checked on a failure from the wire, on a warning and note,
    /// and on the steps' hints.
    @Test func reportsAreRenderedInTheReadersLanguage() async throws {
        let sim = try await SimProcess()
        try await sim.configure(["api": ["utilisateurs": "tech_rejected"]])
        let cli = try await Cli.withSim(sim)
        let en = try json(try await cli.run(["onboard", "--check", "--json"]))
        let fr = try json(try await cli.run(["onboard", "--check", "--json"], env: ["LANG": "fr_FR.UTF-8"]))
        #expect(en["diagnosis"] as? String == "tech_account_rejected" && fr["diagnosis"] as? String == "tech_account_rejected")
        let (enMessage, frMessage) = (try #require(en["message"] as? String), try #require(fr["message"] as? String))
        #expect(enMessage != frMessage, "\(enMessage) / \(frMessage)")
        #expect(frMessage.contains("compte technique") || frMessage.contains("refus"), "\(frMessage)")
        let hints = { (o: [String: Any]) in (o["steps"] as? [[String: Any]] ?? []).map { $0["hint"] as? String ?? "" } }
        #expect(hints(fr).contains { $0.contains("Vérifiez tech-login") }, "\(hints(fr))")
        #expect(hints(en).contains { $0.contains("Check tech-login") }, "\(hints(en))")
        #expect(hints(fr).contains { $0.contains("vérifié une fois l'étape en échec corrigée") })

        let soon = Int64(Date().timeIntervalSince1970) + 10 * 86_400
        let sim2 = try await SimProcess()
        try await sim2.configure(["password_expiry": String(soon.rfc3339.prefix(10))])
        let cli2 = try await Cli.withSim(sim2)
        #expect(try await cli2.run(["config", "set", "siret", "73282932000074", "--env", "sandbox"]).status == 0)
        let warned = try json(try await cli2.run(["health", "--json", "--lang", "fr"]))
        #expect(warned["diagnosis"] as? String == "password_expiring")
        #expect((warned["message"] as? String)?.contains("expire dans") == true, "\(warned)")
        #expect((warned["warnings"] as? [String])?.allSatisfy { $0.contains("expire dans") } == true, "\(warned)")
        #expect((warned["notes"] as? [String])?.first?.contains("normal en sandbox") == true, "\(warned)")
        let human = try await cli2.run(["health", "--lang", "fr"])
        #expect(human.stdout.contains("expire dans") && human.stderr.contains("normal en sandbox"), "\(human.stdout) \(human.stderr)")
    }

    @Test func passwordCloseToRotationIsAWarning() async throws {
        let sim = try await SimProcess()
        let soon = Int64(Date().timeIntervalSince1970) + 10 * 86_400
        try await sim.configure(["password_expiry": String(soon.rfc3339.prefix(10))])
        let cli = try await Cli.withSim(sim)
        let r = try await cli.run(["health", "--json"])
        #expect(r.status == 1)
        let o = try json(r)
        #expect(o["status"] as? String == "warning" && o["diagnosis"] as? String == "password_expiring")
        #expect((o["structures"] as? [Any])?.count == 3, "the check itself passed")
    }

    /// The retired gateway is refused before any request: the test itself
    /// never leaves 127.0.0.1 (a proxy on loopback would see any attempt).
    @Test func theRetiredGatewayIsRefusedWithoutAnyRequest() async throws {
        var cli = Cli()
        try await cli.storeSimCredentials()
        // A listener on loopback that counts the connections it accepts, as the proxy.
        let counter = try await ConnectionCounter()
        defer { counter.stop() }
        cli.env["https_proxy"] = "http://127.0.0.1:\(counter.port)"
        cli.env["CPRO_TIMEOUT"] = "5"
        let control = try await cli.run(["token"], env: ["PISTE_OAUTH_URL": "https://sandbox-oauth.piste.gouv.fr"])
        #expect(control.status == 1 && counter.connections() >= 1, "the proxy does see an attempt to a live host: \(control.stderr)")
        let seen = counter.connections()
        try "[profiles.default.sandbox]\noauth_url = \"https://sandbox-oauth.aife.economie.gouv.fr\"\napi_url = \"https://sandbox-api.aife.economie.gouv.fr/cpro\"\n".write(toFile: cli.home + "/config.toml", atomically: true, encoding: .utf8)
        let r = try await cli.run(["health", "--json"])
        #expect(r.status == 2, "\(r.stdout)\(r.stderr)")
        let o = try json(r)
        #expect(o["diagnosis"] as? String == "wrong_endpoint", "\(o)")
        #expect((o["message"] as? String)?.contains("aife.economie.gouv.fr") == true && (o["message"] as? String)?.contains("2023") == true, "\(o)")
        let token = try await cli.run(["token"])
        #expect(token.status == 1 && token.stderr.contains("nothing was sent"), "\(token.stderr)")
        #expect(counter.connections() == seen, "no request reached anything, not even the proxy")
    }

    @Test func allChecksEveryEnvironmentConcurrently() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        try await cli.storeSimCredentials(env: "production")
        try await cli.storeSimCredentials(profile: "acme")
        try await sim.configure(["api_delay_ms": 1500])
        let r = try await cli.run(["health", "--all", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let o = try json(r)
        let checks = try #require(o["checks"] as? [[String: Any]])
        #expect(checks.count == 3)
        #expect(Set(checks.map { "\($0["profile"]!)/\($0["environment"]!)" }) == ["default/sandbox", "default/production", "acme/sandbox"])
        // Each check waits 1.5 s on its API call; they overlapped (timings are
        // measured by scripts/bench, not asserted on a shared machine).
        #expect(try await sim.admin("/_sim/stats")["max_in_flight"] as? Int ?? 0 >= 2)
        try await sim.configure(["api_delay_ms": 0, "api": ["utilisateurs": "tech_rejected"]])
        let bad = try await cli.run(["health", "--all", "--json"])
        #expect(bad.status == 2)
        #expect(try json(bad)["status"] as? String == "critical")
    }
}

@Suite(.timeLimit(.minutes(10))) struct WizardTests {
    @Test func guidedSetupVerifiesAndSavesWithoutEchoingSecrets() async throws {
        let sim = try await SimProcess()
        var cli = Cli()
        cli.env.merge(sim.env) { $1 }
        let r = try await cli.interactive(["onboard", "--env", "sandbox"], [
            .expect("New vault passphrase"), .send(Cli.passphrase), .expect("Same passphrase again"), .send(Cli.passphrase),
            .expect("PISTE client ID"), .send(Cli.simClientID),
            .expect("PISTE client secret"), .send(Cli.simClientSecret),
            .expect("accepted the client ID and secret"),
            .expect("technical account login"), .send(Cli.simTechLogin),
            .expect("technical account password"), .send(Cli.simTechPassword),
            .expect("When was this technical password set"), .send("2025-12-24"),
            .expect("is ready"),
        ])
        #expect(r.status == 0, "\(r.stdout)")
        #expect(!r.stdout.contains(Cli.simClientSecret) && !r.stdout.contains(Cli.simTechPassword) && !r.stdout.contains(Cli.passphrase))
        #expect(try await cli.run(["config", "get", "tech_password_changed_at"]).stdout == "2025-12-24\n", "the optional date is recorded")
        #expect(r.stdout.contains("Structure de test 1"))
        #expect(try await cli.run(["creds", "get", "tech-password"]).stdout == Cli.simTechPassword + "\n")
    }

    @Test func anInterruptedRunResumesWhereItStopped() async throws {
        let sim = try await SimProcess()
        var cli = Cli()
        cli.env.merge(sim.env) { $1 }
        try await cli.must(["vault", "init"])
        let first = try await cli.interactive(["onboard", "--env", "sandbox"], [
            .expect("Passphrase for"), .send(Cli.passphrase),
            .expect("PISTE client ID"), .send(Cli.simClientID),
            .expect("PISTE client secret"), .send(Cli.simClientSecret),
            .expect("technical account login"), .interrupt,
        ])
        #expect(first.status != 0)
        #expect(try await cli.run(["creds", "get", "client-secret"]).stdout == Cli.simClientSecret + "\n", "verified values were saved")
        let second = try await cli.interactive(["onboard", "--env", "sandbox"], [
            .expect("Passphrase for"), .send(Cli.passphrase),
            .expect("already stored"),
            .expect("technical account login"), .send(Cli.simTechLogin),
            .expect("technical account password"), .send(Cli.simTechPassword),
            .expect("When was this technical password set"), .send(""),
            .expect("is ready"),
        ])
        #expect(second.status == 0, "\(second.stdout)")
        #expect(!second.stdout.contains("PISTE client ID:"), "not asked again")
    }

    @Test func nothingUnverifiedIsSavedUnlessAskedAndThenItIsMarked() async throws {
        let sim = try await SimProcess()
        var cli = Cli()
        cli.env.merge(sim.env) { $1 }
        try await cli.must(["vault", "init"])
        let quit = try await cli.interactive(["onboard", "--env", "sandbox"], [
            .expect("Passphrase for"), .send(Cli.passphrase),
            .expect("PISTE client ID"), .send(Cli.simClientID),
            .expect("PISTE client secret"), .send("a wrong secret"),
            .expect("client ID or secret"), .expect("[q]uit"), .send("q"),
        ])
        #expect(quit.status == 1)
        #expect(try await cli.run(["creds", "get", "client-secret"]).status == 1, "a refused secret is not saved")

        let insist = try await cli.interactive(["onboard", "--env", "sandbox"], [
            .expect("Passphrase for"), .send(Cli.passphrase),
            .expect("PISTE client ID"), .send(Cli.simClientID),
            .expect("PISTE client secret"), .send("a wrong secret"),
            .expect("[q]uit"), .send("s"),
            .expect("marked unverified"),
            .expect("technical account login"), .send(Cli.simTechLogin),
            .expect("technical account password"), .send(Cli.simTechPassword),
            .expect("[q]uit"), .send("s"),
            .expect("marked unverified"),
            .expect("Not ready"),
        ])
        #expect(insist.status == 1, "saved, but not ready: \(insist.stdout)")
        #expect(try await cli.run(["creds", "get", "client-secret"]).stdout == "a wrong secret\n")
        let config = try String(contentsOfFile: cli.home + "/config.toml", encoding: .utf8)
        #expect(config.contains("unverified = \"client-id,client-secret,tech-login,tech-password\""), "both saves are marked: \(config)")

        // Once the right secret is given and verified, its mark goes.
        try await cli.must(["creds", "set", "--stdin", "client-secret"], stdin: Array(Cli.simClientSecret.utf8))
        let fixed = try await cli.interactive(["onboard", "--env", "sandbox"], [
            .expect("Passphrase for"), .send(Cli.passphrase), .expect("is ready"),
        ])
        #expect(fixed.status == 0, "\(fixed.stdout)")
        let after = try String(contentsOfFile: cli.home + "/config.toml", encoding: .utf8)
        #expect(!after.contains("unverified"), "\(after)")
    }

    @Test func retypingAfterARefusalThenSucceeding() async throws {
        let sim = try await SimProcess()
        var cli = Cli()
        cli.env.merge(sim.env) { $1 }
        try await cli.must(["vault", "init"])
        let r = try await cli.interactive(["onboard", "--env", "sandbox"], [
            .expect("Passphrase for"), .send(Cli.passphrase),
            .expect("PISTE client ID"), .send(Cli.simClientID),
            .expect("PISTE client secret"), .send("typo"),
            .expect("[q]uit"), .send("e"),
            .expect("PISTE client ID"), .send(Cli.simClientID),
            .expect("PISTE client secret"), .send(Cli.simClientSecret),
            .expect("accepted"),
            .expect("technical account login"), .send(Cli.simTechLogin),
            .expect("technical account password"), .send("wrong password"),
            .expect("refused the technical login or password"), .expect("[q]uit"), .send("e"),
            .expect("technical account login"), .send(Cli.simTechLogin),
            .expect("technical account password"), .send(Cli.simTechPassword),
            .expect("When was this technical password set"), .send("yesterday"),
            .expect("a date such as"), .expect("When was this technical password set"), .send(""),
            .expect("is ready"),
        ])
        #expect(r.status == 0, "\(r.stdout)")
        #expect(try await cli.run(["health"]).status == 0)
        let today = String(Int64(Date().timeIntervalSince1970).rfc3339.prefix(10))
        #expect(try await cli.run(["config", "get", "tech_password_changed_at"]).stdout == today + "\n", "Enter records today")
    }

    @Test func productionIsOfferedAfterTheSandbox() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        let r = try await cli.interactive(["onboard"], [
            .expect("Passphrase for"), .send(Cli.passphrase),
            .expect("is ready"),
            .expect("Set up production now?"), .send("n"),
            .expect("cpro onboard --env production"),
        ])
        #expect(r.status == 0, "\(r.stdout)")
    }

    @Test func frenchWizard() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        let r = try await cli.interactive(["onboard", "--env", "sandbox"], [
            .expect("Phrase de passe de"), .send(Cli.passphrase),
            .expect("déjà enregistrés"),
            .expect("est prêt"),
        ], env: ["LANG": "fr_FR.UTF-8"])
        #expect(r.status == 0, "\(r.stdout)")
    }
}

/// A TCP listener on 127.0.0.1 that accepts, counts and closes connections.
final class ConnectionCounter: @unchecked Sendable {
    let port: Int
    let countFile: String
    let child: Child

    init() async throws {
        let dir = NSTemporaryDirectory() + "counter-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        countFile = dir + "/count"
        let script = """
            import socket, sys
            s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
            open(sys.argv[1] + ".port", "w").write(str(s.getsockname()[1]))
            n = 0
            while True:
                c, _ = s.accept(); n += 1
                open(sys.argv[1], "w").write(str(n)); c.close()
            """
        FileManager.default.createFile(atPath: dir + "/out", contents: nil)
        child = try Child(["/usr/bin/env", "python3", "-c", script, countFile], environment: ["PATH": "/usr/bin:/bin"], stdout: dir + "/out")
        var found: Int?
        for _ in 0..<200 {
            if let text = try? String(contentsOfFile: countFile + ".port", encoding: .utf8), let p = Int(text) { found = p; break }
            try await Task.sleep(nanoseconds: 25_000_000)
        }
        guard let found else { child.terminate(); throw CounterDidNotStart() }
        port = found
    }

    struct CounterDidNotStart: Error {}

    func connections() -> Int { Int((try? String(contentsOfFile: countFile, encoding: .utf8)) ?? "0") ?? 0 }
    func stop() { child.terminate() }
}
