import Foundation
import Testing

@Suite(.timeLimit(.minutes(10))) struct TokenCLITests {
    @Test func firstCallFetchesSecondIsCached() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        let first = try await cli.run(["token"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.hasPrefix("sim-") && first.stdout.hasSuffix("\n"))
        let second = try await cli.run(["token", "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(second.stdout.utf8)) as? [String: Any], "\(second.stdout)")
        #expect(object["access_token"] as? String == first.stdout.trimmingCharacters(in: .newlines))
        #expect(object["token_type"] as? String == "Bearer")
        #expect((object["expires_at"] as? String)?.hasSuffix("Z") == true)
        #expect(try await sim.tokenRequests == 1)
    }

    @Test func aWarmReadNeedsNoPassphrase() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        let first = try await cli.run(["token"])
        let warm = try await cli.run(["token", "--verbose"], env: ["CPRO_VAULT_PASSPHRASE": ""])
        #expect(warm.status == 0, "\(warm.stderr)")
        #expect(warm.stdout == first.stdout)
        #expect(!warm.stderr.contains("vault"), "the vault was not opened: \(warm.stderr)")
    }

    /// `cpro token` on a warm cache skips the argument parser (FastPath);
    /// whatever it cannot answer exactly as the full path would, the full
    /// path answers. `--lang en` and `--verbose` always take the full path.
    @Test func theFastPathAnswersLikeTheFullPath() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        let full = try await cli.run(["--lang", "en", "token"])
        #expect(full.status == 0, "\(full.stderr)")
        for args in [["token"], ["token", "--profile", "default"], ["token", "--env=sandbox", "--profile=default"]] {
            let fast = try await cli.run(args, env: ["CPRO_VAULT_PASSPHRASE": ""])
            #expect(fast.status == 0 && fast.stdout == full.stdout && fast.stderr.isEmpty, "\(args): \(fast.stderr)")
        }
        // Errors are the full path's, word for word.
        for args in [["token", "--profile", "nobody"], ["token", "--env", "nowhere"], ["token", "--profile", "bad name"], ["token", "--env"]] {
            let fast = try await cli.run(args)
            let slow = try await cli.run(["--lang", "en"] + args)
            #expect(fast.status == slow.status && fast.stderr == slow.stderr && fast.stdout == slow.stdout, "\(args): \(fast.stderr) / \(slow.stderr)")
        }
        // A warning in the config is printed once, by the full path.
        try "mystery = 1\n".write(toFile: cli.home + "/config.toml", atomically: true, encoding: .utf8)
        let warned = try await cli.run(["token"])
        #expect(warned.stdout == full.stdout)
        #expect(warned.stderr.components(separatedBy: "unknown key 'mystery'").count == 2, "\(warned.stderr)")
        try FileManager.default.removeItem(atPath: cli.home + "/config.toml")
        // New credentials: the cached token no longer belongs to them.
        try await cli.must(["creds", "set", "--stdin", "client-secret"], stdin: Array(Cli.simClientSecret.utf8))
        let after = try await cli.run(["token"])
        #expect(after.status == 0)
        #expect(try await sim.tokenRequests == 1, "same values stored again: the token is kept")
        try await cli.must(["creds", "set", "--stdin", "client-id"], stdin: Array("another-client-id".utf8))
        let refused = try await cli.run(["token"])
        #expect(refused.status != 0, "a token for other credentials was printed: \(refused.stdout)")
    }

    @Test func fiftyConcurrentColdStartsMakeOneTokenRequest() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        let running = try (0..<50).map { _ in try cli.start(["token"]) }
        var tokens: Set<String> = []
        for r in running {
            let result = try await r.wait()
            #expect(result.status == 0, "\(result.stderr)")
            tokens.insert(result.stdout)
        }
        #expect(tokens.count == 1)
        #expect(try await sim.tokenRequests == 1)
    }

    /// A person slow at the passphrase prompt does not hold the token lock:
    /// another process with its passphrase in the environment goes ahead.
    @Test func aSlowPromptDoesNotHoldTheTokenLock() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        let slow = Task {
            try await cli.interactive(["token"], [.expect("Passphrase for"), .pause(30), .send(Cli.passphrase), .expect("sim-")])
        }
        // Let the slow one reach its prompt (and, before the fix, the lock).
        for _ in 0..<400 {
            await sleep(ms: 50)
            if !processIDs(commandPrefix: Cli.binary + " token").isEmpty { break }
        }
        await sleep(ms: 2000)
        let fast = try await cli.run(["token"])
        #expect(fast.status == 0, "\(fast.stderr)")
        // Not a timing: the fast one is done while the person is still at the
        // prompt. Before, it waited for the lock, so for the person.
        #expect(!processIDs(commandPrefix: Cli.binary + " token").isEmpty, "the slow one is still at its prompt")
        let slowResult = try await slow.value
        #expect(slowResult.status == 0, "\(slowResult.stdout)")
    }

    @Test func anExpiredTokenIsRefreshed() async throws {
        let sim = try await SimProcess()
        try await sim.configure(["token_lifetime": 2])
        let cli = try await Cli.withSim(sim)
        let a = try await cli.run(["token"])
        try await Task.sleep(nanoseconds: 1_300_000_000)
        let b = try await cli.run(["token"])
        #expect(a.stdout != b.stdout)
        #expect(try await sim.tokenRequests == 2)
    }

    @Test func aTokenOfAnotherClientIDIsNeverReused() async throws {
        let sim = try await SimProcess()
        try await sim.configure(["clients": [Cli.simClientID: Cli.simClientSecret, "0a0b0c0d-1111-2222-3333-444455556666": "other-secret"]])
        let cli = try await Cli.withSim(sim)
        let a = try await cli.run(["token"])
        try await cli.storeSimCredentials(id: "0a0b0c0d-1111-2222-3333-444455556666", secret: "other-secret")
        let b = try await cli.run(["token"])
        #expect(b.status == 0 && a.stdout != b.stdout)
        try await cli.storeSimCredentials(profile: "second")
        let c = try await cli.run(["token", "--profile", "second"])
        #expect(c.stdout != a.stdout && c.stdout != b.stdout, "profiles have their own tokens")
        #expect(try await sim.tokenRequests == 3)
    }

    @Test(arguments: ["invalid_client_400", "invalid_client_401"])
    func invalidClientEitherWayIsOauthInvalidClient(_ behaviour: String) async throws {
        let sim = try await SimProcess()
        try await sim.configure(["token": behaviour])
        let cli = try await Cli.withSim(sim)
        let r = try await cli.run(["token", "--json"])
        #expect(r.status == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: [String: String]], "\(r.stdout)")
        #expect(object["error"]?["diagnosis"] == "oauth_invalid_client")
        #expect(r.stderr.contains("client ID or secret"))
        #expect(!r.all.contains(Cli.simClientSecret))
    }

    @Test func retriesStopAfterTheBound() async throws {
        let sim = try await SimProcess()
        try await sim.configure(["token_fail": ["status": 503, "count": 100]])
        let cli = try await Cli.withSim(sim)
        let r = try await cli.run(["token", "--json"])
        #expect(r.status == 1)
        #expect(r.stdout.contains("\"diagnosis\":\"unreachable\""))
        #expect(try await sim.tokenRequests == 3)
    }

    @Test func refreshAndClear() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        let a = try await cli.run(["token"])
        let b = try await cli.run(["token", "--refresh"])
        #expect(a.stdout != b.stdout)
        let cleared = try await cli.run(["token", "clear"])
        #expect(cleared.status == 0 && cleared.stderr.contains("Forgot"))
        let again = try await cli.run(["token", "clear"])
        #expect(again.stderr.contains("No cached token"))
        _ = try await cli.run(["token"])
        #expect(try await sim.tokenRequests == 3)
    }

    @Test func missingCredentialsAreNamed() async throws {
        let sim = try await SimProcess()
        var cli = Cli()
        cli.env.merge(sim.env) { $1 }
        let r = try await cli.run(["token", "--json"])
        #expect(r.status == 1)
        #expect(r.stdout.contains("credentials_missing"))
        #expect(r.stderr.contains("client-id"))
    }

    @Test func theEnvBackendWorksWithoutAVault() async throws {
        let sim = try await SimProcess()
        var cli = Cli(passphrase: nil)
        cli.env.merge(sim.env) { $1 }
        let vars = ["PISTE_CLIENT_ID": Cli.simClientID, "PISTE_CLIENT_SECRET": Cli.simClientSecret]
        let a = try await cli.run(["token", "--backend", "env"], env: vars)
        #expect(a.status == 0, "\(a.stderr)")
        let b = try await cli.run(["token", "--backend", "env"], env: vars)
        #expect(a.stdout == b.stdout)
        #expect(try await sim.tokenRequests == 1)
    }
}
