import CproCore
import CproVault
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The defects an outside review found by attacking the release build
/// (issue 22): each test failed on the code before its fix.
@Suite(.timeLimit(.minutes(10))) struct AgentLifetimeTests {
    static let values = #"{"PISTE_CLIENT_ID":"5e1f0c2a-6b3d-4c8e-9a7f-0d1e2f3a4b5c","PISTE_CLIENT_SECRET":"sim-client-secret-8c41","CPRO_TECH_LOGIN":"TECH_1_00000000000000@cpro.fr","CPRO_TECH_PASSWORD":"sim-tech-password-7"}"#
    static let pass = ["CPRO_VAULT_PASSPHRASE": Cli.passphrase]

    /// A user laid out as on a desktop: XDG folders under HOME, a private
    /// runtime folder, no CPRO_HOME.
    static func desktop() throws -> (cli: Cli, env: [String: String], home: String) {
        var cli = Cli(passphrase: nil)
        let home = cli.home
        for dir in [home, home + "/run"] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        cli.env["CPRO_HOME"] = nil
        cli.env["HOME"] = home
        cli.env["XDG_RUNTIME_DIR"] = home + "/run"
        return (cli, cli.env, home)
    }

    func pid(_ r: Cli.Result) -> Int32? {
        let o = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        return (o?["agent_pid"] as? Int).map(Int32.init)
    }

    func gone(_ pid: Int32) async -> Bool { await processGone(pid) }

    /// `vault lock` from a session without the runtime folder (cron, su -,
    /// ssh without a login session) reaches the agent all the same, and so
    /// does one through a symbolic link to the data folder. It said "No
    /// session agent was running" with exit 0 while the agent served every secret.
    @Test func lockReachesTheAgentFromAnotherSession() async throws {
        let (cli, env, home) = try Self.desktop()
        try await cli.must(["creds", "import"], stdin: Array(Self.values.utf8), env: Self.pass)
        let unlock = try await cli.run(["vault", "unlock", "--json", "--for", "10m"], env: Self.pass)
        #expect(unlock.status == 0, "\(unlock.stderr)")
        let agent = try #require(pid(unlock))
        defer { kill(agent, SIGKILL) }
        #expect(try await cli.run(["creds", "get", "client-id"]).status == 0, "served through the agent")

        // Through a link to the data folder: the same vault, the same agent.
        try FileManager.default.createSymbolicLink(atPath: home + "/data-link", withDestinationPath: home + "/.local/share")
        let linked = try await cli.run(["vault", "status"], env: ["XDG_DATA_HOME": home + "/data-link"])
        #expect(linked.stdout.contains("unlocked"), "\(linked.stdout)")

        // As cron would: no runtime folder in the environment.
        var cron = env
        cron["XDG_RUNTIME_DIR"] = nil
        let lock = try await spawnAndWait([Cli.binary, "vault", "lock"], env: cron)
        #expect(lock.status == 0 && lock.output.contains("Locked"), "\(lock.output)")
        #expect(try await cli.run(["creds", "get", "client-id"]).status == 1, "the key is gone")
        #expect(await gone(agent), "an agent started on demand ends once locked")
    }

    /// SIGTERM, SIGINT and SIGHUP wipe the key, are logged, and remove the
    /// socket: the default action used to kill the agent with the key unwiped.
    @Test(arguments: [SIGTERM, SIGINT, SIGHUP, SIGQUIT])
    func aSignalWipesTheKeyAndSaysSo(_ sig: Int32) async throws {
        let cli = Cli(passphrase: nil)
        try await cli.must(["creds", "import"], stdin: Array(Self.values.utf8), env: Self.pass)
        let unlock = try await cli.run(["vault", "unlock", "--json"], env: Self.pass)
        let agent = try #require(pid(unlock), "\(unlock.stderr)")
        defer { kill(agent, SIGKILL) }
        kill(agent, sig)
        #expect(await gone(agent))
        let log = (try? String(contentsOfFile: cli.home + "/agent.log", encoding: .utf8)) ?? ""
        #expect(log.contains("key wiped: signal \(sig)") && log.contains("stopped"), "\(log)")
        #expect(!FileManager.default.fileExists(atPath: cli.home + "/agent.sock"))
        let records = (try? FileManager.default.contentsOfDirectory(atPath: cli.home))?.filter { $0.hasPrefix("agent-") && $0.hasSuffix(".where") } ?? []
        #expect(records.isEmpty, "its record is removed: \(records)")
    }

    /// Two agents of one vault (a desktop session's, and a foreground one
    /// started where no runtime folder is set): each has its own record, and
    /// `vault lock` from cron reaches the one holding the key. (One record was
    /// overwritten by the second agent and removed with it.)
    @Test func lockReachesEveryAgentOfTheVault() async throws {
        let (cli, env, home) = try Self.desktop()
        try await cli.must(["creds", "import"], stdin: Array(Self.values.utf8), env: Self.pass)
        let first = try #require(pid(try await cli.run(["vault", "unlock", "--json", "--for", "10m"], env: Self.pass)))
        defer { kill(first, SIGKILL) }
        var cron = env
        cron["XDG_RUNTIME_DIR"] = nil
        FileManager.default.createFile(atPath: home + "/second.log", contents: nil)
        let second = try Child([Cli.binary, "agent"], environment: cron, stdout: home + "/second.log")
        defer { second.terminate() }
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: home + "/.local/share/cpro/agent.sock") { await sleep(ms: 25) }
        let records = try FileManager.default.contentsOfDirectory(atPath: home + "/.local/share/cpro").filter { $0.hasSuffix(".where") }
        #expect(records.count == 2, "one record per agent: \(records)")
        let lock = try await spawnAndWait([Cli.binary, "vault", "lock"], env: cron)
        #expect(lock.status == 0 && lock.output.contains("Locked"), "\(lock.output)")
        #expect(await gone(first), "the desktop session's agent wiped its key and ended")
        #expect(try await cli.run(["creds", "get", "client-id"]).status == 1)
    }

    /// The agent keeps neither its caller's folder nor its secrets in its environment.
    @Test func theAgentKeepsNoCallerFolderOrSecretVariable() async throws {
        let cli = Cli(passphrase: nil)
        try await cli.must(["creds", "import"], stdin: Array(Self.values.utf8), env: Self.pass)
        let r = try await cli.run(["vault", "unlock", "--json"], env: Self.pass.merging(["PISTE_CLIENT_SECRET": "leaked-secret-value", "BAO_TOKEN": "s.leaked"]) { $1 })
        let agent = try #require(pid(r), "\(r.stderr)")
        defer { kill(agent, SIGKILL) }
        let environ = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(agent)/environ"))).map { String(decoding: $0, as: UTF8.self) } ?? ""
        #expect(!environ.isEmpty && !environ.contains("leaked") && !environ.contains("CPRO_VAULT_PASSPHRASE"), "\(environ)")
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(agent)/cwd")) == "/")
        #expect(try await cli.run(["vault", "lock"]).status == 0)
    }

    /// `flock job.lock cpro vault unlock`: the agent kept job.lock held for its life.
    @Test func theAgentKeepsNoDescriptorOfItsCaller() async throws {
        let cli = Cli(passphrase: nil)
        try await cli.must(["creds", "import"], stdin: Array(Self.values.utf8), env: Self.pass)
        let lockFile = cli.home + "/job.lock"
        var env = cli.env
        env["CPRO_VAULT_PASSPHRASE"] = Cli.passphrase
        let r = try await spawnAndWait(["/usr/bin/flock", lockFile, Cli.binary, "vault", "unlock", "--json"], env: env)
        #expect(r.status == 0, "\(r.output)")
        let free = try await spawnAndWait(["/usr/bin/flock", "-n", lockFile, "/bin/true"], env: ["PATH": "/usr/bin:/bin"])
        #expect(free.status == 0, "job.lock is still held by the agent")
        #expect(try await cli.run(["vault", "lock"]).status == 0)
    }

    /// "Until logout" where no logout can be seen is refused, not kept until reboot.
    @Test func untilLogoutNeedsARuntimeFolder() async throws {
        let cli = Cli(passphrase: nil)
        try await cli.must(["vault", "init"], env: Self.pass)
        let r = try await cli.run(["vault", "unlock", "--for", "0"], env: Self.pass)
        #expect(r.status == 1 && r.stderr.contains("--for 0 (until logout) needs a private runtime folder"), "\(r.stderr)")
    }

    /// The idle time counts time asleep, as ssh-agent's does.
    @Test func theIdleClockRunsDuringSuspend() {
        #expect(VaultAgent.idleClock == CLOCK_BOOTTIME)
    }

    /// With memory that cannot be locked, the agent says so in its log and
    /// `vault status` shows it. (Root keeps CAP_IPC_LOCK unless the bounding
    /// set drops it.)
    @Test func unlockedMemoryIsReported() async throws {
        let cli = Cli(passphrase: nil)
        try await cli.must(["creds", "import"], stdin: Array(Self.values.utf8), env: Self.pass)
        var env = cli.env
        env["CPRO_VAULT_PASSPHRASE"] = Cli.passphrase
        env["CPRO"] = Cli.binary
        let drop = geteuid() == 0 ? "setpriv --bounding-set=-ipc_lock --inh-caps=-ipc_lock " : ""
        let r = try await spawnAndWait(["/bin/sh", "-c", "ulimit -l 0 && \(drop)\"$CPRO\" vault unlock --json"], env: env)
        #expect(r.status == 0, "\(r.output)")
        defer { _ = Task { try? await cli.run(["vault", "lock"]) } }
        let status = try await cli.run(["vault", "status"])
        #expect(status.stdout.contains("agent_key_in_locked_memory") && status.stdout.contains("no (mlock failed"), "\(status.stdout)")
        let log = (try? String(contentsOfFile: cli.home + "/agent.log", encoding: .utf8)) ?? ""
        #expect(log.contains("could not be locked"), "\(log)")
        #expect(try await cli.run(["vault", "lock"]).status == 0)
    }
}

@Suite(.timeLimit(.minutes(10))) struct HandOverTests {
    /// The program gets the descriptors given to cpro (3<file), none of
    /// cpro's own (the HTTP client's event loop and connection).
    @Test func execHandsOnlyTheDescriptorsCproWasGiven() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        var env = cli.env
        env["CPRO"] = Cli.binary
        // fstat opens nothing, so the list is exactly what the program was handed.
        let probe = cli.home + "/fds.py"
        try "import os\nopen_fds = []\nfor fd in range(3, 1024):\n    try:\n        os.fstat(fd)\n        open_fds.append(fd)\n    except OSError:\n        pass\nprint('fds', open_fds)\n"
            .write(toFile: probe, atomically: true, encoding: .utf8)
        for mask in ["--no-mask", "--mask"] {
            let script = "exec 3</etc/hostname; \"$CPRO\" exec \(mask) --with-token -- python3 \(probe)"
            let r = try await spawnAndWait(["/bin/sh", "-c", script], env: env)
            #expect(r.status == 0, "\(r.output)")
            #expect(r.output.contains("fds [3]"), "\(mask): \(r.output)")
        }
    }

    /// `--mask` keeps cpro's own core limit at 0 while it holds every handed
    /// secret; the program gets the user's.
    @Test func maskKeepsCoreDumpsOffInCpro() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        var env = cli.env
        env["CPRO"] = Cli.binary
        let probe = #"import os, resource; mine = resource.getrlimit(resource.RLIMIT_CORE)[0]; parent = [l for l in open('/proc/%d/limits' % os.getppid()) if l.startswith('Max core file size')][0].split()[4]; print('child', 'unlimited' if mine == resource.RLIM_INFINITY else mine, 'cpro', parent)"#
        let r = try await spawnAndWait(["/bin/sh", "-c", "ulimit -c unlimited; \"$CPRO\" exec --mask -- python3 -c \"\(probe)\""], env: env)
        #expect(r.output.contains("child unlimited cpro 0"), "\(r.output)")
    }

    /// The usual encodings of a handed secret are concealed too.
    @Test func maskConcealsTheUsualEncodings() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        let probe = #"""
            import base64, json, os, re, urllib.parse
            s = os.environ["PISTE_CLIENT_SECRET"]; p = os.environ["CPRO_TECH_PASSWORD"]; i = os.environ["PISTE_CLIENT_ID"]
            for v in (s, p):
                print("b64", base64.b64encode(v.encode()).decode())
                print("b64url", base64.urlsafe_b64encode(v.encode()).decode().rstrip("="))
                print("url", urllib.parse.quote(v, safe=""))
                print("form", urllib.parse.urlencode({"x": v}))
                print("json", json.dumps(v))
                print("jsonraw", json.dumps(v, ensure_ascii=False))
            print("basic", "Basic " + base64.b64encode((i + ":" + s).encode()).decode())
            """#
        let r = try await cli.run(["exec", "--mask", "--", "python3", "-c", probe])
        #expect(r.status == 0, "\(r.stderr)")
        for secret in [Cli.simClientSecret, Cli.simTechPassword] {
            let forms = [Data(secret.utf8).base64EncodedString(), secret.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? secret,
                         "sim-tech-password-\\u00dc7", secret]
            for form in forms where r.stdout.contains(form) {
                Issue.record("\(form) shown: \(r.stdout)")
            }
        }
        #expect(!r.stdout.contains("Basic NWUx"), "\(r.stdout)")
        #expect(r.stdout.components(separatedBy: "<concealed by cpro>").count - 1 >= 13, "\(r.stdout)")
    }

    /// A secret with the characters encoders treat differently: Python's
    /// quote (keeps /), lower-case hex, Go's JSON (<>& as \u escapes),
    /// unpadded base64 and Basic.
    @Test func maskConcealsWhatOtherEncodersWrite() async throws {
        let secret = "Ab/cd+ef&gh<ij>Ü9 x"
        let env = ["CPRO_BACKEND": "env", "PISTE_CLIENT_ID": Cli.simClientID, "PISTE_CLIENT_SECRET": secret,
                   "CPRO_TECH_LOGIN": Cli.simTechLogin, "CPRO_TECH_PASSWORD": Cli.simTechPassword]
        let probe = #"""
            import base64, json, os, re, urllib.parse
            s = os.environ["PISTE_CLIENT_SECRET"]; i = os.environ["PISTE_CLIENT_ID"]
            print("quote", urllib.parse.quote(s))
            print("lower", re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(), urllib.parse.quote(s, safe="")))
            print("go", json.dumps(s).replace("<", "\u003c").replace(">", "\u003e").replace("&", "\u0026"))
            print("nopad", base64.b64encode(s.encode()).decode().rstrip("="))
            print("basic", base64.b64encode((i + ":" + s).encode()).decode().rstrip("="))
            """#
        let r = try await Cli().run(["exec", "--mask", "--", "python3", "-c", probe], env: env)
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 5 && lines.allSatisfy { $0.contains("<concealed by cpro>") && !$0.contains("gh") }, "\(r.stdout)")
    }

    /// With --with-token, CPRO_ACCOUNT carries the technical password: the
    /// password itself is concealed too.
    @Test func theTechnicalPasswordInsideCproAccountIsConcealed() async throws {
        let sim = try await SimProcess()
        let cli = try await Cli.withSim(sim)
        let probe = #"import base64, os; print(base64.b64decode(os.environ["CPRO_ACCOUNT"]).decode())"#
        let r = try await cli.run(["exec", "--mask", "--with-token", "--", "python3", "-c", probe])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!r.stdout.contains(Cli.simTechPassword) && r.stdout.contains("<concealed by cpro>"), "\(r.stdout)")
    }

    @Test func exportIntoAFileOthersCanReadIsWarnedAbout() async throws {
        let cli = try await Cli.withSim(try await SimProcess())
        var env = cli.env
        env["CPRO"] = Cli.binary
        let file = cli.home + "/exported.env"
        let open = try await spawnAndWait(["/bin/sh", "-c", "umask 022; \"$CPRO\" creds export --format dotenv > \(file)"], env: env)
        #expect(open.status == 0 && open.output.contains("\(file) is readable by other users (mode 644)"), "\(open.output)")
        let closed = try await spawnAndWait(["/bin/sh", "-c", "umask 077; \"$CPRO\" creds export --format dotenv > \(file).2"], env: env)
        #expect(closed.status == 0 && !closed.output.contains("readable by other users"), "\(closed.output)")
    }
}

@Suite(.timeLimit(.minutes(10))) struct LocalTrustTests {
    /// A body that is not JSON never reaches the terminal raw: a server's
    /// escape sequences could rewrite the screen.
    @Test func apiRefusesAnAnswerThatIsNotJSON() async throws {
        let server = try await TinyServer(answer: "\u{1B}]0;pwned\u{07}\u{1B}[2J not json")
        defer { server.stop() }
        var cli = Cli()
        cli.env["PISTE_OAUTH_URL"] = server.base
        cli.env["CPRO_API_URL"] = server.base + "/cpro"
        try await cli.storeSimCredentials()
        let r = try await cli.run(["api", "utilisateurs/v1/monCompte/recuperer/rattachements"])
        #expect(r.status == 1 && r.stderr.contains("not a JSON object"), "\(r.stderr)")
        #expect(!r.stdout.contains("\u{1B}") && !r.stderr.contains("\u{1B}"))
    }

    /// JSON may carry C1 controls raw inside strings (U+009B is a CSI on
    /// some terminals): on a terminal they are written escaped.
    @Test func apiEscapesC1ControlsOnATerminal() async throws {
        let server = try await TinyServer(answer: "{\"codeRetour\":0,\"libelle\":\"x\u{9B}2Jy\",\"b\":\"a\u{202E}cba\"}")
        defer { server.stop() }
        var cli = Cli()
        cli.env["PISTE_OAUTH_URL"] = server.base
        cli.env["CPRO_API_URL"] = server.base + "/cpro"
        try await cli.storeSimCredentials()
        let r = try await cli.interactive(["api", "utilisateurs/v1/monCompte/recuperer/rattachements"], [.expect("codeRetour")],
                                          env: ["CPRO_VAULT_PASSPHRASE": Cli.passphrase])
        #expect(r.stdout.contains(#"x\u009b2Jy"#) && !r.stdout.contains("\u{9B}"), "\(r.stdout)")
        #expect(r.stdout.contains(#"a\u202ecba"#) && !r.stdout.contains("\u{202E}"), "bidirectional overrides too: \(r.stdout)")
    }

    /// As root, `--output /dev/null` replaced the system's node: a FIFO, a
    /// device or a folder is refused and left as it was.
    @Test func healthOutputIsARegularFileOnly() async throws {
        let cli = try await Cli.withSim(try await SimProcess())
        let fifo = cli.home + "/health.fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let r = try await cli.run(["health", "--format", "prometheus", "--output", fifo])
        #expect(r.status == 3 || r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains("is not a regular file"), "\(r.stderr)")
        var st = stat()
        #expect(lstat(fifo, &st) == 0 && (st.st_mode & S_IFMT) == S_IFIFO, "the FIFO is still there")
    }

    /// A runtime folder open to others is ignored (the XDG rule): the token
    /// cache's key goes beside the cache instead.
    @Test func aRuntimeFolderOpenToOthersIsIgnored() async throws {
        let sim = try await SimProcess()
        var (cli, _, home) = try AgentLifetimeTests.desktop()
        cli.env.merge(sim.env) { $1 }
        chmod(home + "/run", 0o755)
        cli.env["CPRO_VAULT_PASSPHRASE"] = Cli.passphrase
        try await cli.storeSimCredentials()
        _ = try await cli.run(["token"], env: AgentLifetimeTests.pass)
        #expect(!FileManager.default.fileExists(atPath: home + "/run/cpro"), "nothing of cpro's in a runtime folder others can read")
        #expect(SecureFiles.mode(of: home + "/run") == 0o755, "its mode left alone")
    }

    /// Plain http to loopback only to a listener of this user or root: the
    /// client secret never reaches another user's process on a free port.
    @Test func credentialsGoOnlyToOurOwnLoopbackListener() async throws {
        guard geteuid() == 0 else { return }  // needs another user to listen (CI runs as root)
        let dir = NSTemporaryDirectory() + "foreign-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])
        let script = """
            import socket, sys
            s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(4)
            open(sys.argv[1] + "/port", "w").write(str(s.getsockname()[1]))
            n = 0
            while True:
                c, _ = s.accept(); n += 1; open(sys.argv[1] + "/count", "w").write(str(n)); c.close()
            """
        let child = try Child(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", script, dir],
                              environment: ["PATH": "/usr/bin:/bin"])
        defer { child.terminate() }
        var port = ""
        for _ in 0..<200 where port.isEmpty {
            port = (try? String(contentsOfFile: dir + "/port", encoding: .utf8)) ?? ""
            await sleep(ms: 25)
        }
        var cli = Cli()
        cli.env["PISTE_OAUTH_URL"] = "http://127.0.0.1:\(port)"
        try await cli.storeSimCredentials()
        let r = try await cli.run(["token"])
        #expect(r.status == 1 && r.stderr.contains("port \(port) on 127.0.0.1 is held by user nobody (uid 65534)"), "\(r.stderr)")
        // The name localhost reaches the same listener.
        let named = try await cli.run(["token"], env: ["PISTE_OAUTH_URL": "http://localhost:\(port)"])
        #expect(named.status == 1 && named.stderr.contains("is held by user nobody"), "\(named.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/count"), "nothing was sent to it")
    }
}

/// A loopback HTTP server that grants any token and answers every API call
/// with the same body: for answers piste-sim never gives.
final class TinyServer: @unchecked Sendable {
    let child: Child
    let port: Int
    var base: String { "http://127.0.0.1:\(port)" }

    init(answer: String) async throws {
        let dir = NSTemporaryDirectory() + "tiny-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try Data(answer.utf8).write(to: URL(fileURLWithPath: dir + "/answer"))
        let script = """
            import http.server, sys
            answer = open(sys.argv[1] + "/answer", "rb").read()
            class H(http.server.BaseHTTPRequestHandler):
                def do_POST(self):
                    self.rfile.read(int(self.headers.get("Content-Length", "0")))
                    body = b'{"access_token":"t","token_type":"Bearer","expires_in":3600}' if self.path.endswith("/oauth/token") else answer
                    self.send_response(200); self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
                def log_message(self, *a): pass
            s = http.server.HTTPServer(("127.0.0.1", 0), H)
            open(sys.argv[1] + "/port", "w").write(str(s.server_address[1]))
            s.serve_forever()
            """
        child = try Child(["/usr/bin/python3", "-c", script, dir], environment: ["PATH": "/usr/bin:/bin"])
        var found = 0
        for _ in 0..<200 where found == 0 {
            found = Int((try? String(contentsOfFile: dir + "/port", encoding: .utf8)) ?? "") ?? 0
            try await Task.sleep(nanoseconds: 25_000_000)
        }
        guard found > 0 else { child.terminate(); throw SimProcess.SimError(message: "the tiny server did not start") }
        port = found
    }

    func stop() { child.terminate() }
}
