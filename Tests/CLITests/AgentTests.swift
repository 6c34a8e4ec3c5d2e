import CproCore
import CproVault
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The session agent (`cpro vault unlock`), driven through the real binary:
/// the agent runs as the background process `vault unlock` starts.
@Suite(.timeLimit(.minutes(10))) struct AgentTests {
    static let pass = ["CPRO_VAULT_PASSPHRASE": Cli.passphrase]

    /// A vault with four values, and a CLI whose environment has no passphrase.
    func vault() async throws -> Cli {
        let cli = Cli(passphrase: nil)
        let values = #"{"PISTE_CLIENT_ID":"5e1f0c2a-6b3d-4c8e-9a7f-0d1e2f3a4b5c","PISTE_CLIENT_SECRET":"sim-client-secret-8c41","CPRO_TECH_LOGIN":"TECH_1_00000000000000@cpro.fr","CPRO_TECH_PASSWORD":"sim-tech-password-7"}"#
        try await cli.must(["creds", "import"], stdin: Array(values.utf8), env: Self.pass)
        return cli
    }

    func agentPID(_ cli: Cli) async throws -> Int32? {
        let r = try await cli.run(["vault", "status", "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        return ((object?["details"] as? [String: String])?["agent_pid"]).flatMap { Int32($0) }
    }

    func agentLog(_ cli: Cli) -> String {
        (try? String(contentsOfFile: cli.home + "/agent.log", encoding: .utf8)) ?? ""
    }

    func gone(_ pid: Int32, within seconds: Double = 30) async -> Bool { await processGone(pid, within: seconds) }

    func stop(_ cli: Cli) async throws {
        if let pid = try await agentPID(cli) {
            _ = try await cli.run(["vault", "lock"])
            if !(await gone(pid)) { kill(pid, SIGKILL) }
        }
    }

    @Test func unlockOnceThenTwentyReadsWithoutPassphraseOrKeyDerivation() async throws {
        let cli = try await vault()
        let locked = try await cli.run(["creds", "get", "client-id"])
        #expect(locked.status == 1 && locked.stderr.contains("cpro vault unlock"), "\(locked.stderr)")

        let unlock = try await cli.run(["--verbose", "vault", "unlock", "--for", "10m"], env: Self.pass)
        #expect(unlock.status == 0, "\(unlock.stderr)")
        #expect(unlock.stderr.components(separatedBy: "derived the passphrase key").count - 1 == 1)
        #expect(unlock.stderr.contains("10m without use"))

        var derivations = 0, throughAgent = 0
        for _ in 0..<20 {
            let r = try await cli.run(["--verbose", "creds", "get", "client-secret"])
            #expect(r.status == 0 && r.stdout == "sim-client-secret-8c41\n", "\(r.stderr)")
            derivations += r.stderr.components(separatedBy: "derived the passphrase key").count - 1
            if r.stderr.contains("through the session agent") { throughAgent += 1 }
        }
        #expect(derivations == 0)
        #expect(throughAgent == 20)

        // Writes go through the agent too (it seals), and ten readers at once are served.
        try await cli.must(["creds", "set", "--stdin", "tech-password"], stdin: Array("a-new-password-8".utf8))
        let readers = try await withThrowingTaskGroup(of: Cli.Result.self) { group in
            for _ in 0..<10 { group.addTask { try await cli.run(["creds", "get", "tech-password"]) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(readers.allSatisfy { $0.status == 0 && $0.stdout == "a-new-password-8\n" })
        // The vault the agent sealed opens with the passphrase, without the agent.
        let direct = try await cli.run(["--no-agent", "creds", "get", "tech-password"], env: Self.pass)
        #expect(direct.stdout == "a-new-password-8\n", "\(direct.stderr)")

        let status = try await cli.run(["vault", "status"])
        // Keys are aligned: compare with single spaces.
        let rows = status.stdout.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
        #expect(rows.contains("agent: unlocked") && rows.contains("state: ready") && rows.contains("passphrase_source: agent"), "\(rows)")

        // Locked: reads fall back to the passphrase, and fail without one.
        let pid = try #require(try await agentPID(cli))
        let lock = try await cli.run(["vault", "lock"])
        #expect(lock.status == 0 && lock.stderr.contains("wiped"))
        let after = try await cli.run(["creds", "get", "client-secret"])
        #expect(after.status == 1 && after.stderr.contains("needs its passphrase"))
        #expect(try await cli.run(["creds", "get", "client-secret"], env: Self.pass).stdout == "sim-client-secret-8c41\n")
        // Started on demand, the agent leaves with its key.
        #expect(await gone(pid))
        #expect(!FileManager.default.fileExists(atPath: cli.home + "/agent.sock"))
    }

    @Test func idleTimeoutWipesTheKey() async throws {
        let cli = try await vault()
        // Unused for 3 s, the key is wiped and the agent leaves. (No read
        // before: on a loaded machine one command can take longer than that.)
        // The pid from unlock's own answer: by the time a `vault status` ran,
        // a loaded machine may have let the 3 s pass.
        let unlock = try await cli.must(["vault", "unlock", "--for", "3s", "--json"], env: Self.pass)
        let object = try JSONSerialization.jsonObject(with: Data(unlock.stdout.utf8)) as? [String: Any]
        let pid = try #require((object?["agent_pid"] as? Int).map { Int32($0) }, "\(unlock.stdout)")
        #expect(await gone(pid, within: 60))
        let r = try await cli.run(["creds", "get", "client-id"])
        #expect(r.status == 1 && r.stderr.contains("needs its passphrase"))
        #expect(agentLog(cli).contains("key wiped: idle for 3 s"))
    }

    @Test func aNewPassphraseElsewhereInvalidatesTheAgentsKey() async throws {
        let cli = try await vault()
        try await cli.must(["vault", "unlock"], env: Self.pass)
        #expect(try await cli.run(["creds", "get", "client-id"]).status == 0)
        // Another process changes the passphrase (and the master key).
        try await cli.must(["vault", "passwd"], env: Self.pass.merging(["CPRO_VAULT_NEW_PASSPHRASE": "the second passphrase"]) { $1 })
        let r = try await cli.run(["creds", "get", "client-id"])
        #expect(r.status == 1 && r.stderr.contains("needs its passphrase"), "\(r.stdout)")
        #expect(agentLog(cli).contains("key slot changed"))
        let new = try await cli.run(["creds", "get", "client-id"], env: ["CPRO_VAULT_PASSPHRASE": "the second passphrase"])
        #expect(new.stdout == "5e1f0c2a-6b3d-4c8e-9a7f-0d1e2f3a4b5c\n")
        // The old passphrase cannot unlock the new vault either.
        let old = try await cli.run(["vault", "unlock"], env: Self.pass)
        #expect(old.status == 1 && old.stderr.contains("wrong passphrase"))
        try await stop(cli)
    }

    @Test func aKilledOrStoppedAgentNeverHoldsACommand() async throws {
        let cli = try await vault()
        try await cli.must(["vault", "unlock"], env: Self.pass)
        let pid = try #require(try await agentPID(cli))

        // Stopped (a debugger, SIGSTOP): the socket accepts, nothing answers.
        // The same command without the agent is the yardstick, so a loaded
        // machine slows both; the agent's budget is half a second.
        var start = Date()
        _ = try await cli.run(["--no-agent", "creds", "get", "client-id"])
        let yardstick = Date().timeIntervalSince(start)
        kill(pid, SIGSTOP)
        start = Date()
        let stalled = try await cli.run(["creds", "get", "client-id"])
        #expect(stalled.status == 1 && stalled.stderr.contains("needs its passphrase"))
        #expect(Date().timeIntervalSince(start) < yardstick + 4, "a stopped agent held the command")
        kill(pid, SIGCONT)

        // Killed: a stale socket is left behind.
        let master = try masterAndPassphraseKey(cli)
        kill(pid, SIGKILL)
        #expect(await gone(pid))
        #expect(FileManager.default.fileExists(atPath: cli.home + "/agent.sock"))
        // (What the stale socket costs is measured by scripts/bench: nothing measurable.)
        let stale = try await cli.run(["creds", "get", "client-id"], env: Self.pass)
        #expect(stale.status == 0)
        let staleNoPass = try await cli.run(["creds", "get", "client-id"])
        #expect(staleNoPass.status == 1 && staleNoPass.stderr.contains("needs its passphrase"))

        // Nothing of the key reached the disk: no file under CPRO_HOME holds
        // the master key or the passphrase key, and there is no core file.
        for file in FileManager.default.enumerator(atPath: cli.home)?.compactMap({ $0 as? String }) ?? [] {
            let bytes = [UInt8]((try? Data(contentsOf: URL(fileURLWithPath: cli.home + "/" + file))) ?? Data())
            #expect(!contains(bytes, master.master), "\(file) holds the master key")
            #expect(!contains(bytes, master.kek), "\(file) holds the passphrase key")
            #expect(!file.hasPrefix("core"), "a core file: \(file)")
        }

        // A new agent takes the stale socket's place.
        try await cli.must(["vault", "unlock"], env: Self.pass)
        #expect(try await cli.run(["creds", "get", "client-id"]).status == 0)
        try await stop(cli)
    }

    @Test(.enabled(if: geteuid() == 0, "needs root to run a process as another user"))
    func anotherUsersProcessIsRefused() async throws {
        let cli = try await vault()
        try await cli.must(["vault", "unlock"], env: Self.pass)
        // The folder (0700) already keeps other users out; open it up so the
        // connection reaches the agent's own check, as after a careless chmod.
        chmod(cli.home, 0o711)
        chmod(cli.home + "/agent.sock", 0o666)
        defer {
            chmod(cli.home, 0o700)
            chmod(cli.home + "/agent.sock", 0o600)
        }
        let script = """
            import os, socket, sys
            os.setgid(65534); os.setuid(65534)
            s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
            try:
                s.sendall(b"CPA1" + bytes([2]) + (0).to_bytes(4, "little"))
            except BrokenPipeError:
                pass  # the agent answers and hangs up before reading a refused peer's request
            print("status", s.recv(1)[0])
            """
        let out = NSTemporaryDirectory() + "agent-uid-" + UUID().uuidString
        FileManager.default.createFile(atPath: out, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: out) }
        let child = try Child(["/usr/bin/python3", "-c", script, cli.home + "/agent.sock"], environment: ["PATH": "/usr/bin:/bin"],
                              stdout: out, stderr: out)
        #expect(await child.wait() == 0, "\((try? String(contentsOfFile: out, encoding: .utf8)) ?? "")")
        #expect((try? String(contentsOfFile: out, encoding: .utf8))?.contains("status 4") == true)
        #expect(agentLog(cli).contains("refused a connection from uid 65534"))
        // The agent still serves its own user.
        #expect(try await cli.run(["creds", "get", "client-id"]).status == 0)
        try await stop(cli)
    }

    @Test func noAgentAndTheConfigSwitchTurnItOff() async throws {
        let cli = try await vault()
        try await cli.must(["vault", "unlock"], env: Self.pass)
        let off = try await cli.run(["--no-agent", "creds", "get", "client-id"])
        #expect(off.status == 1 && off.stderr.contains("needs its passphrase"))
        try await cli.must(["config", "set", "agent", "false"])
        let config = try await cli.run(["creds", "get", "client-id"])
        #expect(config.status == 1 && config.stderr.contains("needs its passphrase"))
        let unlock = try await cli.run(["vault", "unlock"], env: Self.pass)
        #expect(unlock.status == 1 && unlock.stderr.contains("turned off"))
        let bad = try await cli.run(["config", "set", "agent", "maybe"])
        #expect(bad.status == 1 && bad.stderr.contains("true or false"))
        try await cli.must(["config", "set", "agent", "true"])
        #expect(try await cli.run(["creds", "get", "client-id"]).status == 0)
        let duration = try await cli.run(["vault", "unlock", "--for", "15"], env: Self.pass)
        #expect(duration.status == 64 && duration.stderr.contains("90s, 15m"), "a command-line mistake")
        try await stop(cli)
    }

    /// The wizard opens the vault through the agent: no passphrase prompt.
    @Test func theWizardUsesTheUnlockedVault() async throws {
        let sim = try await SimProcess()
        var cli = Cli(passphrase: nil)
        cli.env.merge(sim.env) { $1 }
        try await cli.must(["vault", "init"], env: Self.pass)
        try await cli.must(["vault", "unlock"], env: Self.pass)
        let r = try await cli.interactive(["onboard", "--env", "sandbox"], [
            .expect("PISTE client ID"), .send(Cli.simClientID),
            .expect("PISTE client secret"), .send(Cli.simClientSecret),
            .expect("technical account login"), .send(Cli.simTechLogin),
            .expect("technical account password"), .send(Cli.simTechPassword),
            .expect("When was this technical password set"), .send(""),
            .expect("is ready"),
        ])
        #expect(r.status == 0, "\(r.stdout)")
        #expect(!r.stdout.contains("Passphrase for"))
        #expect(try await cli.run(["creds", "get", "tech-password"]).stdout == Cli.simTechPassword + "\n")
        try await stop(cli)
    }

    // MARK: helpers

    func masterAndPassphraseKey(_ cli: Cli) throws -> (master: [UInt8], kek: [UInt8]) {
        let file = [UInt8](try Data(contentsOf: URL(fileURLWithPath: cli.vaultPath)))
        let header = try VaultFormat.parseHeader(file, path: cli.vaultPath)
        let kek = try VaultFormat.deriveKeyEncryptionKey(header, passphrase: SecretBytes(utf8: Cli.passphrase))
        let master = try VaultFormat.unwrapMasterKey(header, kek: kek, path: cli.vaultPath)
        return (master.unprotectedBytes, kek.unprotectedBytes)
    }

    func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count else { return false }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
            if Array(haystack[i..<(i + needle.count)]) == needle { return true }
        }
        return false
    }
}
