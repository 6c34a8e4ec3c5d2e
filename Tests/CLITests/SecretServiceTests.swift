import Foundation
import TestSupport
import Testing

let keyringAvailable = ProcessInfo.processInfo.environment["CPRO_TEST_SECRET_SERVICE"] == "1"

/// Against the real gnome-keyring that scripts/with-keyring starts on a private
/// session bus. Each test uses profiles of its own: the keyring is shared.
@Suite(.serialized, .timeLimit(.minutes(10)), .enabled(if: keyringAvailable, "run through scripts/test (scripts/with-keyring)"))
struct SecretServiceTests {
    static func cli() -> Cli {
        var cli = Cli()
        for name in ["DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR"] {
            if let v = ProcessInfo.processInfo.environment[name] { cli.env[name] = v }
        }
        cli.env["CPRO_BACKEND"] = "secret-service"
        return cli
    }

    static func unique() -> String { "t" + UUID().uuidString.prefix(8).lowercased() }

    /// For scripts on a bus of their own: the keyring daemon and the bus
    /// daemon outlive dbus-run-session (and shrug off SIGTERM), so end them.
    static let stopDaemonsOnExit = """
        stop_daemons() {
          for name in org.freedesktop.secrets org.freedesktop.DBus; do
            p=$(gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \\
              --method org.freedesktop.DBus.GetConnectionUnixProcessID $name 2>/dev/null | sed -E 's/.*uint32 ([0-9]+).*/\\1/')
            [ -n "$p" ] && kill -CONT "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null
          done
        }
        trap stop_daemons EXIT
        """

    /// secret-tool, without blocking a cooperative thread while it runs:
    /// status, standard output, and standard error (where `search` prints
    /// the attributes).
    func secretToolOutputs(_ args: [String], stdin: String? = nil) async throws -> (Int32, String, String) {
        let input = NSTemporaryDirectory() + "st-" + UUID().uuidString
        let errors = input + ".err"
        try Data((stdin ?? "").utf8).write(to: URL(fileURLWithPath: input))
        defer { for f in [input, errors] { try? FileManager.default.removeItem(atPath: f) } }
        let quoted = (["/usr/bin/secret-tool"] + args).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        var env = ProcessInfo.processInfo.environment
        env["PATH"] = "/usr/bin:/bin"
        let (status, output) = try await spawnAndWait(["/bin/sh", "-c", quoted + " < '\(input)' 2>'\(errors)'"], env: env)
        return (status, output, (try? String(contentsOfFile: errors, encoding: .utf8)) ?? "")
    }

    func secretTool(_ args: [String], stdin: String? = nil) async throws -> (Int32, String) {
        let (status, output, _) = try await secretToolOutputs(args, stdin: stdin)
        return (status, output)
    }

    @Test func storeReadListRemoveOverwrite() async throws {
        let cli = Self.cli()
        let profiles = [Self.unique(), Self.unique()]
        let big = String(repeating: "é€x", count: 700)  // over 4 KiB of UTF-8
        for p in profiles {
            for env in ["sandbox", "production"] {
                for f in ["client-id", "client-secret", "tech-login", "tech-password"] {
                    let value = f == "client-secret" ? big : "\(p)-\(env)-\(f)-ü"
                    let r = try await cli.run(["creds", "set", "--stdin", f, "--profile", p, "--env", env], stdin: Array(value.utf8))
                    #expect(r.status == 0, "\(r.stderr)")
                }
            }
        }
        for p in profiles {
            #expect(try await cli.run(["creds", "get", "client-secret", "--profile", p, "--env", "production"]).stdout == big + "\n")
            #expect(try await cli.run(["creds", "get", "tech-login", "--profile", p]).stdout == "\(p)-sandbox-tech-login-ü\n")
        }
        let list = try await cli.run(["creds", "list", "--json"])
        for p in profiles { #expect(list.stdout.contains("\"profile\":\"\(p)\"")) }
        try await cli.must(["creds", "set", "--stdin", "client-id", "--profile", profiles[0]], stdin: Array("replaced".utf8))
        #expect(try await cli.run(["creds", "get", "client-id", "--profile", profiles[0]]).stdout == "replaced\n")
        let (_, items) = try await secretTool(["search", "--all", "profile", profiles[0], "environment", "sandbox", "field", "client-id"])
        #expect(items.components(separatedBy: "secret = ").count - 1 == 1, "overwritten, not duplicated")
        let removed = try await cli.run(["creds", "remove", "--profile", profiles[0]])
        #expect(removed.status == 0 && removed.stderr.contains("Removed"))
        #expect(try await cli.run(["creds", "get", "client-id", "--profile", profiles[0]]).status == 1)
        #expect(try await cli.run(["creds", "get", "client-id", "--profile", profiles[0], "--env", "production"]).status == 0)
    }

    @Test func interoperatesWithSecretTool() async throws {
        let cli = Self.cli()
        let p = Self.unique()
        try await cli.must(["creds", "set", "--stdin", "tech-password", "--profile", p], stdin: Array("from cpro: \"é\" $x".utf8))
        let (rc, value) = try await secretTool(["lookup", "profile", p, "environment", "sandbox", "field", "tech-password"])
        #expect(rc == 0 && value == "from cpro: \"é\" $x")
        _ = try await secretTool(["store", "--label=by hand", "application", "cpro", "profile", p, "environment", "production", "field", "client-id"], stdin: "from secret-tool ü")
        #expect(try await cli.run(["creds", "get", "client-id", "--profile", p, "--env", "production"]).stdout == "from secret-tool ü\n")
        let (_, labels, attributes) = try await secretToolOutputs(["search", "profile", p, "environment", "sandbox", "field", "tech-password"])
        #expect(labels.contains("label = cpro: sandbox / \(p) - Chorus Pro technical account password"))
        // The attributes, which any program on the bus may read without unlocking: cpro's schema, no secret.
        let attributeLines = attributes.split(separator: "\n").filter { $0.hasPrefix("attribute.") }.map(String.init).sorted()
        #expect(attributeLines.count == 5 && attributeLines.prefix(4) == ["attribute.application = cpro", "attribute.environment = sandbox", "attribute.field = tech-password", "attribute.profile = \(p)"],
                "\(attributes)")
        #expect(attributeLines.last?.range(of: #"^attribute\.set_at = \d+$"#, options: .regularExpression) != nil, "\(attributes)")
        #expect(!attributes.contains("from cpro"), "nothing secret in attributes")
    }

    /// Another program's items with the same attribute names are cpro's
    /// business neither to read nor to delete.
    @Test func foreignItemsAreNeitherReadNorDeleted() async throws {
        let cli = Self.cli()
        let p = Self.unique()
        _ = try await secretTool(["store", "--label=other app", "profile", p, "environment", "sandbox", "field", "client-id"], stdin: "not cpro's")
        #expect(try await cli.run(["creds", "get", "client-id", "--profile", p]).status == 1)
        #expect(try await cli.run(["creds", "set", "--stdin", "client-id", "--profile", p], stdin: Array("cpro's".utf8)).status == 0)
        #expect(try await cli.run(["creds", "get", "client-id", "--profile", p]).stdout == "cpro's\n")
        #expect(try await cli.run(["creds", "remove", "client-id", "--profile", p]).status == 0)
        let (_, all) = try await secretTool(["search", "--all", "--unlock", "profile", p, "environment", "sandbox", "field", "client-id"])
        #expect(all.contains("label = other app") && !all.contains("label = cpro:"), "\(all)")
    }

    /// Writers of one value at once, each with its own time: the value is
    /// never lost, and what is left is one of those written.
    @Test func concurrentWritersOfOneValueNeverEraseEachOther() async throws {
        let cli = Self.cli()
        let p = Self.unique()
        var running: [Running] = []
        for i in 0..<8 {
            running.append(try cli.start(["creds", "set", "--stdin", "tech-login", "--profile", p], stdin: Array("TECH_\(i)@cpro.fr".utf8)))
        }
        for r in running {
            let done = try await r.wait()
            #expect(done.status == 0, "\(done.stderr)")
        }
        let got = try await cli.run(["creds", "get", "tech-login", "--profile", p])
        #expect(got.status == 0, "\(got.stderr)")
        #expect((0..<8).map { "TECH_\($0)@cpro.fr\n" }.contains(got.stdout))
    }

    @Test func migrationFileToSecretServiceToFileKeepsEveryValue() async throws {
        var cli = Self.cli()
        cli.env["CPRO_BACKEND"] = "file"
        let p = Self.unique()
        var expected: [String: String] = [:]
        for env in ["sandbox", "production"] {
            for f in ["client-id", "client-secret", "tech-login", "tech-password"] {
                let v = "\(env)/\(f) 'q' \"d\" ü \(UUID().uuidString)"
                expected["\(env)/\(f)"] = v
                try await cli.must(["creds", "set", "--stdin", f, "--profile", p, "--env", env], stdin: Array(v.utf8))
            }
        }
        let there = try await cli.run(["creds", "migrate", "--to", "secret-service", "--remove-source", "--profile", p])
        #expect(there.status == 0, "\(there.stderr)")
        #expect(try await cli.run(["creds", "get", "client-id", "--profile", p]).status == 1, "source removed after the verified copy")
        let back = try await cli.run(["creds", "migrate", "--to", "file", "--profile", p, "--backend", "secret-service"])
        #expect(back.status == 0, "\(back.stderr)")
        for (k, v) in expected {
            let parts = k.split(separator: "/").map(String.init)
            #expect(try await cli.run(["creds", "get", parts[1], "--profile", p, "--env", parts[0]]).stdout == v + "\n")
        }
    }

    @Test func noSessionBusFailsFastAndWritesNothing() async throws {
        var cli = Self.cli()
        cli.env.removeValue(forKey: "DBUS_SESSION_BUS_ADDRESS")
        cli.env["XDG_RUNTIME_DIR"] = "/nonexistent-runtime"
        let start = Date()
        let r = try await cli.run(["creds", "set", "--stdin", "client-id"], stdin: Array("x".utf8))
        #expect(Date().timeIntervalSince(start) < 10)
        #expect(r.status == 1)
        #expect(r.stderr.contains("no D-Bus session bus") && r.stderr.contains("--backend file"), "\(r.stderr)")
        #expect(!r.stderr.contains("autolaunch"))
        let status = try await cli.run(["vault", "status", "--json"])
        #expect(status.stdout.contains("\"state\":\"unreachable\""))
        let health = try await cli.run(["health", "--json"])
        #expect(health.status == 3 && health.stdout.contains("vault_locked"))
    }

    @Test func aLockedCollectionFailsFastAndWritesNothing() async throws {
        // Its own bus and keyring, so locking it does not disturb other tests.
        let cli = Self.cli()
        let script = Self.stopDaemonsOnExit + """
            set -e
            eval "$(printf pw | gnome-keyring-daemon --unlock --components=secrets 2>/dev/null)"
            # The collection's item list is readable while it is locked (its
            # secrets are not): secret-tool search prints nothing then, so
            # counting its output could never see a write.
            count() {
              gdbus call --session --dest org.freedesktop.secrets --object-path /org/freedesktop/secrets/collection/login \
                --method org.freedesktop.DBus.Properties.Get org.freedesktop.Secret.Collection Items |
                grep -o '/org/freedesktop/secrets/collection/login/[0-9A-Za-z_]*' | wc -l
            }
            printf before | "$CPRO_BIN" creds set --stdin client-id --backend secret-service 2>/dev/null
            echo "before=$(count)"
            gdbus call --session --dest org.freedesktop.secrets --object-path /org/freedesktop/secrets \
              --method org.freedesktop.Secret.Service.Lock "['/org/freedesktop/secrets/collection/login']" >/dev/null
            start=$(date +%s)
            set +e
            printf v | env -u DISPLAY -u WAYLAND_DISPLAY "$CPRO_BIN" creds set --stdin client-secret --backend secret-service
            echo "rc=$?"
            echo "seconds=$(( $(date +%s) - start ))"
            echo "after=$(count)"
            """
        // The keyring daemons keep their files in this test's own home.
        try FileManager.default.createDirectory(atPath: cli.home, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let (_, text) = try await spawnAndWait(
            ["/usr/bin/dbus-run-session", "--", "bash", "-c", script],
            env: ["PATH": "/usr/bin:/bin", "HOME": cli.home, "CPRO_HOME": cli.home, "CPRO_BIN": Cli.binary, "LANG": "C.UTF-8"])
        #expect(text.contains("locked") && text.contains("--backend file"), "\(text)")
        #expect(text.contains("rc=1"))
        let seconds = text.split(separator: "\n").first { $0.hasPrefix("seconds=") }.flatMap { Int($0.dropFirst(8)) } ?? 99
        #expect(seconds < 10)
        #expect(text.contains("before=1\n"), "the count sees an item of a locked collection: \(text)")
        #expect(text.split(separator: "\n").last == "after=1", "nothing was written: \(text)")
    }

    @Test func aHungServiceTimesOutAndWritesNothing() async throws {
        // Its own bus and keyring; the daemon is stopped (SIGSTOP), so it owns
        // its bus name but never answers: a hung service, not an absent one.
        let cli = Self.cli()
        let script = Self.stopDaemonsOnExit + """
            set -e
            eval "$(printf pw | gnome-keyring-daemon --unlock --components=secrets 2>/dev/null)"
            printf before | "$CPRO_BIN" creds set --stdin client-id --backend secret-service 2>/dev/null
            pid=$(gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
              --method org.freedesktop.DBus.GetConnectionUnixProcessID org.freedesktop.secrets | sed -E 's/.*uint32 ([0-9]+).*/\\1/')
            kill -STOP "$pid"
            start=$(date +%s)
            set +e
            printf after | "$CPRO_BIN" creds set --stdin client-id --backend secret-service
            echo "rc=$?"
            "$CPRO_BIN" creds get client-id --backend secret-service
            echo "getrc=$?"
            echo "seconds=$(( $(date +%s) - start ))"
            kill -CONT "$pid"
            echo "value=$("$CPRO_BIN" creds get client-id --backend secret-service)"
            """
        try FileManager.default.createDirectory(atPath: cli.home, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let (_, text) = try await spawnAndWait(
            ["/usr/bin/dbus-run-session", "--", "bash", "-c", script],
            env: ["PATH": "/usr/bin:/bin", "HOME": cli.home, "CPRO_HOME": cli.home, "CPRO_BIN": Cli.binary, "LANG": "C.UTF-8"])
        #expect(text.contains("did not answer within") && text.contains("nothing was changed"), "\(text)")
        #expect(text.contains("rc=1") && text.contains("getrc=1"), "\(text)")
        let seconds = text.split(separator: "\n").first { $0.hasPrefix("seconds=") }.flatMap { Int($0.dropFirst(8)) } ?? 99
        // Under 50 s: without cpro's bound each call would wait D-Bus's 25 s default.
        #expect(seconds < 45, "two calls, each bounded by the 5 s read timeout: \(text)")
        #expect(text.contains("value=before"), "the stopped write changed nothing: \(text)")
    }
}
