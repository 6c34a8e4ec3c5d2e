import Foundation
import TestSupport
import Testing

@Suite(.timeLimit(.minutes(10))) struct HandoverTests {
    @Test func exportRefusesATerminalWithoutForce() async throws {
        let cli = Cli()
        try await cli.must(["creds", "set", "--stdin", "client-secret"], stdin: Array("tty-secret".utf8))
        let r = try await cli.interactive(["creds", "export"], [.expect("terminal")], env: ["CPRO_VAULT_PASSPHRASE": Cli.passphrase])
        #expect(r.status == 1)
        #expect(!r.stdout.contains("tty-secret"))
        let forced = try await cli.interactive(["creds", "export", "--force"], [.expect("tty-secret")], env: ["CPRO_VAULT_PASSPHRASE": Cli.passphrase])
        #expect(forced.status == 0)
    }

    @Test func jsonExportRoundTripsThroughImport() async throws {
        let cli = Cli()
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array(" !\"#$%&'()*+,-./0123456789:;<=>?@AZaz[\\]^_`{|}~éàü€🙂ß東")
        func value() -> String { String((0..<Int.random(in: 1...60, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }) }
        let fields = ["PISTE_CLIENT_ID", "PISTE_CLIENT_SECRET", "CPRO_TECH_LOGIN", "CPRO_TECH_PASSWORD"]
        for round in 0..<5 {
            var values = Dictionary(uniqueKeysWithValues: fields.map { ($0, value()) })
            values["CPRO_TECH_LOGIN"] = values["CPRO_TECH_LOGIN"]!.replacingOccurrences(of: ":", with: "") + "x"
            let source = "src\(round)", target = "dst\(round)"
            let imported = try await cli.run(["creds", "import", "--profile", source], stdin: Array(try JSONSerialization.data(withJSONObject: values)))
            #expect(imported.status == 0, "\(imported.stderr)")
            let exported = try await cli.run(["creds", "export", "--format", "json", "--profile", source])
            #expect(exported.status == 0, "\(exported.stderr)")
            let again = try await cli.run(["creds", "import", "--profile", target], stdin: Array(exported.stdout.utf8))
            #expect(again.status == 0, "\(again.stderr)")
            let final = try await cli.run(["creds", "export", "--format", "json", "--profile", target])
            let object = try #require(try JSONSerialization.jsonObject(with: Data(final.stdout.utf8)) as? [String: String], "\(final.stdout)")
            for (k, v) in values { #expect(object[k] == v, "\(k)") }
        }
    }

    @Test func shellExportFromTheEnvBackendSurvivesEval() async throws {
        let cli = Cli(passphrase: nil)
        // Every printable shell metacharacter; control characters are refused
        // from every backend (the formatter's own tests cover any value).
        let nasty = "line 'two' \"$HOME\" `id` \\ #x ${PATH} $(id) ; & | < > * ? ! ~ end é "
        let r = try await cli.run(["creds", "export", "--backend", "env"], env: ["PISTE_CLIENT_SECRET": nasty, "PISTE_CLIENT_ID": "id"])
        #expect(r.status == 0)
        let refused = try await cli.run(["creds", "export", "--backend", "env"], env: ["PISTE_CLIENT_SECRET": "a\nb", "PISTE_CLIENT_ID": "id"])
        #expect(refused.status == 1 && refused.stderr.contains("client-secret read from the env backend"), "\(refused.stderr)")
        #expect(refused.stdout.isEmpty)
        let script = NSTemporaryDirectory() + "exp-" + UUID().uuidString
        try r.stdout.write(toFile: script, atomically: true, encoding: .utf8)
        for shell in ["bash", "dash", "zsh"] {
            let (_, out) = try await spawnAndWait(
                ["/usr/bin/env", shell, "-c", "eval \"$(cat \"$0\")\"; printf %s \"$PISTE_CLIENT_SECRET\"", script], env: ["PATH": "/usr/bin:/bin"])
            #expect(out == nasty, "\(shell)")
        }
    }

    @Test func renamesPresetsAndProductionNotice() async throws {
        let cli = Cli()
        try await cli.storeSimCredentials(env: "production")
        let r = try await cli.run(["creds", "export", "--env", "production", "--preset", "python-scripts", "--rename", "PISTE_CLIENT_ID=MY_ID"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("export MY_ID='\(Cli.simClientID)'"))
        #expect(r.stdout.contains("export CHORUS_PRO_LOGIN='\(Cli.simTechLogin)'"))
        #expect(!r.stdout.contains("CPRO_TECH_LOGIN"))
        #expect(r.stderr.contains("PRODUCTION"))
        #expect(try await cli.run(["creds", "export", "--preset", "nope"]).status == 1)
        #expect(try await cli.run(["creds", "export", "--rename", "PISTE_CLIENT_ID=1bad"]).status == 1)
        #expect(try await cli.run(["creds", "export", "--format", "yaml"]).status == 1)
    }

    @Test func execPassesVariablesNotThePassphraseAndTheExitStatus() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        let env = try await cli.run(["exec", "--only", "client-secret,tech-password,token", "--", "env"], env: ["PISTE_CLIENT_SECRET": "stale", "CPRO_ACCOUNT": "stale"])
        #expect(env.status == 0, "\(env.stderr)")
        let lines = Set(env.stdout.split(separator: "\n").map(String.init))
        #expect(lines.contains("PISTE_CLIENT_SECRET=\(Cli.simClientSecret)"))
        #expect(lines.contains("CPRO_TECH_PASSWORD=\(Cli.simTechPassword)"))
        #expect(lines.contains { $0.hasPrefix("PISTE_ACCESS_TOKEN=sim-") })
        #expect(!lines.contains { $0.hasPrefix("CPRO_ACCOUNT=") }, "not asked for, and the stale one removed")
        #expect(lines.contains("CPRO_EXEC=default/sandbox"))
        #expect(!lines.contains { $0.hasPrefix("CPRO_VAULT_PASSPHRASE=") }, "the vault passphrase stays with cpro")
        #expect(lines.filter { $0.hasPrefix("PISTE_CLIENT_SECRET=") }.count == 1, "conflicting variables removed first")

        #expect(try await cli.run(["exec", "--", "sh", "-c", "exit 7"]).status == 7)
        #expect(try await cli.run(["exec", "--", "no-such-command-cpro"]).status == 127)
        let nested = try await cli.run(["exec", "--", "no-such-command-cpro"], env: ["CPRO_EXEC": "default/sandbox"])
        #expect(nested.status == 1 && nested.stderr.contains("already inside"))
        #expect(try await cli.run(["exec", "--nested", "--", "true"], env: ["CPRO_EXEC": "x"]).status == 0)
        #expect(try await cli.run(["exec"]).status != 0)
    }

    /// Least privilege: --with-token alone gives what an API call needs, not
    /// what makes tokens; --only gives exactly what it names.
    @Test func execGivesOnlyWhatIsAsked() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        let tokenOnly = try await cli.run(["exec", "--with-token", "--", "env"])
        let names = Set(tokenOnly.stdout.split(separator: "\n").compactMap { $0.split(separator: "=").first.map(String.init) })
        #expect(names.isSuperset(of: ["PISTE_ACCESS_TOKEN", "PISTE_TOKEN_EXPIRES_AT", "CPRO_ACCOUNT", "PISTE_OAUTH_URL", "CPRO_API_URL"]), "\(names)")
        #expect(names.isDisjoint(with: ["PISTE_CLIENT_SECRET", "PISTE_CLIENT_ID", "CPRO_TECH_PASSWORD", "CPRO_TECH_LOGIN"]), "\(names)")
        let one = try await cli.run(["exec", "--only", "cpro-account", "--", "env"])
        let oneNames = Set(one.stdout.split(separator: "\n").compactMap { $0.split(separator: "=").first.map(String.init) })
        #expect(oneNames.intersection(HandedNames.all) == ["CPRO_ACCOUNT"])
        #expect(try await cli.run(["exec", "--only", "nonsense", "--", "true"]).status == 1)
    }

    /// In CI, the child's output never shows a handed-over secret, even split
    /// across writes; signals reach the child; its exit status is kept.
    @Test func maskConcealsSecretsInTheChildsOutput() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        let script = #"printf 'secret=%s\n' "$PISTE_CLIENT_SECRET"; printf '%s' "$CPRO_TECH_PASSWORD" | head -c 5; sleep 0.2; printf '%s' "$CPRO_TECH_PASSWORD" | tail -c +6; echo; echo "acct=$CPRO_ACCOUNT" >&2; echo "id=$PISTE_CLIENT_ID"; exit 3"#
        let r = try await cli.run(["exec", "--", "sh", "-c", script], env: ["CI": "true"])
        #expect(r.status == 3, "\(r.stderr)")
        #expect(!r.all.contains(Cli.simClientSecret) && !r.all.contains(Cli.simTechPassword), "\(r.all)")
        #expect(r.stdout.contains("secret=<concealed by cpro>"))
        #expect(r.stdout.contains("<concealed by cpro>\n"), "the password written in two pieces: \(r.stdout)")
        #expect(r.stderr.contains("acct=<concealed by cpro>"))
        #expect(r.stdout.contains("id=\(Cli.simClientID)"), "identifiers are not secrets")
        let plain = try await cli.run(["exec", "--no-mask", "--", "sh", "-c", "echo $PISTE_CLIENT_SECRET"], env: ["CI": "true"])
        #expect(plain.stdout == Cli.simClientSecret + "\n")

        // A SIGTERM sent to cpro reaches the masked child.
        let running = try cli.start(["exec", "--mask", "--", "sh", "-c", "trap 'echo got-term; exit 42' TERM; echo ready; while true; do sleep 0.1; done"])
        var ready = false
        for _ in 0..<600 where !ready {
            await sleep(ms: 50)
            ready = ((try? String(contentsOfFile: running.outPath, encoding: .utf8)) ?? "").contains("ready")
        }
        #expect(ready)
        kill(running.child.pid, SIGTERM)
        let done = try await running.wait()
        #expect(done.status == 42 && done.stdout.contains("got-term"), "\(done.stdout) \(done.stderr)")
    }

    /// A program run by `cpro exec` (a service under systemd, a CI step) must
    /// get the signals that stop it: cpro's worker threads block them, and a
    /// blocked mask survives execve and spawn.
    @Test func theProgramStartsWithNoSignalBlocked() async throws {
        let cli = Cli()
        try await cli.storeSimCredentials()
        for extra in [[], ["--mask"]] {
            let r = try await cli.run(["exec"] + extra + ["--", "grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"])
            #expect(r.stdout.contains("SigBlk:\t0000000000000000"), "\(extra): \(r.stdout)")
            // Only the standard signals (1-31): glibc keeps 32 and 33 for itself.
            let ignored = r.stdout.split(separator: "\n").first { $0.hasPrefix("SigIgn:") }
                .flatMap { UInt64($0.dropFirst(7).trimmingCharacters(in: .whitespaces), radix: 16) }
            #expect(ignored.map { $0 & 0x7FFF_FFFF } == 0, "\(extra): \(r.stdout)")
        }
    }

    @Test func noSecretInAnyProcessArgumentsDuringExec() async throws {
        let cli = Cli()
        try await cli.storeSimCredentials()
        // A long sleep, ended once seen: on a loaded machine this task may not
        // run for seconds at a time, and must not miss the window.
        let running = try cli.start(["exec", "--", "sleep", "300"])
        var sawSleep = false
        var extra = 10
        for _ in 0..<3000 where extra > 0 {
            let lines = allCommandLines()
            sawSleep = sawSleep || lines.contains { $0.hasPrefix("sleep 300") }
            for line in lines where line.contains(Cli.simClientSecret) || line.contains(Cli.simTechPassword) || line.contains(Cli.passphrase) {
                Issue.record("a process shows a secret in its arguments: \(line.prefix(60))")
            }
            if sawSleep { extra -= 1 }
            await sleep(ms: 50)
        }
        #expect(sawSleep, "cpro replaced itself with sleep")
        kill(running.child.pid, SIGTERM)
        #expect(try await running.wait().status == 128 + SIGTERM, "the program cpro became takes SIGTERM")
    }

    @Test func apiReturnsTheAnswerAndSurvivesARevokedToken() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        let path = "utilisateurs/v1/monCompte/recuperer/rattachements"
        let body = #"{"parametresRecherche":{"nbResultatsParPage":100,"pageResultatDemandee":1}}"#
        let first = try await cli.run(["api", path, "--data", body, "--json"])
        #expect(first.status == 0, "\(first.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as? [String: Any], "\(first.stdout)")
        #expect((object["listeStructureRattachement"] as? [Any])?.count == 3)

        try await sim.admin("/_sim/revoke")
        let file = NSTemporaryDirectory() + "body-" + UUID().uuidString
        try body.write(toFile: file, atomically: true, encoding: .utf8)
        let second = try await cli.run(["api", "/" + path, "--data", "@" + file])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stdout.contains("listeStructureRattachement"))
        #expect(try await sim.tokenRequests == 2, "one refresh after the revocation")
        #expect(try await sim.apiRequests == 3, "the refused call, then its one retry")
    }

    @Test func apiFailuresExitNonZeroWithTheAnswer() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        try await sim.configure(["api": ["utilisateurs": "code_retour_200"]])
        let r = try await cli.run(["api", "utilisateurs/v1/monCompte/recuperer/rattachements", "--json"])
        #expect(r.status == 1)
        #expect(r.stdout.contains("\"codeRetour\":20001"))
        #expect(r.stderr.contains("codeRetour 20001"))
        let badBody = try await cli.run(["api", "x", "--data", "[1"])
        #expect(badBody.status == 1 && badBody.stderr.contains("not a JSON object"))
        let fromStdin = try await cli.run(["api", "structures/v1/rechercher", "--data", "@-"], stdin: Array("{}".utf8))
        #expect(fromStdin.status == 0, "\(fromStdin.stderr)")
        try await sim.configure(["api": ["structures": "forbidden_403"]])
        let denied = try await cli.run(["api", "structures/v1/rechercher", "--json"])
        #expect(denied.status == 1 && denied.stdout.contains("api_access_denied"))
    }
}

enum HandedNames {
    static let all: Set<String> = [
        "PISTE_CLIENT_ID", "PISTE_CLIENT_SECRET", "CPRO_TECH_LOGIN", "CPRO_TECH_PASSWORD", "CPRO_ACCOUNT",
        "PISTE_OAUTH_URL", "CPRO_API_URL", "PISTE_ACCESS_TOKEN", "PISTE_TOKEN_EXPIRES_AT",
    ]
}
