import Foundation
import TestSupport
import Testing

func jsonObject(_ r: Cli.Result) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stdout) \(r.stderr)")
}

/// What the real gateway answers (shared/spec/piste-facts.md), played by
/// piste-sim, and the diagnosis each answer must lead to.
@Suite(.timeLimit(.minutes(10))) struct RealGatewayDiagnosisTests {
    /// Any 401 that does not name the login or password is about the token:
    /// dropped, one new token, one retry, then oauth_rejected.
    @Test(arguments: ["piste", "invalid_token", "none"])
    func aRefusedTokenIsRefreshedOnceThenOauthRejected(_ challenge: String) async throws {
        let sim = try await SimProcess()
        try await sim.configure(["token_challenge": challenge, "api": ["utilisateurs": "token_rejected"]])
        let cli = try await Cli.withSim(sim)
        let r = try await cli.run(["onboard", "--check", "--json"])
        #expect(r.status == 2, "\(r.stderr)")
        let o = try jsonObject(r)
        #expect(o["diagnosis"] as? String == "oauth_rejected")
        #expect(o["step"] as? String == "piste-application")
        #expect(try await sim.tokenRequests == 2, "one token, then exactly one more")
    }

    @Test func revokedTokensCostOneNewTokenForAllFourCalls() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        #expect(try await cli.run(["health"]).status == 0)
        try await sim.admin("/_sim/revoke")
        let r = try await cli.run(["health", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try await sim.tokenRequests == 2, "the four concurrent calls share one refresh")
    }

    /// DefaultRealm: PISTE has no API at that path. The token is kept, the call
    /// is not retried, and the technical account is not blamed.
    @Test func defaultRealmIsWrongEndpointAndKeepsTheToken() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        let token = try await cli.run(["token"]).stdout
        let r = try await cli.run(["api", "utilisateurs/v1/monCompte/recuperer/rattachement", "--json"])
        #expect(r.status == 1)
        let error = try #require(try jsonObject(r)["error"] as? [String: Any])
        #expect(error["diagnosis"] as? String == "wrong_endpoint")
        #expect((error["message"] as? String)?.contains("/cpro/utilisateurs/v1/monCompte/recuperer/rattachement") == true)
        #expect((error["message"] as? String)?.contains("https://api.piste.gouv.fr/cpro") == true, "names the expected shape")
        #expect(try await sim.apiRequests == 1, "no retry")
        #expect(try await sim.tokenRequests == 1)
        #expect(try await cli.run(["token"]).stdout == token, "the cached token is kept")

        try await sim.configure(["api": ["utilisateurs": "unknown_path"]])
        let check = try jsonObject(try await cli.run(["onboard", "--check", "--json"]))
        #expect(check["diagnosis"] as? String == "wrong_endpoint")
        let steps = try #require(check["steps"] as? [[String: Any]])
        #expect(steps.first { $0["id"] as? String == "technical-account" }?["status"] as? String != "failed")
    }

    @Test(arguments: ["factures", "structures", "utilisateurs", "transverses"])
    func eachRefusedAPIIsNamedAloneByHealth(_ api: String) async throws {
        let sim = try await SimProcess()
        try await sim.configure(["api": [api: "forbidden_403"]])
        let cli = try await Cli.withSim(sim)
        let r = try await cli.run(["health", "--json"])
        #expect(r.status == 2, "\(r.stderr)")
        let o = try jsonObject(r)
        #expect(o["diagnosis"] as? String == "api_access_denied")
        #expect(o["refused_apis"] as? [String] == [api])
        #expect((o["message"] as? String)?.contains(api) == true)
        let paths = try #require(try await sim.admin("/_sim/stats")["paths"] as? [String: Int])
        #expect(Set(paths.keys.compactMap { $0.split(separator: "/").dropFirst().first.map(String.init) }) == ["factures", "structures", "utilisateurs", "transverses"],
                "health probes all four APIs: \(paths)")
    }

    @Test func productionRefusalsNameTheRaccordement() async throws {
        let sim = try await SimProcess()
        try await sim.configure(["api": ["factures": "forbidden_403"]])
        let cli = try await Cli.withSim(sim, env: "production")
        let o = try jsonObject(try await cli.run(["onboard", "--check", "--json", "--env", "production"]))
        let failed = try #require((o["steps"] as? [[String: Any]])?.first { $0["status"] as? String == "failed" })
        #expect((failed["hint"] as? String)?.contains("Raccordements EDI/API") == true)
        try await sim.configure(["api": ["factures": "normal"]])
        let ok = try jsonObject(try await cli.run(["onboard", "--check", "--json", "--env", "production"]))
        let racc = (ok["steps"] as? [[String: Any]])?.first { $0["id"] as? String == "raccordement" }
        #expect(racc?["status"] as? String == "manual", "cpro cannot observe it")
        #expect((racc?["hint"] as? String)?.contains("Raccordements EDI/API") == true)
    }

    @Test func noStructuresWarns() async throws {
        let sim = try await SimProcess()
        try await sim.configure(["structures": 0])
        let cli = try await Cli.withSim(sim)
        let r = try await cli.run(["health", "--json"])
        #expect(r.status == 1, "\(r.stderr)")
        let o = try jsonObject(r)
        #expect(o["status"] as? String == "warning" && o["diagnosis"] as? String == "no_structures")
        #expect(o["step"] as? String == "technical-account")
    }

    @Test func anInactiveStructureWarnsAndIsNamed() async throws {
        let sim = try await SimProcess()
        try await sim.configure(["structure_status": "INACTIF"])
        let cli = try await Cli.withSim(sim)
        let r = try await cli.run(["health", "--json"])
        #expect(r.status == 1)
        let o = try jsonObject(r)
        #expect(o["diagnosis"] as? String == "structure_inactive")
        #expect((o["message"] as? String)?.contains("Structure de test 1") == true && (o["message"] as? String)?.contains("INACTIF") == true)
    }

    @Test func aConfiguredSiretMissingWarnsInProductionOnly() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim, env: "production")
        try await cli.storeSimCredentials()
        for env in ["production", "sandbox"] {
            #expect(try await cli.run(["config", "set", "siret", "73282932000074", "--env", env]).status == 0)
        }
        let prod = try await cli.run(["health", "--json", "--env", "production"])
        #expect(prod.status == 1)
        #expect(try jsonObject(prod)["diagnosis"] as? String == "structure_not_linked")
        let sandbox = try await cli.run(["health", "--json", "--env", "sandbox"])
        #expect(sandbox.status == 0, "a note in sandbox: \(sandbox.stderr)")
        #expect((try jsonObject(sandbox)["notes"] as? [String])?.first?.contains("73282932000074") == true)
        // A linked one passes.
        let linkedSiret = try #require((try jsonObject(prod)["structures"] as? [[String: Any]])?.first?["identifiantStructure"] as? String)
        #expect(try await cli.run(["config", "set", "siret", linkedSiret, "--env", "production"]).status == 0)
        let linked = try await cli.run(["health", "--json", "--env", "production"])
        #expect(linked.status == 0, "\(linked.stdout)")
    }

    @Test func passwordExpiryFromChorusInEpochMillisecondsOrDeclared() async throws {
        let sim = try await SimProcess()
        let soon = (Int64(Date().timeIntervalSince1970) + 5 * 86_400) * 1000
        try await sim.configure(["password_expiry_ms": Int(soon)])
        let cli = try await Cli.withSim(sim)
        let o = try jsonObject(try await cli.run(["health", "--json"]))
        #expect(o["diagnosis"] as? String == "password_expiring")
        #expect(o["password_expiry_source"] as? String == "chorus")
        try await sim.configure(["password_expiry": "2030-01-02T00:00:00.000+0000"])
        let iso = try jsonObject(try await cli.run(["health", "--json"]))
        #expect(iso["tech_password_expires_at"] as? String == "2030-01-02T00:00:00Z")

        try await sim.admin("/_sim/reset")
        let sim2 = try await SimProcess()
        let cli2 = try await Cli.withSim(sim2)
        #expect(try await cli2.run(["config", "set", "tech_password_changed_at", "2025-01-01"]).status == 0)
        let declared = try jsonObject(try await cli2.run(["health", "--json"]))
        #expect(declared["password_expiry_source"] as? String == "declared")
        #expect(declared["tech_password_expires_at"] as? String == "2026-02-29T00:00:00Z" || declared["tech_password_expires_at"] as? String == "2026-03-01T00:00:00Z")
        #expect(declared["diagnosis"] as? String == "password_expiring")
        let estimated = try jsonObject(try await cli.run(["health", "--json"]))
        #expect(estimated["password_expiry_source"] as? String == "estimated")
    }

    @Test func bothEndpointFormsWork() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        let r = try await cli.run(["health"], env: ["PISTE_OAUTH_URL": sim.base + "/api/oauth/token", "CPRO_API_URL": sim.base])
        #expect(r.status == 0, "\(r.stderr)")
        let before = try await sim.apiRequests
        let bad = try await cli.run(["health", "--json"], env: ["CPRO_API_URL": sim.base + "/api"])
        #expect(bad.status != 0 && bad.stdout.contains("/cpro"), "\(bad.stdout) \(bad.stderr)")
        #expect(try await sim.apiRequests == before, "the refused URL sent nothing")
    }

    @Test func environmentAliases() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim, env: "production")
        #expect(try await cli.run(["creds", "get", "client-id", "--env", "prod"]).stdout == Cli.simClientID + "\n")
        #expect(try await cli.run(["creds", "list", "--env", "qualif"]).status == 0)
    }
}

@Suite(.timeLimit(.minutes(10))) struct ConfigCommandTests {
    static let valid: [(String, String)] = [
        ("siret", "73282932000074"), ("api_url", "https://api.piste.gouv.fr"), ("oauth_url", "https://oauth.piste.gouv.fr/api/oauth/token"),
        ("tech_password_changed_at", "2026-03-31"), ("tech_password_rotation_days", "400"), ("backend", "secret-service"),
        ("token_refresh_margin", "120"), ("openbao_addr", "https://bao.example:8200"), ("openbao_mount", "kv"),
        ("openbao_prefix", "teams/billing"), ("openbao_namespace", "ns1"),
    ]

    @Test func everyKeyRoundTrips() async throws {
        let cli = Cli()
        try "# my settings, kept\n".write(toFile: cli.home + ".toml-unused", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: cli.home, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try "# my settings, kept\n".write(toFile: cli.home + "/config.toml", atomically: true, encoding: .utf8)
        chmod(cli.home + "/config.toml", 0o600)
        for (key, value) in Self.valid {
            let set = try await cli.run(["config", "set", key, value, "--env", "production", "--backend", "file"])
            #expect(set.status == 0, "\(key): \(set.stderr)")
            let get = try await cli.run(["config", "get", key, "--env", "production", "--backend", "file"])
            #expect(get.stdout == value + "\n", "\(key)")
        }
        let list = try jsonObject(try await cli.run(["config", "list", "--json", "--env", "production", "--backend", "file"]))
        let settings = try #require(list["settings"] as? [String: Any])
        #expect(settings["siret"] as? String == "73282932000074" && settings["token_refresh_margin"] as? Int == 120)
        #expect((list["effective"] as? [String: String])?["api_url"] == "https://api.piste.gouv.fr/cpro")
        let text = try String(contentsOfFile: cli.home + "/config.toml", encoding: .utf8)
        #expect(text.hasPrefix("# my settings, kept\n"), "comments kept: \(text)")
        #expect(try await cli.run(["config", "get", "siret", "--env", "sandbox", "--backend", "file"]).status == 1, "per environment")
        #expect(try await cli.run(["config", "unset", "siret", "--env", "production", "--backend", "file"]).status == 0)
        #expect(try await cli.run(["config", "get", "siret", "--env", "production", "--backend", "file"]).status == 1)
    }

    static let invalid: [(String, String)] = [
        ("siret", "73282932000075"), ("siret", "1234"), ("api_url", "http://evil.example/cpro"), ("api_url", "https://x.example/api"),
        ("oauth_url", "https://x.example/token"), ("tech_password_changed_at", "31/03/2026"), ("tech_password_rotation_days", "-3"),
        ("token_refresh_margin", "soon"), ("backend", "keychain"), ("openbao_addr", "http://127.0.0.1@evil.example"),
        ("openbao_mount", "/kv/"), ("nonsense", "1"),
    ]

    @Test(arguments: invalid) func badValuesAreRefusedWithNothingWritten(_ key: String, _ value: String) async throws {
        let cli = Cli()
        #expect(try await cli.run(["config", "set", "siret", "73282932000074"]).status == 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: cli.home + "/config.toml"))
        let r = try await cli.run(["config", "set", key, value])
        #expect(r.status != 0)
        #expect(r.stderr.contains(key) || r.stderr.contains("SIRET") || r.stderr.contains("setting"), "\(r.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: cli.home + "/config.toml")) == before)
    }

    @Test func laPosteSiretsFollowTheirOwnRule() async throws {
        let cli = Cli()
        #expect(try await cli.run(["config", "set", "siret", "35600000000048"]).status == 0, "the head office")
        #expect(try await cli.run(["config", "set", "siret", "35600000049837"]).status == 0, "digit sum divisible by 5")
        #expect(try await cli.run(["config", "set", "siret", "35600000049838"]).status != 0)
    }
}

@Suite(.timeLimit(.minutes(10))) struct RotationTests {
    @Test func aRefusedTechPasswordLeavesTheOldOne() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        let r = try await cli.run(["creds", "rotate", "tech-password", "--stdin"], stdin: Array("not the password".utf8))
        #expect(r.status == 1)
        #expect(r.stderr.contains("unchanged") && r.stderr.contains("technical account"), "\(r.stderr)")
        #expect(try await cli.run(["creds", "get", "tech-password"]).stdout == Cli.simTechPassword + "\n")
        let config = (try? String(contentsOfFile: cli.home + "/config.toml", encoding: .utf8)) ?? ""
        #expect(!config.contains("tech_password_changed_at"))
    }

    @Test func anAcceptedTechPasswordIsStoredAndDated() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        try await sim.configure(["accounts": [Cli.simTechLogin: "the new password 2"]])
        let r = try await cli.run(["creds", "rotate", "tech-password", "--stdin"], stdin: Array("the new password 2".utf8))
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try await cli.run(["creds", "get", "tech-password"]).stdout == "the new password 2\n")
        let today = String(ISO8601DateFormatter().string(from: Date()).prefix(10))
        #expect(try await cli.run(["config", "get", "tech_password_changed_at"]).stdout == today + "\n")
        #expect(try await cli.run(["health"]).status == 0)
    }

    @Test func aRefusedClientSecretLeavesTheOldOne() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        let r = try await cli.run(["creds", "rotate", "client-secret", "--stdin", "--json"], stdin: Array("wrong".utf8))
        #expect(r.status == 1)
        #expect((try jsonObject(r)["error"] as? [String: Any])?["diagnosis"] as? String == "oauth_invalid_client")
        #expect(try await cli.run(["creds", "get", "client-secret"]).stdout == Cli.simClientSecret + "\n")
        try await sim.configure(["clients": [Cli.simClientID: "rotated-secret"]])
        #expect(try await cli.run(["creds", "rotate", "client-secret", "--stdin"], stdin: Array("rotated-secret".utf8)).status == 0)
        #expect(try await cli.run(["creds", "get", "client-secret"]).stdout == "rotated-secret\n")
    }
}

/// Issue 10's at-most-once rule and time bounds, against the real binary.
@Suite(.timeLimit(.minutes(10))) struct DeliveryTests {
    static let deposit = "factures/v1/deposer/flux"

    /// 0: the connection drops mid-answer, after the deposit was received.
    @Test(arguments: [502, 504, 500, 0])
    func aDepositBehindAGatewayErrorIsSentOnce(_ status: Int) async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        try await sim.configure(["api_fail": ["status": status, "count": 5, "after_receipt": true]])
        let r = try await cli.run(["api", Self.deposit, "--data", "{}"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("may have reached the server"), "\(r.stderr)")
        let receipts = try await sim.admin("/_sim/stats")["receipts"] as? [String: Int]
        #expect(receipts?["/cpro/" + Self.deposit] == 1)
    }

    /// A server that takes the deposit and never answers: the budget ends
    /// the command, and the deposit is not sent again.
    @Test func aDepositToAStalledServerIsSentOnce() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        _ = try await cli.run(["token"])
        try await sim.configure(["api_delay_ms": 60_000])
        let r = try await cli.run(["api", Self.deposit, "--data", "{}"], env: ["CPRO_TIMEOUT": "3"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("did not answer in time") && r.stderr.contains("may have reached the server"), "\(r.stderr)")
        #expect((try await sim.admin("/_sim/stats")["receipts"] as? [String: Int])?["/cpro/" + Self.deposit] == 1)
    }

    @Test func retryOverridesAndReadsRetry() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        try await sim.configure(["api_fail": ["status": 504, "count": 1, "after_receipt": true]])
        #expect(try await cli.run(["api", Self.deposit, "--data", "{}", "--retry"]).status == 0)
        #expect((try await sim.admin("/_sim/stats")["receipts"] as? [String: Int])?["/cpro/" + Self.deposit] == 2)
        try await sim.configure(["api_fail": ["status": 502, "count": 1, "after_receipt": true]])
        #expect(try await cli.run(["api", "structures/v1/rechercher"]).status == 0, "a read is retried")
        try await sim.configure(["api_fail": ["status": 502, "count": 1, "after_receipt": true]])
        #expect(try await cli.run(["api", "structures/v1/rechercher", "--no-retry"]).status == 1)
    }

    @Test func aDepositRefusedWithRetryAfterIsSentAgain() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        try await sim.configure(["api_fail": ["status": 503, "count": 1, "retry_after": 0]])
        let r = try await cli.run(["api", Self.deposit, "--data", "{}"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect((try await sim.admin("/_sim/stats")["receipts"] as? [String: Int])?["/cpro/" + Self.deposit] == 1)
    }

    /// Monitoring systems give a check 10 s. Wall time is measured by
    /// scripts/bench (timed tests flake on a loaded machine); here the check's
    /// own duration shows the budget held, and the attempts show no connect
    /// was retried until a time-out.
    /// The env backend: no Argon2id in the time measured, on a loaded machine.
    static let envCredentials = [
        "CPRO_BACKEND": "env", "CPRO_TIMEOUT": "", "PISTE_CLIENT_ID": Cli.simClientID, "PISTE_CLIENT_SECRET": Cli.simClientSecret,
        "CPRO_TECH_LOGIN": Cli.simTechLogin, "CPRO_TECH_PASSWORD": Cli.simTechPassword,
    ]

    @Test func healthAgainstAClosedPortEndsWithinTheBound() async throws {
        let cli = Cli()
        let r = try await cli.run(["health", "--json"], env: Self.envCredentials.merging(["PISTE_OAUTH_URL": "http://127.0.0.1:1"]) { $1 })
        let o = try jsonObject(r)
        #expect(o["diagnosis"] as? String == "unreachable")
        // Which endpoint, its URL with the port, and where that URL came from.
        #expect((o["message"] as? String)?.contains("refused the connection (token endpoint http://127.0.0.1:1/api/oauth/token, from PISTE_OAUTH_URL), after 3 attempt(s)") == true, "\(o)")
        #expect(o["step"] as? String == "authentication", "an outage is not the PISTE application's: \(o)")
        #expect(o["duration_ms"] as? Int ?? .max < 10_000)
    }

    @Test func healthAgainstASilentServerEndsWithinTheBound() async throws {
        let sim = try await SimProcess()
        let cli = Cli()
        try await sim.configure(["token_delay_ms": 60_000])
        let r = try await cli.run(["health", "--json"], env: Self.envCredentials.merging(sim.env) { $1 })
        let o = try jsonObject(r)
        #expect(o["diagnosis"] as? String == "unreachable", "\(o)")
        #expect((o["message"] as? String)?.contains("did not answer in time") == true)
        #expect(o["duration_ms"] as? Int ?? .max < 10_000)
        #expect(r.status == 2)
    }
}

@Suite(.timeLimit(.minutes(10))) struct ImportEndpointTests {
    /// A refused endpoint in an import stores nothing at all.
    @Test(arguments: ["http://127.0.0.1@evil.example", "https://api.example/not-cpro"])
    func aBadEndpointRefusesTheWholeImport(_ url: String) async throws {
        let cli = Cli()
        let json = try JSONSerialization.data(withJSONObject: ["PISTE_CLIENT_ID": "id-1", "CPRO_API_URL": url])
        let r = try await cli.run(["creds", "import", "--with-endpoints"], stdin: Array(json))
        #expect(r.status != 0)
        #expect(r.stderr.contains("CPRO_API_URL"), "\(r.stderr)")
        #expect(try await cli.run(["creds", "get", "client-id"]).status != 0, "nothing stored")
    }
}

@Suite(.timeLimit(.minutes(10))) struct WizardWrongEndpointTests {
    /// A wrong URL is not the technical account's fault: retrying keeps the
    /// values typed and checks again without asking for them.
    @Test func theWizardKeepsTheTechnicalValues() async throws {
        let sim = try await SimProcess()
        try await sim.configure(["api": ["utilisateurs": "unknown_path"]])
        var cli = Cli()
        cli.env.merge(sim.env) { $1 }
        try await cli.must(["vault", "init"])
        let r = try await cli.interactive(["onboard", "--env", "sandbox"], [
            .expect("Passphrase for"), .send(Cli.passphrase),
            .expect("PISTE client ID"), .send(Cli.simClientID),
            .expect("PISTE client secret"), .send(Cli.simClientSecret),
            .expect("accepted"),
            .expect("technical account login"), .send(Cli.simTechLogin),
            .expect("technical account password"), .send(Cli.simTechPassword),
            .expect("DefaultRealm"), .expect("[q]uit"), .send("t"),
            .expect("Checking both authentications"), .expect("DefaultRealm"), .expect("[q]uit"), .send("q"),
        ])
        #expect(r.status == 1, "\(r.stdout)")
        #expect(r.stdout.components(separatedBy: "technical account login").count == 2, "asked once: \(r.stdout)")
        // The wizard folds its lines to the terminal's width.
        let screen = r.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(!screen.contains("tech_account_rejected") && screen.contains("the stored credentials are not at fault"), "\(r.stdout)")
    }
}

/// State that cpro reads must be the user's (as ssh's StrictModes checks).
@Suite(.timeLimit(.minutes(10))) struct OwnedStateTests {
    /// "Whatever the umask", for real: cpro run under umask 000 (in its own
    /// process; an umask set in the test process would reach every test
    /// running beside it) creates its folder 0700 and every file 0600.
    @Test func stateIsPrivateUnderAWideOpenUmask() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        var env = cli.env
        env["CPRO_HOME"] = cli.home + "/fresh"
        try FileManager.default.createDirectory(atPath: cli.home, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let script = """
            umask 000
            printf '%s' "$SIM_SECRET" | "$CPRO" creds set --stdin client-secret || exit 10
            printf '%s' "$SIM_ID" | "$CPRO" creds set --stdin client-id || exit 11
            "$CPRO" config set siret 73282932000074 || exit 12
            "$CPRO" token >/dev/null || exit 13
            """
        env["CPRO"] = Cli.binary
        env["SIM_SECRET"] = Cli.simClientSecret
        env["SIM_ID"] = Cli.simClientID
        let r = try await spawnAndWait(["/bin/sh", "-c", script], env: env)
        #expect(r.status == 0, "\(r.output)")
        let root = cli.home + "/fresh"
        var seen = 0
        let walker = FileManager.default.enumerator(atPath: root)
        while let relative = walker?.nextObject() as? String {
            let path = root + "/" + relative
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            let mode = (attributes[.posixPermissions] as? Int ?? 0) & 0o777
            let isDirectory = attributes[.type] as? FileAttributeType == .typeDirectory
            #expect(mode == (isDirectory ? 0o700 : 0o600), "\(relative): \(String(mode, radix: 8))")
            seen += 1
        }
        let top = try FileManager.default.attributesOfItem(atPath: root)[.posixPermissions] as? Int
        #expect(top.map { $0 & 0o777 } == 0o700)
        #expect(seen >= 4, "the vault, the config, the token cache and its key were written (\(seen) entries)")
    }

    @Test func looseOrForeignStateIsRefusedWithTheFix() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        try await cli.must(["config", "set", "siret", "73282932000074"])
        #expect(try await cli.run(["health"]).status == 0)

        chmod(cli.home, 0o777)
        let loose = try await cli.run(["creds", "list"])
        #expect(loose.status == 1 && loose.stderr.contains("chmod go-w \(cli.home)"), "\(loose.stderr)")
        chmod(cli.home, 0o700)

        chmod(cli.vaultPath, 0o666)
        let vault = try await cli.run(["creds", "get", "client-id"])
        #expect(vault.status == 1 && vault.stderr.contains("chmod go-w \(cli.vaultPath)"), "\(vault.stderr)")
        chmod(cli.vaultPath, 0o600)

        let key = cli.home + "/cache/tokens/token-cache.key"
        #expect(FileManager.default.fileExists(atPath: key))
        chmod(key, 0o622)
        let token = try await cli.run(["token"])
        #expect(token.status == 1 && token.stderr.contains(key), "\(token.stderr)")
        chmod(key, 0o600)
        #expect(try await cli.run(["token"]).status == 0)

        if geteuid() == 0 {
            chown(cli.home + "/config.toml", 65534, 65534)
            let foreign = try await cli.run(["creds", "list"])
            // Never "chown it": adopting a planted config would trust its endpoints.
            #expect(foreign.status == 1 && foreign.stderr.contains("\(cli.home)/config.toml belongs to another user (user nobody (uid 65534))"), "\(foreign.stderr)")
            #expect(foreign.stderr.contains("inspect it, then remove it") && !foreign.stderr.contains("chown"), "\(foreign.stderr)")
        }
    }
}
