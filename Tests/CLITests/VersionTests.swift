import Foundation
import TestSupport
import Testing

/// `--version`, the build stamp, and the completion scripts that the package
/// installs (scripts/package takes them from the same binary).
@Suite(.timeLimit(.minutes(10))) struct VersionTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    @Test func versionMatchesTheVersionFileAndSaysWhenNoCommitIsRecorded() async throws {
        let number = try String(contentsOfFile: Self.root + "/VERSION", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(number.range(of: #"^\d+\.\d+\.\d+$"#, options: .regularExpression) != nil, "VERSION: \(number)")
        for (tool, binary) in [("cpro", Cli.binary), ("piste-sim", SimProcess.binary)] {
            let r = try await spawnAndWait([binary, "--version"], env: ["PATH": "/usr/bin:/bin"])
            #expect(r.status == 0)
            #expect(r.output == "\(tool) \(number) (commit not recorded: a build from source)\n", "\(r.output)")
        }
    }

    @Test func aStampedBinarySaysItsCommitAndCannotBeStampedTwice() async throws {
        let copy = NSTemporaryDirectory() + "cpro-stamp-" + UUID().uuidString
        try FileManager.default.copyItem(atPath: Cli.binary, toPath: copy)
        defer { try? FileManager.default.removeItem(atPath: copy) }
        let stamp = Self.root + "/scripts/stamp"
        let first = try await spawnAndWait([stamp, copy, "0123456789ab"], env: ["PATH": "/usr/bin:/bin"])
        #expect(first.status == 0, "\(first.output)")
        let r = try await spawnAndWait([copy, "--version"], env: ["PATH": "/usr/bin:/bin"])
        #expect(r.output.hasSuffix(" (commit 0123456789ab)\n"), "\(r.output)")
        let again = try await spawnAndWait([stamp, copy, "ba9876543210"], env: ["PATH": "/usr/bin:/bin"])
        #expect(again.status != 0 && again.output.contains("0 unstamped build stamps"), "\(again.output)")
        let notACommit = try await spawnAndWait([stamp, copy, "v1; rm -rf /"], env: ["PATH": "/usr/bin:/bin"])
        #expect(notACommit.status != 0 && notACommit.output.contains("not a commit id"))
    }

    /// Each script loads in its own shell and completes the subcommands.
    @Test(arguments: ["bash", "zsh", "fish"])
    func completionScriptLoadsInItsShell(_ shell: String) async throws {
        let dir = NSTemporaryDirectory() + "completion-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let gen = try await spawnAndWait([Cli.binary, "--generate-completion-script", shell], env: ["PATH": "/usr/bin:/bin"])
        #expect(gen.status == 0)
        let name = shell == "zsh" ? "_cpro" : shell == "fish" ? "cpro.fish" : "cpro"
        try gen.output.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
        let check: [String]
        switch shell {
        case "bash":
            check = ["/bin/bash", "-c", "source \"$0/cpro\" && complete -p cpro", dir]
        case "zsh":
            check = ["/usr/bin/zsh", "-f", "-c", "fpath=(\"$0\" $fpath); autoload -Uz compinit && compinit -u -D && autoload -Uz _cpro && whence -w _cpro && print ${_comps[cpro]}", dir]
        default:
            check = ["/usr/bin/fish", "--no-config", "-c", "source $argv[1]/cpro.fish; complete -C 'cpro cre'", dir]
        }
        let r = try await spawnAndWait(check, env: ["PATH": "/usr/bin:/bin", "HOME": dir, "XDG_CONFIG_HOME": dir, "XDG_DATA_HOME": dir])
        #expect(r.status == 0, "\(shell): \(r.output)")
        switch shell {
        case "bash": #expect(r.output.contains("cpro"), "\(r.output)")
        case "zsh": #expect(r.output.contains("_cpro: function") && r.output.contains("_cpro"), "\(r.output)")
        default: #expect(r.output.contains("creds"), "\(r.output)")
        }
    }
}

@Suite(.timeLimit(.minutes(10))) struct SimulatorLifetimeTests {
    /// A graceful shutdown would wait for the request in flight (here two
    /// minutes of simulated slowness) and outlive the test that started it.
    @Test func sigtermEndsTheSimulatorWithARequestInFlight() async throws {
        let sim = try await SimProcess()
        try await sim.configure(["token_delay_ms": 120_000])
        let cli = try await Cli.withSim(sim)
        let pending = try cli.start(["token"], env: ["CPRO_VAULT_PASSPHRASE": Cli.passphrase])
        defer { kill(pending.pid, SIGKILL) }
        // The request is in the simulator's hands once it counts it.
        for _ in 0..<200 where (try? await sim.admin("/_sim/stats"))?["token_requests"] as? Int ?? 0 == 0 {
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        sim.child.terminate()
        var ended = false
        for _ in 0..<200 {
            if !sim.child.isRunning { ended = true; break }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        #expect(ended, "piste-sim still runs 10 s after SIGTERM, with a token request in flight")
    }
}
