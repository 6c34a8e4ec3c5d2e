import Foundation
import Testing

@Suite(.timeLimit(.minutes(10))) struct VaultCommandTests {
    @Test func initStatusAndPasswd() async throws {
        let cli = Cli()
        let absent = try await cli.run(["vault", "status", "--json"])
        #expect(absent.stdout.contains("\"state\":\"absent\""))
        #expect(try await cli.run(["vault", "init"]).status == 0)
        let again = try await cli.run(["vault", "init"])
        #expect(again.status == 1 && again.stderr.contains("already exists"))
        let status = try await cli.run(["vault", "status", "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any], "\(status.stdout)")
        #expect(object["state"] as? String == "locked")
        #expect(object["backend"] as? String == "file")
        let details = try #require(object["details"] as? [String: String])
        #expect(details["mode"] == "600")
        #expect(details["kdf"]?.contains("argon2id13") == true)
        #expect(details["passphrase_source"] == "CPRO_VAULT_PASSPHRASE")

        try await cli.must(["creds", "set", "--stdin", "client-secret"], stdin: Array("keep-me".utf8))
        let noNew = try await cli.run(["vault", "passwd"])
        #expect(noNew.status == 1 && noNew.stderr.contains("CPRO_VAULT_NEW_PASSPHRASE"))
        let changed = try await cli.run(["vault", "passwd"], env: ["CPRO_VAULT_NEW_PASSPHRASE": "another long passphrase"])
        #expect(changed.status == 0, "\(changed.stderr)")
        let old = try await cli.run(["creds", "get", "client-secret"])
        #expect(old.status == 1 && old.stderr.contains("wrong passphrase"))
        let new = try await cli.run(["creds", "get", "client-secret"], env: ["CPRO_VAULT_PASSPHRASE": "another long passphrase"])
        #expect(new.stdout == "keep-me\n")
    }

    @Test func noTerminalFailsAtOnceWithTheWayOut() async throws {
        let cli = Cli(passphrase: nil)
        let create = try await cli.run(["creds", "set", "--stdin", "client-id"], stdin: Array("x".utf8))
        #expect(create.status == 1)
        #expect(create.stderr.contains("no terminal") && create.stderr.contains("CPRO_VAULT_PASSPHRASE"))
        #expect(!FileManager.default.fileExists(atPath: cli.vaultPath))
        let prompt = try await cli.run(["creds", "set", "client-id"])
        #expect(prompt.status == 1 && prompt.stderr.contains("--stdin"))
    }

    @Test func wrongPassphraseAndDamagedVaultChangeNothing() async throws {
        let cli = Cli()
        try await cli.must(["creds", "set", "--stdin", "client-id"], stdin: Array("x".utf8))
        let before = try Data(contentsOf: URL(fileURLWithPath: cli.vaultPath))
        let wrong = try await cli.run(["creds", "set", "--stdin", "client-id"], stdin: Array("y".utf8), env: ["CPRO_VAULT_PASSPHRASE": "wrong passphrase"])
        #expect(wrong.status == 1 && wrong.stderr.contains("wrong passphrase"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: cli.vaultPath)) == before)

        var damaged = before
        damaged[damaged.count - 1] ^= 1
        try damaged.write(to: URL(fileURLWithPath: cli.vaultPath))
        let r = try await cli.run(["creds", "set", "--stdin", "client-secret"], stdin: Array("y".utf8))
        #expect(r.status == 1 && r.stderr.contains("damaged"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: cli.vaultPath)) == damaged)
        let truncated = Data(before.prefix(100))
        try truncated.write(to: URL(fileURLWithPath: cli.vaultPath))
        let t = try await cli.run(["creds", "list"])
        #expect(t.status == 1 && t.stderr.contains("damaged"))
        // The status says so in the reader's language.
        let fr = try await cli.run(["vault", "status", "--lang", "fr"])
        #expect(fr.stdout.contains("est abîmé") && !fr.stdout.contains("is damaged"), "\(fr.stdout)")
    }

    @Test func twentyConcurrentWritersAllLand() async throws {
        let cli = Cli()
        let fields = ["client-id", "client-secret", "tech-login", "tech-password"]
        let jobs = (0..<20).map { i in (profile: "p\(i / 4)", field: fields[i % 4], value: "value-\(i)-é") }
        let running = try jobs.map { job in
            try cli.start(["creds", "set", "--stdin", job.field, "--profile", job.profile], stdin: Array(job.value.utf8))
        }
        for r in running {
            let result = try await r.wait()
            #expect(result.status == 0, "\(result.stderr)")
        }
        for job in jobs {
            let got = try await cli.run(["creds", "get", job.field, "--profile", job.profile])
            #expect(got.stdout == job.value + "\n", "\(job)")
        }
    }

    @Test func aWriterKilledMidWriteLeavesAReadableVault() async throws {
        let cli = Cli()
        try await cli.must(["creds", "set", "--stdin", "client-secret"], stdin: Array("old-value".utf8))
        let writer = try cli.start(
            ["creds", "set", "--stdin", "client-secret"], stdin: Array("new-value".utf8),
            env: ["CPRO_TEST_HOLD_BEFORE_RENAME_MS": "20000"])
        // Wait until the complete temporary file exists: the writer is between
        // its fsync and its rename, holding the lock.
        var temporary: String?
        for _ in 0..<400 where temporary == nil {
            temporary = try FileManager.default.contentsOfDirectory(atPath: cli.home).first { $0.hasPrefix("vault.cpro.tmp-") }
            if temporary == nil { await sleep(ms: 25) }
        }
        #expect(temporary != nil)
        // The temporary file is named after its writer's pid; setsid may have
        // forked, so that pid, not the Process's, is cpro.
        let writerPID = try #require(temporary.flatMap { Int32($0.split(separator: "-")[1]) })
        #expect(kill(writerPID, SIGKILL) == 0)
        _ = try await writer.wait()
        // The killed writer itself is gone (or a zombie awaiting its reaper).
        // (This looked for the hook's variable in command lines, where an
        // environment variable never appears, so it could not fail.)
        var alive = true
        for _ in 0..<100 where alive {
            let stat = (try? String(contentsOfFile: "/proc/\(writerPID)/stat", encoding: .utf8)) ?? ""
            alive = !stat.isEmpty && !(stat.split(separator: ")").last?.trimmingCharacters(in: .whitespaces).hasPrefix("Z") ?? true)
            if alive { await sleep(ms: 50) }
        }
        #expect(!alive, "the writer \(writerPID) still runs after SIGKILL")

        #expect(try await cli.run(["creds", "get", "client-secret"]).stdout == "old-value\n")
        // The kernel dropped the dead writer's lock: the next write goes through
        // at once and clears the leftover temporary file.
        let next = try await cli.run(["creds", "set", "--stdin", "client-secret"], stdin: Array("newer".utf8))
        #expect(next.status == 0, "\(next.stderr)")
        #expect(try await cli.run(["creds", "get", "client-secret"]).stdout == "newer\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: cli.home).filter { $0.contains(".tmp-") }.isEmpty)
    }
}
