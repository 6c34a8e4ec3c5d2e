import CproKit
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// CproKit inside this process, against piste-sim, next to the real `cpro`
/// binary: the same settings, the same token cache.
@Suite(.timeLimit(.minutes(10))) struct LibraryTests {
    /// Fails if `work` has not finished within `seconds`: a stalled pool
    /// would never finish, so the bound is generous (the machine may be loaded).
    func within<T: Sendable>(_ seconds: Double, _ what: String, _ work: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await work() }
            group.addTask {
                try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw Failure("\(what) did not finish within \(Int(seconds)) s", fr: "")
            }
            return value
        }
    }

    @Test func twoHundredConcurrentCallsMakeOneTokenRequest() async throws {
        let sim = try await SimProcess()
        try await sim.configure(["structures": 3])
        let cli = try await Cli.withSim(sim)
        let client = try CproClient(processEnvironment: cli.env)
        let results = try await within(120, "200 concurrent calls") {
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<200 {
                    group.addTask {
                        try await client.send(CproClient.linkedStructuresPath, LinkedStructuresRequest(page: 1),
                                              as: LinkedStructuresPage.self).structures.count
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
        }
        #expect(results.count == 200 && results.allSatisfy { $0 == 3 })
        #expect(try await sim.tokenRequests == 1)
        #expect(try await client.linkedStructures().map(\.designationStructure) == ["Structure de test 1", "Structure de test 2", "Structure de test 3"])
    }

    /// Another process holds the token lock; fifty clients wait for it. Their
    /// waits hold no thread: a heartbeat on the same pool keeps beating. In a
    /// process of its own (cprokit-probe), so the pool is not the test
    /// runner's, shared with every test running beside this one.
    @Test func waitingForAnotherProcessesLockStallsNothing() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        try FileManager.default.createDirectory(atPath: cli.home + "/cache/tokens", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let marker = cli.home + "/held"
        let holder = try Child(["/usr/bin/flock", cli.home + "/cache/tokens/default.sandbox.lock", "sh", "-c", "touch \(marker); sleep 20"],
                               environment: ["PATH": "/usr/bin:/bin"])
        for _ in 0..<400 where !FileManager.default.fileExists(atPath: marker) { await sleep(ms: 25) }
        #expect(FileManager.default.fileExists(atPath: marker))
        let probe = URL(fileURLWithPath: Cli.binary).deletingLastPathComponent().appendingPathComponent("cprokit-probe").path
        let out = NSTemporaryDirectory() + "probe-" + UUID().uuidString
        FileManager.default.createFile(atPath: out, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: out) }
        let run = try Child([probe, "lock-wait", "50"], environment: cli.env, stdout: out)
        #expect(await run.wait() == 0)
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)")
        // One second of beats; a stalled pool would beat only after the
        // holder lets go, twenty seconds after it took the lock. The bound is
        // well under that but well over what 50 clients' key derivations cost
        // on two loaded cores (they starve the pool of CPU, not of threads:
        // 5 to 9 s seen in full CI runs; issue 27 makes it one derivation).
        let beat = try #require(object["heartbeat_s"] as? Double)
        #expect(beat < 15, "the heartbeat waited for the lock holder: \(text)")
        #expect(object["tokens"] as? Int == 50 && object["failed"] as? Int == 0, "\(text)")
        #expect(try await sim.tokenRequests == 1)
        _ = await holder.wait()
    }

    @Test func theCommandAndTheLibraryShareOneToken() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        let client = try CproClient(processEnvironment: cli.env)
        let fromLibrary = try await client.token().value.unprotectedString
        let fromCLI = try await cli.run(["token"])
        #expect(fromCLI.stdout == fromLibrary + "\n")
        // And the other way round, for another selection.
        try await cli.storeSimCredentials(profile: "other")
        let cliFirst = try await cli.run(["token", "--profile", "other"])
        let other = try CproClient(profile: "other", processEnvironment: cli.env)
        #expect(try await other.token().value.unprotectedString + "\n" == cliFirst.stdout)
        #expect(try await sim.tokenRequests == 2)
    }

    @Test func aTechnicalPasswordChangedWithTheCommandIsUsedWithoutRestart() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        let client = try CproClient(processEnvironment: cli.env)
        let before = try await client.linkedStructures()
        #expect(!before.isEmpty)
        // Chorus Pro now wants another password; the user stores it with cpro.
        try await sim.configure(["accounts": [Cli.simTechLogin: "a-new-password-2027"]])
        try await cli.must(["creds", "set", "--stdin", "tech-password"], stdin: Array("a-new-password-2027".utf8))
        let after = try await client.linkedStructures()
        #expect(after == before)
    }

    @Test func failuresAreTypedAndRenderedByTheCaller() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        let client = try CproClient(processEnvironment: cli.env)
        struct Wrong: Decodable { let nothingLikeThis: String }
        do {
            _ = try await client.send(CproClient.linkedStructuresPath, LinkedStructuresRequest(page: 1), as: Wrong.self)
            Issue.record("a wrong shape was decoded")
        } catch let e as Failure {
            #expect(e.diagnosis == .unexpectedResponse)
            #expect(e.message(.en).contains("no nothingLikeThis"))
            #expect(e.message(.fr).contains("n'a pas la forme attendue"))
        }
        // A locked vault: no prompt, no terminal, an error saying what to do.
        var locked = cli.env
        locked["CPRO_VAULT_PASSPHRASE"] = nil
        locked["CPRO_HOME"] = cli.home
        let noKey = try CproClient(processEnvironment: locked)
        do {
            _ = try await noKey.linkedStructures()
            Issue.record("a locked vault was read")
        } catch let e as CproError {
            #expect(e.message(.en).contains("cpro vault unlock"))
        }
        // Its own passphrase source opens it.
        let given = try CproClient(processEnvironment: locked, passphrase: { SecretBytes(utf8: Cli.passphrase) })
        #expect(try await !given.linkedStructures().isEmpty)
    }
}
