import Foundation
import TestSupport
import Testing

/// A secret must never reach argv, logs or error messages.
// Serialized: one test puts the secret in argv on purpose (to see it refused)
// while another scans every command line for it.
@Suite(.serialized, .timeLimit(.minutes(10))) struct SecretLeakTests {
    static let secret = "Zq9-very-secret-value-7Wx"

    @Test func noSecretInAnyProcessArguments() async throws {
        let cli = Cli()
        // Hold the writer inside its write so it is surely alive while we look.
        let writer = try cli.start(
            ["creds", "set", "--stdin", "client-secret", "--verbose"], stdin: Array(Self.secret.utf8),
            env: ["CPRO_TEST_HOLD_BEFORE_RENAME_MS": "3000"])
        var sawWriter = false
        var extra = 20
        for _ in 0..<600 where extra > 0 {
            let lines = allCommandLines()
            sawWriter = sawWriter || lines.contains { $0.contains("creds set --stdin client-secret") }
            for line in lines where line.contains(Self.secret) || line.contains(Cli.passphrase) {
                Issue.record("a process shows a secret in its arguments: \(line.prefix(80))")
            }
            if sawWriter { extra -= 1 }
            await sleep(ms: 25)
        }
        #expect(sawWriter)
        let r = try await writer.wait()
        #expect(r.status == 0)
        #expect(!r.all.contains(Self.secret))
        let (_, text) = try await spawnAndWait(["/bin/ps", "-eo", "args"], env: ["PATH": "/usr/bin:/bin"])
        #expect(!text.contains(Self.secret))
    }

    @Test func noSecretInVerboseLogsOrErrors() async throws {
        let cli = Cli()
        let s = Self.secret
        var outputs: [Cli.Result] = []
        outputs.append(try await cli.run(["creds", "set", "--stdin", "client-secret", "--verbose"], stdin: Array(s.utf8)))
        outputs.append(try await cli.run(["creds", "set", "--stdin", "tech-password", "--verbose"], stdin: Array((s + "\n\n").utf8)))
        outputs.append(try await cli.run(["creds", "set", "--stdin", "tech-password", "--verbose"], stdin: Array((s + "\u{7}").utf8)))
        outputs.append(try await cli.run(["creds", "list", "--verbose"]))
        outputs.append(try await cli.run(["creds", "list", "--json", "--verbose"]))
        outputs.append(try await cli.run(["vault", "status", "--verbose"]))
        outputs.append(try await cli.run(["creds", "get", "tech-login", "--verbose"]))
        outputs.append(try await cli.run(["creds", "get", "client-secret", "--verbose"], env: ["CPRO_VAULT_PASSPHRASE": "wrong \(s)"]))
        // Secrets typed where they do not belong: as an argument, as an option.
        outputs.append(try await cli.run(["creds", "set", "client-secret", s]))
        outputs.append(try await cli.run(["creds", "get", s]))
        outputs.append(try await cli.run(["creds", "get", "client-id", s]))
        outputs.append(try await cli.run(["creds", "set", "--client-secret=\(s)"]))
        outputs.append(try await cli.run(["creds", "set", "--client-secret", s]))
        outputs.append(try await cli.run(["creds", "set", "--stdin", "--unknown=\(s)", "client-id"]))
        outputs.append(try await cli.run(["--profile", s, "creds", "list"]))
        outputs.append(try await cli.run(["--env", s, "creds", "list"]))
        outputs.append(try await cli.run(["--backend", s, "creds", "list"]))
        outputs.append(try await cli.run(["creds", "import"], stdin: Array("{\"PISTE_CLIENT_SECRET\": \"\(s)\\n\"}".utf8)))
        outputs.append(try await cli.run(["creds", "import"], stdin: Array("{\"CPRO_ACCOUNT\": \"\(s)\"}".utf8)))
        for (i, o) in outputs.enumerated() {
            #expect(!o.all.contains(s), "output \(i) shows the secret: \(o.all.prefix(300))")
            #expect(!o.all.contains(Cli.passphrase), "output \(i) shows the passphrase")
        }
        #expect(outputs[3].stderr.contains("derived the passphrase key"), "--verbose does log")
        let refused = (Array(outputs[8...13]) + Array(outputs[15...18])).map(\.status)
        #expect(refused.allSatisfy { $0 != 0 }, "\(refused)")
        #expect(outputs[14].status == 0, "any well-formed profile name is accepted")
        // The one command whose job is to print it does.
        #expect(try await cli.run(["creds", "get", "client-secret"]).stdout == s + "\n")
    }

    /// The soft core-file limit of a live process, as /proc shows it.
    func softCoreLimit(_ pid: pid_t) -> String? {
        guard let limits = try? String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8),
              let line = limits.split(separator: "\n").first(where: { $0.hasPrefix("Max core file size") }) else { return nil }
        return line.dropFirst("Max core file size".count).split(separator: " ").first.map(String.init)
    }

    /// Started with core dumps allowed (a soft limit of unlimited, which the
    /// control proves took effect), cpro itself lowers the limit to 0: read
    /// back from that very process, not from any cpro that happens to run.
    @Test func crashOutputIsSuppressed() async throws {
        let cli = Cli()
        try await cli.must(["vault", "init"])
        let raise = "ulimit -S -c unlimited && exec \"$0\" \"$@\""
        let control = try Child(["/bin/sh", "-c", raise, "/bin/sleep", "5"], environment: ["PATH": "/usr/bin:/bin"])
        defer { control.terminate() }
        var controlLimit: String?
        for _ in 0..<200 where controlLimit != "unlimited" {
            await sleep(ms: 25)
            controlLimit = softCoreLimit(control.pid)
        }
        #expect(controlLimit == "unlimited", "the raised limit reaches a program: \(controlLimit ?? "none")")

        let input = NSTemporaryDirectory() + "core-in-" + UUID().uuidString
        FileManager.default.createFile(atPath: input, contents: Data("x".utf8))
        defer { try? FileManager.default.removeItem(atPath: input) }
        var env = cli.env
        env["CPRO_TEST_HOLD_BEFORE_RENAME_MS"] = "4000"
        let p = try Child(["/bin/sh", "-c", raise, Cli.binary, "creds", "set", "--stdin", "client-id"], environment: env, stdin: input)
        var seen: String?
        for _ in 0..<400 where seen != "0" {
            await sleep(ms: 25)
            if let cmd = FileManager.default.contents(atPath: "/proc/\(p.pid)/cmdline"),
               String(decoding: cmd, as: UTF8.self).hasPrefix(Cli.binary + "\0") {
                seen = softCoreLimit(p.pid)
            }
        }
        #expect(seen == "0", "cpro's own soft core limit: \(seen ?? "never read")")
        #expect(await p.wait() == 0)
    }
}
