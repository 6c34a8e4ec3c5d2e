import Foundation
import TestSupport
import Testing

/// The wizard as a new user meets it, through a pseudo-terminal: it says
/// "ready" and "saved" only of what the store holds, offers try-again and
/// edit after a failure, and every command it suggests keeps the selection.
@Suite(.timeLimit(.minutes(10))) struct FirstDayWizardTests {
    /// A sandbox with a vault but no credentials, pointed at `sim`.
    static func freshCli(_ sim: SimProcess) async throws -> Cli {
        var cli = Cli()
        cli.env.merge(sim.env) { $1 }
        try await cli.must(["vault", "init"])
        return cli
    }

    static func typeAll(_ passphrase: String = Cli.passphrase) -> [Cli.Step] {
        [
            .expect("Passphrase for"), .send(passphrase),
            .expect("PISTE client ID"), .send(Cli.simClientID),
            .expect("PISTE client secret"), .send(Cli.simClientSecret),
            .expect("accepted"),
            .expect("technical account login"), .send(Cli.simTechLogin),
            .expect("technical account password"), .send(Cli.simTechPassword),
        ]
    }

    /// The defect: an outage at the technical-account step, then "try
    /// again", printed "ready" while the values were only in memory.
    @Test func anOutageThenTryAgainSavesTheTechnicalAccount() async throws {
        let sim = try await SimProcess()
        let cli = try await Self.freshCli(sim)
        try await sim.configure(["api": ["utilisateurs": "server_error"]])
        let r = try await cli.interactive(["onboard", "--env", "sandbox"], Self.typeAll() + [
            .expect("[q]uit"),
            .post(sim.base + "/_sim/config", json: #"{"api": {"utilisateurs": "normal"}}"#),
            .send("t"),
            .expect("password set on Chorus Pro"), .send(""),
            .expect("is ready"),
        ])
        #expect(r.status == 0, "\(r.stdout)")
        // The outage is the connection's step, as `cpro health` says, not the PISTE application's.
        #expect(r.stdout.contains("✗ Both authentications together"), "\(r.stdout)")
        #expect(!r.stdout.contains("✗ PISTE application"), "\(r.stdout)")
        #expect(!r.stdout.contains("[e]dit"), "nothing to edit for an outage: \(r.stdout)")
        #expect(try await cli.run(["creds", "get", "tech-login"]).stdout == Cli.simTechLogin + "\n")
        #expect(try await cli.run(["creds", "get", "tech-password"]).stdout == Cli.simTechPassword + "\n")
        #expect(try await cli.run(["health"]).status == 0)
    }

    /// "try again" (still failing), then "save without verification": the
    /// vault holds what the wizard says it saved, marked unverified, and the
    /// run ends not ready.
    @Test func tryAgainThenSaveWithoutVerificationStoresTheValues() async throws {
        let sim = try await SimProcess()
        let cli = try await Self.freshCli(sim)
        try await sim.configure(["api": ["utilisateurs": "server_error"]])
        let r = try await cli.interactive(["onboard", "--env", "sandbox"], Self.typeAll() + [
            .expect("[q]uit"), .send("t"),
            .expect("Checking both authentications"), .expect("[q]uit"), .send("s"),
            .expect("Saved without verification: tech-login, tech-password"),
            .expect("Not ready"),
        ])
        #expect(r.status == 1, "\(r.stdout)")
        #expect(!r.stdout.contains("is ready"))
        #expect(try await cli.run(["creds", "get", "tech-login"]).stdout == Cli.simTechLogin + "\n")
        #expect(try await cli.run(["creds", "get", "tech-password"]).stdout == Cli.simTechPassword + "\n")
        let config = try String(contentsOfFile: cli.home + "/config.toml", encoding: .utf8)
        #expect(config.contains("unverified = \"tech-login,tech-password\""), "\(config)")
    }

    /// A refused password: edit asks the step's two values again, the login
    /// offered as it was typed, the password masked; Enter keeps a value.
    @Test func editAsksTheFailingStepAgainWithTheTypedValuesAsDefaults() async throws {
        let sim = try await SimProcess()
        let cli = try await Self.freshCli(sim)
        let r = try await cli.interactive(["onboard", "--env", "sandbox"], [
            .expect("Passphrase for"), .send(Cli.passphrase),
            .expect("PISTE client ID"), .send(Cli.simClientID),
            .expect("PISTE client secret"), .send(Cli.simClientSecret),
            .expect("technical account login"), .send(Cli.simTechLogin),
            .expect("technical account password"), .send("not-the-password"),
            .expect("refused the technical login or password"),
            .expect("choose edit"),
            .expect("[e]dit the values, [t]ry again"), .send("e"),
            .expect("technical account login [\(Cli.simTechLogin)]"), .send(""),
            .expect("technical account password [********]"), .send(Cli.simTechPassword),
            .expect("password set on Chorus Pro"), .send(""),
            .expect("is ready"),
        ])
        #expect(r.status == 0, "\(r.stdout)")
        #expect(!r.stdout.contains("not-the-password") && !r.stdout.contains(Cli.simTechPassword), "secrets never echoed")
        #expect(!r.stdout.contains("WWW-Authenticate") && !r.stdout.contains("incorrects"), "the raw challenge only under --verbose")
        #expect(try await cli.run(["creds", "get", "tech-password"]).stdout == Cli.simTechPassword + "\n")
        // Enter at the date prompt recorded today as declared.
        let today = String(Int64(Date().timeIntervalSince1970).rfc3339.prefix(10))
        #expect(try await cli.run(["config", "get", "tech_password_changed_at"]).stdout.contains(today))
    }

    /// A client ID and secret saved unverified, then a check that fails on
    /// them: edit asks the PISTE values, not the technical ones, and the run
    /// does not loop on the same failure.
    @Test func afterAnUnverifiedClientEditReachesTheClientValues() async throws {
        let sim = try await SimProcess()
        let cli = try await Self.freshCli(sim)
        let r = try await cli.interactive(["onboard", "--env", "sandbox"], [
            .expect("Passphrase for"), .send(Cli.passphrase),
            .expect("PISTE client ID"), .send(Cli.simClientID),
            .expect("PISTE client secret"), .send("wrong-secret"),
            .expect("[q]uit"), .send("s"),
            .expect("Saved without verification: client-id, client-secret"),
            .expect("technical account login"), .send(Cli.simTechLogin),
            .expect("technical account password"), .send(Cli.simTechPassword),
            .expect("[e]dit the values"), .send("e"),
            .expect("PISTE client ID [\(Cli.simClientID)]"), .send(""),
            .expect("PISTE client secret [********]"), .send(Cli.simClientSecret),
            .expect("password set on Chorus Pro"), .send(""),
            .expect("is ready"),
        ])
        #expect(r.status == 0, "\(r.stdout)")
        #expect(try await cli.run(["creds", "get", "client-secret"]).stdout == Cli.simClientSecret + "\n")
        let config = try String(contentsOfFile: cli.home + "/config.toml", encoding: .utf8)
        #expect(!config.contains("unverified"), "the mark is cleared once verified: \(config)")
        #expect(try await cli.run(["health"]).status == 0)
    }

    @Test func suggestedCommandsKeepTheProfile() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim, profile: "acme")
        let r = try await cli.interactive(["onboard", "--profile", "acme"], [
            .expect("Passphrase for"), .send(Cli.passphrase),
            .expect("is ready. `cpro health --profile acme --env sandbox`"),
            .expect("Set up production now?"), .send("n"),
            .expect("Later: cpro onboard --profile acme --env production"),
            .expect("cpro vault unlock"),
        ])
        #expect(r.status == 0, "\(r.stdout)")

        let health = try await cli.run(["health", "--profile", "rep1"])
        #expect(health.stdout.contains("`cpro onboard --profile rep1 --env sandbox`"), "\(health.stdout)")
        #expect(health.stdout.contains("not set: client-id, client-secret, tech-login, tech-password"), "every missing field: \(health.stdout)")
        let all = try await cli.run(["health", "--all"])
        #expect(!all.stdout.contains("`cpro onboard --env"), "no fix lands on default: \(all.stdout)")
        let get = try await cli.run(["creds", "get", "tech-login", "--profile", "rep1"])
        #expect(get.stderr.contains("`cpro creds set tech-login --profile rep1 --env sandbox`"), "\(get.stderr)")
    }

    /// Ctrl-D after values were saved: the resume line (with the profile),
    /// not "nothing was changed".
    @Test func ctrlDAfterASaveSaysHowToResumeWithTheProfile() async throws {
        let sim = try await SimProcess()
        var cli = Cli()
        cli.env.merge(sim.env) { $1 }
        try await cli.must(["vault", "init"])
        let r = try await cli.interactive(["onboard", "--profile", "acme", "--env", "sandbox"], [
            .expect("Passphrase for"), .send(Cli.passphrase),
            .expect("PISTE client ID"), .send(Cli.simClientID),
            .expect("PISTE client secret"), .send(Cli.simClientSecret),
            .expect("technical account login"), .eof,
            .expect("Run `cpro onboard --profile acme --env sandbox` again to resume"),
        ])
        #expect(r.status == 1, "\(r.stdout)")
        #expect(!r.stdout.contains("nothing was changed"), "\(r.stdout)")
        #expect(try await cli.run(["creds", "get", "client-id", "--profile", "acme"]).status == 0, "the verified values were saved")
    }

    /// A password past its rotation date: CRITICAL and not ready, in health
    /// and in the wizard (it was WARNING "expires in 0 day(s)", and ready).
    @Test func anExpiredTechnicalPasswordIsNotReady() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        try await sim.configure(["password_expiry": "2025-01-01"])
        let health = try await cli.run(["health", "--json"])
        let o = try #require(try JSONSerialization.jsonObject(with: Data(health.stdout.utf8)) as? [String: Any])
        #expect(health.status == 2 && o["status"] as? String == "critical", "\(health.stdout)")
        #expect((o["message"] as? String)?.contains("expired") == true && (o["message"] as? String)?.contains("ago") == true, "\(o)")
        let check = try await cli.run(["onboard", "--check", "--json"])
        #expect((try JSONSerialization.jsonObject(with: Data(check.stdout.utf8)) as? [String: Any])?["ready"] as? Bool == false)

        try await sim.configure(["password_expiry": "2099-01-01"])
        var fresh = Cli()
        fresh.env.merge(sim.env) { $1 }
        try await fresh.must(["vault", "init"])
        let wizard = try await fresh.interactive(["onboard", "--env", "sandbox"], Self.typeAll() + [
            .expect("password set on Chorus Pro"), .send("2024-01-15"),
            .expect("Not ready"), .expect("expired on 2025-03-14"),
        ])
        #expect(wizard.status == 1, "\(wizard.stdout)")
        #expect(!wizard.stdout.contains("is ready"), "\(wizard.stdout)")
    }

    /// One passphrase for the whole run: production after the sandbox asks none.
    @Test func productionAfterTheSandboxAsksNoSecondPassphrase() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        try await cli.storeSimCredentials(env: "production")
        let r = try await cli.interactive(["onboard", "--yes"], [
            .expect("Passphrase for"), .send(Cli.passphrase),
            .expect("default / sandbox is ready"),
            .expect("Is the raccordement declared"), .send("y"),
            .expect("default / production is ready"),
        ])
        #expect(r.status == 0, "\(r.stdout)")
        #expect(r.stdout.components(separatedBy: "Passphrase for").count == 2, "asked once: \(r.stdout)")
    }

    /// Ctrl-C says how to resume, as `q` does, and exits as interrupted.
    @Test func ctrlCSaysHowToResume() async throws {
        let sim = try await SimProcess()
        let cli = try await Self.freshCli(sim)
        let r = try await cli.interactive(["onboard", "--env", "sandbox"], [
            .expect("Passphrase for"), .send(Cli.passphrase),
            .expect("PISTE client ID"), .interrupt,
            .expect("Run `cpro onboard --env sandbox` again to resume"),
        ])
        #expect(r.status == 130, "\(r.stdout)")
        #expect(r.stdout.contains("[pty-driver] echo=on"))
    }

    /// Production: the sandbox's client ID gets a remark, and a raccordement
    /// not declared is not ready.
    @Test func productionWithoutRaccordementIsNotReady() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        // --yes goes on without asking, but not past the raccordement.
        let r = try await cli.interactive(["onboard", "--env", "production", "--yes"], [
            .expect("Passphrase for"), .send(Cli.passphrase),
            .expect("PISTE client ID"), .send(Cli.simClientID),
            .expect("PISTE client secret"), .send(Cli.simClientSecret),
            .expect("sandbox application's client ID"),
            .expect("technical account login"), .send(Cli.simTechLogin),
            .expect("technical account password"), .send(Cli.simTechPassword),
            .expect("password set on Chorus Pro"), .send(""),
            .expect("Is the raccordement declared"), .send("n"),
            .expect("Not ready"),
        ])
        #expect(r.status == 1, "\(r.stdout)")
        #expect(!r.stdout.contains("is ready"))
    }
}

/// Smaller things a first day trips on.
@Suite(.timeLimit(.minutes(10))) struct FirstDayPolishTests {
    /// ✓ and ✗ only under a UTF-8 locale; ASCII under any other.
    @Test func marksAreASCIIUnderANonUTF8Locale() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        let ascii = try await cli.run(["onboard", "--check"], env: ["LANG": "C"])
        #expect(ascii.status == 0, "\(ascii.stderr)")
        #expect(ascii.stdout.contains("+ piste-account") && !ascii.stdout.contains("✓"), "\(ascii.stdout)")
        let utf8 = try await cli.run(["onboard", "--check"])
        #expect(utf8.stdout.contains("✓ piste-account"), "\(utf8.stdout)")
        #expect(utf8.stdout.hasPrefix("OK default / sandbox: both authentications work"), "no 'ok: ok': \(utf8.stdout)")
    }

    /// French prompts with French typography (a space before the colon).
    @Test func frenchPromptsUseFrenchTypography() async throws {
        let sim = try await SimProcess()
        var cli = Cli()
        cli.env.merge(sim.env) { $1 }
        try await cli.must(["vault", "init"])
        let r = try await cli.interactive(["onboard", "--env", "sandbox"], [
            .expect("Phrase de passe de"), .send(Cli.passphrase),
            .expect("identifiant client PISTE (client ID) : "), .send(Cli.simClientID),
            .expect("secret client PISTE (client secret) : "), .send("faux"),
            .expect("[s]auvegarder sans vérification"), .send("q"),
        ], env: ["LANG": "fr_FR.UTF-8"])
        #expect(r.status == 1, "\(r.stdout)")
        #expect(r.stdout.contains("Relancez `cpro onboard --env sandbox` pour reprendre"), "\(r.stdout)")
    }

    @Test func vaultStatusIsAlignedAndInOneLanguage() async throws {
        let cli = Cli()
        try await cli.must(["vault", "init"])
        let fr = try await cli.run(["vault", "status"], env: ["LANG": "fr_FR.UTF-8"])
        let lines = fr.stdout.split(separator: "\n").map(String.init)
        let columns = Set(lines.compactMap { line -> Int? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return line[line.index(after: colon)...].prefix { $0 == " " }.count + line.distance(from: line.startIndex, to: colon)
        })
        #expect(columns.count == 1, "values start in one column: \(fr.stdout)")
        #expect(fr.stdout.contains("verrouillé") && fr.stdout.contains("arrêté") && !fr.stdout.contains("not running"), "\(fr.stdout)")
    }

    @Test func completionsKnowFieldsEnvironmentsAndSettings() async throws {
        for shell in ["bash", "zsh", "fish"] {
            let r = try await Cli().run(["--generate-completion-script", shell])
            for word in ["client-secret", "cpro-account", "production", "secret-service", "tech_password_rotation_days"] {
                #expect(r.stdout.contains(word), "\(shell) completes \(word)")
            }
        }
    }

    /// A misspelt behaviour is refused, not silently "normal".
    @Test func pisteSimRefusesAMisspeltBehaviour() async throws {
        let sim = try await SimProcess()
        for patch: [String: Any] in [["api": ["utilisateur": "forbidden_403"]], ["api": ["utilisateurs": "server_eror"]],
                                     ["token": "invalid_clent_401"], ["structures": "abc"]] {
            let answer = try await sim.admin("/_sim/config", patch)
            #expect(answer["error"] != nil && answer["ok"] == nil, "\(patch): \(answer)")
        }
        #expect(try await sim.admin("/_sim/config", ["api": ["utilisateurs": "server_error"]])["ok"] as? Bool == true)
    }

    /// What the config says of removed values goes with them.
    @Test func removingTheTechnicalPasswordForgetsItsDateAndMarks() async throws {
        let cli = try await Cli.withSim(try await SimProcess())
        try await cli.must(["config", "set", "tech_password_changed_at", "2026-01-02"])
        try await cli.must(["creds", "remove"])
        #expect(try await cli.run(["config", "get", "tech_password_changed_at"]).status == 1, "no longer set")
    }

    /// A URL cpro refuses is the configuration's fault: CRITICAL wrong_endpoint.
    @Test func aRefusedAPIURLIsAWrongEndpoint() async throws {
        let cli = try await Cli.withSim(try await SimProcess())
        let r = try await cli.run(["health", "--json"], env: ["CPRO_API_URL": "http://127.0.0.1:9/api"])
        #expect(r.status == 2 && r.stdout.contains("\"diagnosis\":\"wrong_endpoint\""), "\(r.stdout)")
    }

    /// Under --json, a parse error is on stdout in the shape of every failure.
    @Test func parseErrorsUnderJSON() async throws {
        let r = try await Cli().run(["--json", "helth"])
        #expect(r.status == 64 && r.stdout.hasPrefix("{\"error\":{"), "\(r.stdout)")
    }

    /// piste-sim's first lines: where it listens, its test credentials, the
    /// two exports; a busy port is said in words.
    @Test func pisteSimTellsAFirstTryWhatItNeeds() async throws {
        let sim = try await SimProcess()
        let busy = try await spawnAndWait([SimProcess.binary, "--port", String(sim.port)], env: ["PATH": "/usr/bin:/bin"])
        #expect(busy.status == 1)
        #expect(busy.output.contains("port \(sim.port) on 127.0.0.1 is already in use") && busy.output.contains("--port 0"), "\(busy.output)")
        #expect(!busy.output.contains("errno"), "\(busy.output)")
        let dir = NSTemporaryDirectory() + "sim-banner-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: dir + "/out", contents: nil)
        let child = try Child([SimProcess.binary, "--port", "0", "--port-file", dir + "/port"], environment: ["PATH": "/usr/bin:/bin"], stdout: dir + "/out")
        defer { child.terminate() }
        // The banner is written once listening; the port file at the same moment.
        var banner = ""
        for _ in 0..<400 where !banner.contains("export CPRO_API_URL") {
            try await Task.sleep(nanoseconds: 50_000_000)
            banner = (try? String(contentsOfFile: dir + "/out", encoding: .utf8)) ?? ""
        }
        let port = try String(contentsOfFile: dir + "/port", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        for line in ["piste-sim listening on http://127.0.0.1:\(port)", "Test credentials", "client-secret  sim-client-secret-8c41",
                     "tech-password  sim-tech-password-Ü7", "export PISTE_OAUTH_URL=http://127.0.0.1:\(port)\n",
                     "export CPRO_API_URL=http://127.0.0.1:\(port)/cpro\n"] {
            #expect(banner.contains(line), "\(banner)")
        }
    }
}

/// The passphrase at a terminal: refused early when too short, asked again
/// when the confirmation differs, three tries when wrong; one unlock per
/// wizard run; and `vault unlock` says until when when already unlocked.
@Suite(.timeLimit(.minutes(10))) struct PassphrasePromptTests {
    @Test func tooShortIsRefusedBeforeTheConfirmationAndAMismatchAsksAgain() async throws {
        let cli = Cli()
        let r = try await cli.interactive(["vault", "init"], [
            .expect("New vault passphrase"), .send("short"),
            .expect("Too short"),
            .expect("New vault passphrase"), .send("first passphrase"),
            .expect("Same passphrase again"), .send("second passphrase"),
            .expect("differ"),
            .expect("New vault passphrase"), .send("third passphrase"),
            .expect("Same passphrase again"), .send("third passphrase"),
        ])
        #expect(r.status == 0, "\(r.stdout)")
        #expect(r.stdout.components(separatedBy: "Same passphrase again").count == 3, "no confirmation for the short one: \(r.stdout)")
        #expect(try await cli.run(["vault", "status"], env: ["CPRO_VAULT_PASSPHRASE": "third passphrase"]).status == 0)
    }

    @Test func aWrongPassphraseMayBeTypedAgain() async throws {
        let cli = Cli()
        try await cli.must(["creds", "set", "--stdin", "client-id"], stdin: Array("id-1".utf8))
        let r = try await cli.interactive(["creds", "get", "client-id"], [
            .expect("Passphrase for"), .send("not it"),
            .expect("try again (2 more)"),
            .expect("Passphrase for"), .send(Cli.passphrase),
            .expect("id-1"),
        ])
        #expect(r.status == 0, "\(r.stdout)")
    }

    @Test func aPassphraseVariableEndingInANewlineGetsAHint() async throws {
        let cli = Cli()
        try await cli.must(["vault", "init"])
        let r = try await cli.run(["creds", "list"], env: ["CPRO_VAULT_PASSPHRASE": Cli.passphrase + "\n"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("wrong passphrase") && r.stderr.contains("ends in a space or a line break"), "\(r.stderr)")
        let plain = try await cli.run(["creds", "list"], env: ["CPRO_VAULT_PASSPHRASE": "another one"])
        #expect(!plain.stderr.contains("line break"))
    }

    @Test func unlockWhenUnlockedSaysUntilWhen() async throws {
        let cli = Cli()
        try await cli.must(["vault", "init"])
        let unlock = try await cli.interactive(["vault", "unlock", "--for", "10m"], [
            .expect("Passphrase for"), .send(Cli.passphrase), .expect("Unlocked"),
        ])
        #expect(unlock.status == 0, "\(unlock.stdout)")
        defer { Task { _ = try? await cli.run(["vault", "lock"]) } }
        let again = try await cli.interactive(["vault", "unlock"], [.expect("Already unlocked")])
        #expect(again.status == 0, "\(again.stdout)")
        #expect(!again.stdout.contains("Passphrase for"))
        #expect(try await cli.run(["vault", "lock"]).status == 0)
    }
}

/// Command-line mistakes: help, never a masked word of cpro's own, exit 64.
@Suite struct UsageMistakeTests {
    @Test func aMisspeltCommandGetsDidYouMean() async throws {
        let r = try await Cli().run(["helth"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("'helth'") && r.stderr.contains("Did you mean 'health'?"), "\(r.stderr)")
    }

    @Test func aMisspeltValueLeavesTheListOfValuesWhole() async throws {
        let r = try await Cli().run(["health", "--format", "nagio"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("'nagios' or 'prometheus'") && !r.stderr.contains("<argument"), "\(r.stderr)")
        #expect(r.stderr.contains("Did you mean 'nagios'?"))
    }

    @Test func aMisspeltFieldNameIsAUsageError() async throws {
        let r = try await Cli().run(["creds", "get", "client_id"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("did you mean 'client-id'"), "\(r.stderr)")
        #expect(!r.stderr.contains("other users can read"), "no lecture for a typo")
    }

    @Test func somethingThatCouldBeASecretIsStillMasked() async throws {
        let secret = "Zx81-very-secret-Value"
        let r = try await Cli().run(["creds", "get", secret])
        #expect(r.status == 64)
        #expect(!r.all.contains(secret))
        let parse = try await Cli().run(["health", "--format", secret])
        #expect(parse.status == 64 && !parse.all.contains(secret), "\(parse.stderr)")
    }

    @Test func aWrongOptionValueIsAUsageError() async throws {
        for args in [["--env", "prodution", "health"], ["--profile", "bad name!", "creds", "list"], ["--backend", "nope", "creds", "list"],
                     ["--lang", "de", "creds", "list"], ["vault", "unlock", "--for", "15"]] {
            let r = try await Cli().run(args)
            #expect(r.status == 64, "\(args): \(r.stderr)")
        }
        let typo = try await Cli().run(["config", "set", "sirt", "73282932000074"])
        #expect(typo.status == 64 && typo.stderr.contains("did you mean siret"), "\(typo.stderr)")
        let secretish = try await Cli().run(["config", "get", "Zx81-very-secret-Value"])
        #expect(secretish.status == 64 && !secretish.stderr.contains("Zx81"), "\(secretish.stderr)")
    }

    @Test func execWithoutTheSeparatorSaysWhereTheCommandGoes() async throws {
        let r = try await Cli().run(["exec", "env"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("cpro exec takes the command after --"), "\(r.stderr)")
    }
}
