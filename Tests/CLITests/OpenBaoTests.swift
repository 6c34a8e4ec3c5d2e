import Foundation
import Testing

/// The real `cpro` against a real OpenBao dev server on 127.0.0.1.
@Suite(.timeLimit(.minutes(10))) struct OpenBaoTests {
    func json(_ r: Cli.Result) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stdout) \(r.stderr)")
    }

    func set(_ cli: Cli, _ field: String, _ value: String, _ extra: [String] = []) async throws -> Cli.Result {
        try await cli.run(["creds", "set", "--stdin", field] + extra, stdin: Array(value.utf8))
    }

    @Test func storeReadListRemoveOverwrite() async throws {
        let bao = try await OpenBaoServer.shared.value
        let cli = Cli.onOpenBao(bao)
        let profiles = ["alpha", "beta"]
        let big = String(repeating: "é€x", count: 700)  // over 4 KiB of UTF-8
        for p in profiles {
            for env in ["sandbox", "production"] {
                for f in ["client-id", "client-secret", "tech-login", "tech-password"] {
                    let value = f == "client-secret" ? big : "\(p)-\(env)-\(f)-ü \"q\" \\ $x"
                    let r = try await set(cli, f, value, ["--profile", p, "--env", env])
                    #expect(r.status == 0, "\(r.stderr)")
                }
            }
        }
        for p in profiles {
            #expect(try await cli.run(["creds", "get", "client-secret", "--profile", p, "--env", "production"]).stdout == big + "\n")
            #expect(try await cli.run(["creds", "get", "tech-login", "--profile", p]).stdout == "\(p)-sandbox-tech-login-ü \"q\" \\ $x\n")
        }
        let list = try await cli.run(["creds", "list", "--json"])
        #expect(list.status == 0, "\(list.stderr)")
        for p in profiles { #expect(list.stdout.contains("\"profile\":\"\(p)\"")) }
        #expect(!list.stdout.contains("alpha-sandbox"), "list never shows a value")

        #expect(try await set(cli, "client-id", "replaced", ["--profile", "alpha"]).status == 0)
        #expect(try await cli.run(["creds", "get", "client-id", "--profile", "alpha"]).stdout == "replaced\n")
        #expect(try await cli.run(["creds", "get", "client-secret", "--profile", "alpha"]).stdout == big + "\n", "the other fields stay")

        let removed = try await cli.run(["creds", "remove", "--profile", "alpha"])
        #expect(removed.status == 0 && removed.stderr.contains("Removed"), "\(removed.stderr)")
        #expect(try await cli.run(["creds", "get", "client-id", "--profile", "alpha"]).status == 1)
        #expect(try await cli.run(["creds", "get", "client-id", "--profile", "alpha", "--env", "production"]).status == 0)
        // All four gone, under check-and-set: an empty current version, every
        // older version destroyed, and no blind delete of the metadata.
        let (status, meta) = try await bao.api("GET", "secret/metadata/\(cli.openbaoPrefix)/alpha/sandbox")
        #expect(status == 200)
        let data = meta["data"] as? [String: Any]
        let current = data?["current_version"] as? Int ?? 0
        let versions = data?["versions"] as? [String: [String: Any]] ?? [:]
        #expect(versions.filter { Int($0.key) ?? 0 < current }.allSatisfy { $0.value["destroyed"] as? Bool == true }, "\(versions)")
        let (_, latest) = try await bao.api("GET", "secret/data/\(cli.openbaoPrefix)/alpha/sandbox")
        #expect(((latest["data"] as? [String: Any])?["data"] as? [String: Any])?.isEmpty == true, "\(latest)")
    }

    @Test func interoperatesWithTheBaoCommand() async throws {
        let bao = try await OpenBaoServer.shared.value
        let cli = Cli.onOpenBao(bao)
        let prefix = cli.openbaoPrefix
        #expect(try await set(cli, "client-secret", "from cpro: ü 'x'").status == 0)
        let get = try await bao.bao(["kv", "get", "-mount=secret", "-field=client-secret", "\(prefix)/default/sandbox"])
        #expect(get.status == 0 && get.output == "from cpro: ü 'x'", "\(get.output)")
        let meta = try await bao.bao(["kv", "metadata", "get", "-format=json", "-mount=secret", "\(prefix)/default/sandbox"])
        #expect(meta.output.contains("set_at.client-secret"), "when it was set is in the custom metadata")

        let put = try await bao.bao([
            "kv", "put", "-mount=secret", "\(prefix)/ops/production",
            "client-id=5e1f0c2a-6b3d-4c8e-9a7f-0d1e2f3a4b5c", "tech-login=TECH_7@cpro.fr", "note=kept by cpro",
        ])
        #expect(put.status == 0, "\(put.output)")
        #expect(try await cli.run(["creds", "get", "client-id", "--profile", "ops", "--env", "production"]).stdout == "5e1f0c2a-6b3d-4c8e-9a7f-0d1e2f3a4b5c\n")
        let list = try await cli.run(["creds", "list", "--json"])
        #expect(list.stdout.contains("\"profile\":\"ops\""), "\(list.stdout)")
        // Removing cpro's fields leaves what other tools keep at the same path.
        #expect(try await cli.run(["creds", "remove", "--profile", "ops", "--env", "production"]).status == 0)
        let note = try await bao.bao(["kv", "get", "-mount=secret", "-field=note", "\(prefix)/ops/production"])
        #expect(note.output == "kept by cpro")
        let gone = try await bao.bao(["kv", "get", "-mount=secret", "-field=client-id", "\(prefix)/ops/production"])
        #expect(gone.status != 0)
    }

    @Test func aRemovedValueIsGoneFromTheHistoryToo() async throws {
        let bao = try await OpenBaoServer.shared.value
        let cli = Cli.onOpenBao(bao)
        let path = "\(cli.openbaoPrefix)/default/sandbox"
        #expect(try await set(cli, "client-secret", "old-secret-1").status == 0)
        #expect(try await set(cli, "client-id", "kept-id").status == 0)
        #expect(try await cli.run(["creds", "remove", "client-secret"]).status == 0)
        let (_, v1) = try await bao.api("GET", "secret/data/\(path)?version=1")
        let data = (v1["data"] as? [String: Any])?["data"]
        #expect(data == nil || data is NSNull, "version 1 still holds the removed secret: \(v1)")
        #expect(try await cli.run(["creds", "get", "client-id"]).stdout == "kept-id\n")
        #expect(try await cli.run(["creds", "get", "client-secret"]).status == 1)
    }

    @Test func concurrentWritersAllLand() async throws {
        let bao = try await OpenBaoServer.shared.value
        let cli = Cli.onOpenBao(bao)
        let fields = ["client-id", "client-secret", "tech-login", "tech-password"]
        var running: [Running] = []
        for p in ["p1", "p2", "p3"] {
            for f in fields {
                running.append(try cli.start(
                    ["creds", "set", "--stdin", f, "--profile", p], stdin: Array("\(p)-\(f)".utf8),
                    env: ["CPRO_TEST_OPENBAO_HOLD_MS": "400"]))
            }
        }
        for r in running {
            let result = try await r.wait()
            #expect(result.status == 0, "\(result.stderr)")
        }
        for p in ["p1", "p2", "p3"] {
            for f in fields {
                #expect(try await cli.run(["creds", "get", f, "--profile", p]).stdout == "\(p)-\(f)\n", "\(p) \(f)")
            }
        }
    }

    @Test func theTokenFileOfBaoLoginIsUsed() async throws {
        let bao = try await OpenBaoServer.shared.value
        var cli = Cli.onOpenBao(bao)
        cli.env.removeValue(forKey: "BAO_TOKEN")
        let home = cli.env["HOME"]!
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try Data((bao.rootToken + "\n").utf8).write(to: URL(fileURLWithPath: home + "/.vault-token"))
        #expect(try await set(cli, "tech-login", "TECH_2@cpro.fr").status == 0)
        let status = try json(try await cli.run(["vault", "status", "--json"]))
        #expect(status["state"] as? String == "ready")
        #expect((status["details"] as? [String: String])?["token_from"] == home + "/.vault-token")
    }

    @Test func vaultInitChecksThenRecordsTheDefault() async throws {
        let bao = try await OpenBaoServer.shared.value
        var cli = Cli.onOpenBao(bao)
        cli.env.removeValue(forKey: "CPRO_BACKEND")
        let refused = try await cli.run(["vault", "init", "--backend", "openbao"], env: ["BAO_TOKEN": "s.not-a-token"])
        #expect(refused.status == 1 && refused.stderr.contains("refused the token"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: cli.home + "/config.toml"), "nothing recorded")
        let ok = try await cli.run(["vault", "init", "--backend", "openbao"])
        #expect(ok.status == 0, "\(ok.stderr)")
        let config = try String(contentsOfFile: cli.home + "/config.toml", encoding: .utf8)
        #expect(config.contains("backend = \"openbao\""))
        #expect(try await set(cli, "client-id", "by-default").status == 0)
        let (status, _) = try await bao.api("GET", "secret/data/\(cli.openbaoPrefix)/default/sandbox")
        #expect(status == 200, "the configured default was used")
    }

    /// Every way the backend can be unusable: a clear message saying which,
    /// `vault_locked` for monitoring, and nothing written.
    @Test func unusableServersFailClearlyAndWriteNothing() async throws {
        let bao = try await OpenBaoServer.shared.value
        let cli = Cli.onOpenBao(bao)
        #expect(try await set(cli, "client-id", "before").status == 0)

        var noAddress = cli
        noAddress.env.removeValue(forKey: "BAO_ADDR")
        let a = try await set(noAddress, "client-id", "after")
        #expect(a.status == 1 && a.stderr.contains("no OpenBao server is set"), "\(a.stderr)")

        var noToken = cli
        noToken.env.removeValue(forKey: "BAO_TOKEN")
        let b = try await set(noToken, "client-id", "after")
        #expect(b.status == 1 && b.stderr.contains("no OpenBao token"), "\(b.stderr)")

        let badToken = try await cli.run(["creds", "set", "--stdin", "client-id"], stdin: Array("after".utf8), env: ["BAO_TOKEN": "s.not-a-token"])
        #expect(badToken.status == 1 && badToken.stderr.contains("refused the token from BAO_TOKEN"), "\(badToken.stderr)")
        #expect(!badToken.stderr.contains("s.not-a-token"), "the token is never printed")

        let closed = OpenBaoServer.freePort()
        let started = Date()
        let d = try await cli.run(["creds", "get", "client-id"], env: ["BAO_ADDR": "http://127.0.0.1:\(closed)"])
        #expect(d.status == 1 && d.stderr.contains("cannot be reached (connection refused)"), "\(d.stderr)")
        #expect(Date().timeIntervalSince(started) < 15)

        let readOnly = try await bao.token(policy: """
            path "secret/data/\(cli.openbaoPrefix)/*" { capabilities = ["read"] }
            path "secret/metadata/\(cli.openbaoPrefix)/*" { capabilities = ["read", "list"] }
            """)
        let e = try await cli.run(["creds", "set", "--stdin", "client-id"], stdin: Array("after".utf8), env: ["BAO_TOKEN": readOnly])
        #expect(e.status == 1 && e.stderr.contains("lack \"patch\""), "\(e.stderr)")
        #expect(try await cli.run(["creds", "get", "client-id"], env: ["BAO_TOKEN": readOnly]).stdout == "before\n", "a read-only token reads")

        let plainHTTP = try await cli.run(["creds", "get", "client-id"], env: ["BAO_ADDR": "http://bao.example.org:8200"])
        #expect(plainHTTP.status != 0 && plainHTTP.stderr.contains("plain http"), "\(plainHTTP.stderr)")

        let (s, _) = try await bao.api("POST", "sys/mounts/kv1-\(cli.openbaoPrefix)", ["type": "kv", "options": ["version": "1"]])
        #expect(s == 204)
        let f = try await cli.run(["creds", "set", "--stdin", "client-id"], stdin: Array("after".utf8), env: ["CPRO_OPENBAO_MOUNT": "kv1-\(cli.openbaoPrefix)"])
        #expect(f.status == 1 && f.stderr.contains("no KV version 2 secrets engine"), "\(f.stderr)")

        let health = try await cli.run(["health", "--json"], env: ["BAO_TOKEN": "s.not-a-token"])
        #expect(health.status == 3)
        #expect(try json(health)["diagnosis"] as? String == "vault_locked")
        #expect(try await cli.run(["creds", "get", "client-id"]).stdout == "before\n", "nothing was written")
    }

    @Test func neitherTheTokenNorAValueReachesLogsOrErrors() async throws {
        let bao = try await OpenBaoServer.shared.value
        let cli = Cli.onOpenBao(bao)
        let secret = "very-secret-\(UUID().uuidString)"
        var said = ""
        said += try await set(cli, "client-secret", secret, ["--verbose"]).all
        said += try await cli.run(["creds", "list", "--verbose"]).all
        said += try await cli.run(["vault", "status", "--verbose", "--json"]).all
        said += try await cli.run(["creds", "remove", "client-secret", "--verbose"]).all
        let dead = "s.dead-\(UUID().uuidString)"
        said += try await cli.run(["creds", "get", "client-id", "--verbose"], env: ["BAO_TOKEN": dead]).all
        #expect(said.contains("openbao"), "the verbose log says something: \(said)")
        for leak in [secret, bao.rootToken, dead] { #expect(!said.contains(leak), "\(leak) leaked") }
    }

    @Test func aSealedServerIsSaidSealed() async throws {
        let bao = try await OpenBaoServer()
        defer { bao.stop() }
        let cli = Cli.onOpenBao(bao)
        #expect(try await set(cli, "client-id", "before").status == 0)
        let (s, _) = try await bao.api("PUT", "sys/seal")
        #expect(s == 204)
        let status = try json(try await cli.run(["vault", "status", "--json"]))
        #expect(status["state"] as? String == "locked" && (status["message"] as? String ?? "").contains("sealed"), "\(status)")
        let w = try await set(cli, "client-id", "after")
        #expect(w.status == 1 && w.stderr.contains("sealed"), "\(w.stderr)")
        let fr = try await cli.run(["creds", "get", "client-id"], env: ["LANG": "fr_FR.UTF-8"])
        #expect(fr.status == 1 && fr.stderr.contains("scellé"), "\(fr.stderr)")
    }

    @Test func migrationFileToOpenBaoToFileKeepsEveryValue() async throws {
        let bao = try await OpenBaoServer.shared.value
        var cli = Cli.onOpenBao(bao)
        cli.env["CPRO_BACKEND"] = "file"
        var expected: [String: String] = [:]
        for env in ["sandbox", "production"] {
            for f in ["client-id", "client-secret", "tech-login", "tech-password"] {
                let v = "\(env)/\(f) 'q' \"d\" ü \(UUID().uuidString)"
                expected["\(env)/\(f)"] = v
                #expect(try await set(cli, f, v, ["--env", env]).status == 0)
            }
        }
        let there = try await cli.run(["creds", "migrate", "--to", "openbao", "--remove-source"])
        #expect(there.status == 0, "\(there.stderr)")
        #expect(try await cli.run(["creds", "get", "client-id"]).status == 1, "source removed after the verified copy")
        let back = try await cli.run(["creds", "migrate", "--to", "file", "--backend", "openbao"])
        #expect(back.status == 0, "\(back.stderr)")
        for (k, v) in expected {
            let parts = k.split(separator: "/").map(String.init)
            #expect(try await cli.run(["creds", "get", parts[1], "--env", parts[0]]).stdout == v + "\n")
        }
    }

    /// With the vault unlocked (the session agent), migration needs no passphrase either way.
    @Test func migrationThroughAnUnlockedVault() async throws {
        let bao = try await OpenBaoServer.shared.value
        var cli = Cli.onOpenBao(bao)
        cli.env["CPRO_BACKEND"] = "file"
        for f in ["client-id", "client-secret"] {
            #expect(try await set(cli, f, "value of \(f)").status == 0)
        }
        try await cli.must(["vault", "unlock"])
        cli.env["CPRO_VAULT_PASSPHRASE"] = nil
        let there = try await cli.run(["creds", "migrate", "--to", "openbao", "--remove-source"])
        #expect(there.status == 0, "\(there.stderr)")
        let back = try await cli.run(["creds", "migrate", "--to", "file", "--backend", "openbao"])
        #expect(back.status == 0, "\(back.stderr)")
        #expect(try await cli.run(["creds", "get", "client-secret"]).stdout == "value of client-secret\n")
        try await cli.must(["vault", "lock"])
    }

    /// The whole chain: credentials in OpenBao, a token from piste-sim, the
    /// health test, and `exec`, whose child never gets the OpenBao token.
    @Test func tokenHealthAndExecFromOpenBao() async throws {
        let bao = try await OpenBaoServer.shared.value
        let sim = try await SimProcess()
        var cli = Cli.onOpenBao(bao)
        cli.env.merge(sim.env) { $1 }
        cli.env["VAULT_TOKEN"] = bao.rootToken
        try await cli.storeSimCredentials()
        let token = try await cli.run(["token"])
        #expect(token.status == 0 && !token.stdout.isEmpty, "\(token.stderr)")
        let health = try await cli.run(["health", "--json"])
        #expect(health.status == 0, "\(health.stderr)")
        #expect(try json(health)["diagnosis"] as? String == "ok")
        let env = try await cli.run(["exec", "--", "/usr/bin/env"])
        #expect(env.status == 0, "\(env.stderr)")
        #expect(env.stdout.contains("PISTE_CLIENT_SECRET=\(Cli.simClientSecret)\n"))
        #expect(!env.stdout.contains("BAO_TOKEN") && !env.stdout.contains("VAULT_TOKEN") && !env.stdout.contains(bao.rootToken))
    }

    /// The two policies of docs/backends.md, read from the page itself, so
    /// the documentation cannot drift from what cpro needs.
    @Test func theDocumentedPoliciesAreEnough() async throws {
        let bao = try await OpenBaoServer.shared.value
        let cli = Cli.onOpenBao(bao)
        let page = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../docs/backends.md").standardized
        let text = try String(contentsOf: page, encoding: .utf8)
        let blocks = text.components(separatedBy: "```hcl\n").dropFirst().map { $0.components(separatedBy: "```")[0] }
        try #require(blocks.count == 2, "docs/backends.md has the admin and the reader policy")
        let admin = try await bao.token(policy: blocks[0].replacingOccurrences(of: "cpro/", with: "\(cli.openbaoPrefix)/"))
        let reader = try await bao.token(policy: blocks[1].replacingOccurrences(of: "cpro/", with: "\(cli.openbaoPrefix)/"))
        let asAdmin = ["BAO_TOKEN": admin]
        for f in ["client-id", "client-secret", "tech-login", "tech-password"] {
            let r = try await cli.run(["creds", "set", "--stdin", f], stdin: Array("v-\(f)".utf8), env: asAdmin)
            #expect(r.status == 0, "\(r.stderr)")
        }
        #expect(try await cli.run(["creds", "set", "--stdin", "client-id"], stdin: Array("v2".utf8), env: asAdmin).status == 0)
        #expect(try await cli.run(["creds", "list"], env: asAdmin).status == 0)
        #expect(try await cli.run(["vault", "status", "--json"], env: asAdmin).stdout.contains("\"ready\""))
        let removeOne = try await cli.run(["creds", "remove", "client-id"], env: asAdmin)
        #expect(removeOne.status == 0, "destroying the history is allowed: \(removeOne.stderr)")

        let asReader = ["BAO_TOKEN": reader]
        #expect(try await cli.run(["creds", "get", "client-secret"], env: asReader).stdout == "v-client-secret\n")
        let env = try await cli.run(["exec", "--", "/usr/bin/env"], env: asReader)
        #expect(env.status == 0 && env.stdout.contains("CPRO_TECH_LOGIN=v-tech-login\n"), "\(env.stderr)")
        let refused = try await cli.run(["creds", "set", "--stdin", "client-id"], stdin: Array("x".utf8), env: asReader)
        #expect(refused.status == 1 && refused.stderr.contains("lack"), "\(refused.stderr)")

        let removeAll = try await cli.run(["creds", "remove"], env: asAdmin)
        #expect(removeAll.status == 0, "\(removeAll.stderr)")
    }
}
