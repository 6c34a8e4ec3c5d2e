import ArgumentParser
import CCproSys
import CproCore
import CproVault

#if canImport(Glibc)
import Glibc
#endif

struct VaultUnlock: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unlock",
        abstract: "Open the file vault once and let the session agent keep its key for a while.",
        discussion: """
            Later commands of the same user ask the agent instead of the passphrase (and skip the \
            key derivation). The key is wiped after DURATION without use (default 15m; 0 = until \
            logout), by `cpro vault lock`, or when the vault's passphrase changes. The agent is \
            started in the background if none runs (`cpro agent`).
            """)

    @OptionGroup var globals: GlobalOptions

    @Option(name: .customLong("for"), help: "Idle time before the key is wiped: 90s, 15m, 8h, 1d, or 0 for until logout.")
    var duration: String?

    func run() async throws {
        let ctx = try Context(globals)
        let idle = try Self.seconds(duration ?? "15m")
        guard ctx.backend == .file else {
            throw Failure(
                "only the file vault is unlocked through the session agent; the \(ctx.backend.rawValue) backend keeps its own session",
                fr: "seul le coffre fichier se déverrouille par l'agent de session ; le backend \(ctx.backend.rawValue) gère sa propre session")
        }
        guard !ctx.agentRefused else {
            throw Failure(
                "the session agent is turned off (--no-agent, or agent = false in \(ctx.settings.paths.configFile))",
                fr: "l'agent de session est désactivé (--no-agent, ou agent = false dans \(ctx.settings.paths.configFile))")
        }
        // "Until logout" needs a logout the agent can see: its socket in the
        // runtime folder, which the session manager removes at logout.
        if idle == 0, ctx.settings.paths.runtimeDirectory.map({ !ctx.settings.paths.agentSocket.hasPrefix($0 + "/") }) ?? true {
            throw Failure(
                "--for 0 (until logout) needs a private runtime folder (XDG_RUNTIME_DIR), whose removal at logout the agent watches; here its socket is beside the vault\(ctx.environment["CPRO_HOME"].map { _ in " (CPRO_HOME)" } ?? ""), where no logout shows: give a duration instead (--for 8h)",
                fr: "--for 0 (jusqu'à la déconnexion) demande un dossier d'exécution privé (XDG_RUNTIME_DIR), dont l'agent surveille la suppression à la déconnexion ; ici son socket est à côté du coffre\(ctx.environment["CPRO_HOME"].map { _ in " (CPRO_HOME)" } ?? ""), où aucune déconnexion ne se voit : donnez une durée (--for 8h)")
        }
        let store = ctx.fileStore(agent: false)
        if let current = AgentClient.of(ctx.settings.paths).status(), current.unlocked, SecureFiles.sameFile(current.vault, store.path) {
            // Already open: say until when rather than ask the passphrase again.
            if ctx.output.json {
                ctx.output.json(VaultUnlockedJSON(unlocked: true, idleSeconds: Int(current.idleSeconds), agentPID: Int(current.pid), socket: ctx.settings.paths.agentSocket))
            }
            if let left = current.remainingSeconds {
                let until = (ctx.now + left).rfc3339
                ctx.output.say("Already unlocked: the key is wiped at \(until) unless used before (after \(Self.text(current.idleSeconds)) without use), or by `cpro vault lock`.",
                               "Déjà déverrouillé : la clé est effacée à \(until) sauf usage d'ici là (après \(Self.text(current.idleSeconds)) sans usage), ou par `cpro vault lock`.")
            } else {
                ctx.output.say("Already unlocked until logout (or `cpro vault lock`).", "Déjà déverrouillé jusqu'à la déconnexion (ou `cpro vault lock`).")
            }
            if let duration {
                // The agent takes a duration with the key only: say how, rather than ignore it.
                ctx.output.say("--for \(duration) was not applied: the duration is set at unlock. To change it: `cpro vault lock`, then `cpro vault unlock --for \(duration)`.",
                               "--for \(duration) n'a pas été appliqué : la durée se fixe au déverrouillage. Pour la changer : `cpro vault lock`, puis `cpro vault unlock --for \(duration)`.")
            }
            return
        }
        let key = try store.keyForAgent()
        // The key goes to this session's agent only (started if need be), never
        // to one found elsewhere: "until logout" rests on where it listens.
        let client = AgentClient(socketPath: ctx.settings.paths.agentSocket)
        if client.status() == nil { try AgentLauncher.start(ctx) }
        let status: AgentStatus
        do {
            status = try client.unlock(kek: key, idleSeconds: idle)
        } catch is AgentClient.Unavailable {
            throw Failure(
                "the session agent did not answer on \(client.socketPath); see \(AgentLauncher.logPath(ctx))",
                fr: "l'agent de session n'a pas répondu sur \(client.socketPath) ; voir \(AgentLauncher.logPath(ctx))")
        }
        if ctx.output.json {
            ctx.output.json(VaultUnlockedJSON(unlocked: true, idleSeconds: Int(idle), agentPID: Int(status.pid), socket: client.socketPath))
        }
        if idle == 0 {
            ctx.output.say("Unlocked \(store.path) until logout (or `cpro vault lock`).",
                           "Coffre \(store.path) déverrouillé jusqu'à la déconnexion (ou `cpro vault lock`).")
        } else {
            let d = Self.text(idle)
            ctx.output.say("Unlocked \(store.path); the key is wiped after \(d) without use, or by `cpro vault lock`.",
                           "Coffre \(store.path) déverrouillé ; la clé est effacée après \(d) sans usage, ou par `cpro vault lock`.")
        }
    }

    static func seconds(_ text: String) throws -> Int64 {
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        if text == "0" { return 0 }
        guard let unit = text.last.flatMap({ units[$0] }), let n = Int64(text.dropLast()), n > 0, n <= 366 * 86400 / unit else {
            throw Failure(
                "--for takes a duration such as 90s, 15m, 8h or 1d (at most a year), or 0 for until logout",
                fr: "--for prend une durée comme 90s, 15m, 8h ou 1d (un an au plus), ou 0 pour jusqu'à la déconnexion").usage
        }
        return n * unit
    }

    static func text(_ seconds: Int64) -> String {
        if seconds % 86400 == 0 { return "\(seconds / 86400)d" }
        if seconds % 3600 == 0 { return "\(seconds / 3600)h" }
        if seconds % 60 == 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }
}

struct VaultLock: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lock",
        abstract: "Wipe the file vault's key from the session agent; later commands ask for the passphrase.")

    @OptionGroup var globals: GlobalOptions

    func run() async throws {
        let ctx = try Context(globals)
        // Every place an agent of this vault can listen: the one this session
        // would use and the one recorded beside the vault (cron, su -, ssh).
        let client = AgentClient.of(ctx.settings.paths, timeout: 2)
        let wasRunning: Bool
        switch client.lockEverywhere(vault: ctx.settings.paths.vaultFile) {
        case .locked:
            wasRunning = true
        case .noAgent:
            wasRunning = false
        case .unreachable(let socket, let reason):
            throw Failure(
                "could not tell the session agent at \(socket) to wipe the key (\(reason)); it may still hold it: stop it (`pkill -u \(getuid()) -f 'cpro agent'`) or log out",
                fr: "impossible de demander à l'agent de session de \(socket) d'effacer la clé (\(reason)) ; il la détient peut-être encore : arrêtez-le (`pkill -u \(getuid()) -f 'cpro agent'`) ou déconnectez-vous")
        }
        if ctx.output.json {
            ctx.output.json(VaultLockedJSON(locked: true, agentWasRunning: wasRunning))
        }
        if wasRunning {
            ctx.output.say("Locked: the session agent wiped the vault's key.", "Verrouillé : l'agent de session a effacé la clé du coffre.")
        } else {
            ctx.output.say("No session agent was running; nothing to lock.", "Aucun agent de session ne tournait ; rien à verrouiller.")
        }
    }
}

struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "The session agent that keeps the file vault's key after `cpro vault unlock` (foreground, for systemd).",
        discussion: """
            Listens on a Unix socket in $XDG_RUNTIME_DIR/cpro (or beside the vault), for processes of \
            the same user only. `cpro vault unlock` starts one in the background when none runs; run it \
            in the foreground from a systemd user unit to keep one for the whole session (docs/backends.md).
            """)

    @OptionGroup var globals: GlobalOptions

    @Flag(help: .hidden)
    var background = false

    func run() async throws {
        // Started by hand or by a service: it keeps none of its caller's
        // descriptors (the launcher already closes them for `vault unlock`).
        InheritedDescriptors.closeInherited()
        let ctx = try Context(globals)
        // Paths are resolved: leave the caller's folder, which it would keep busy (unmounts).
        _ = chdir("/")
        // Its own session: the terminal that ran `vault unlock` closing must
        // not send it SIGHUP, which would wipe the key.
        if background { _ = setsid() }
        let pid = getpid()
        let agent = VaultAgent(
            .init(vaultPath: ctx.settings.paths.vaultFile, socketPath: ctx.settings.paths.agentSocket,
                  floor: ctx.fileStore(agent: false).readFloor, exitWhenLocked: background,
                  seesLogout: ctx.settings.paths.runtimeDirectory.map { ctx.settings.paths.agentSocket.hasPrefix($0 + "/") } ?? false),
            log: { line in Output.write(2, Array("\(AgentLauncher.timestamp()) cpro agent[\(pid)]: \(line)\n".utf8)) })
        do {
            try agent.run()
        } catch is VaultAgent.AlreadyRunning {
            if background { return }
            throw Failure(
                "a session agent already serves \(ctx.settings.paths.agentSocket)",
                fr: "un agent de session sert déjà \(ctx.settings.paths.agentSocket)")
        }
    }
}

/// Starts `cpro agent --background` detached, and waits for its socket.
enum AgentLauncher {
    static func logPath(_ ctx: Context) -> String {
        let socket = ctx.settings.paths.agentSocket
        return String(socket.dropLast(".sock".count)) + ".log"
    }

    static func timestamp() -> String { VaultStatus.isoTime(Int64(time(nil))) }

    /// What the agent is started with: the variables that locate state and
    /// set the language, never one that holds a secret.
    static func environment(_ all: [String: String]) -> [String: String] {
        let kept: Set<String> = ["PATH", "HOME", "USER", "LOGNAME", "LANG", "TMPDIR", "CPRO_HOME", "CPRO_PROFILE", "CPRO_ENV",
                                 "CPRO_BACKEND", "DBUS_SESSION_BUS_ADDRESS", "SWIFT_BACKTRACE", "CPRO_TEST_WEAK_KDF"]
        return all.filter { kept.contains($0.key) || $0.key.hasPrefix("XDG_") || $0.key.hasPrefix("LC_") }
    }

    static func start(_ ctx: Context) throws {
        let socket = ctx.settings.paths.agentSocket
        guard socket.utf8.count <= UnixSocket.maxPath else {
            throw Failure(
                "the agent's socket path \(socket) is longer than a Unix socket allows (\(UnixSocket.maxPath) bytes); use a shorter CPRO_HOME",
                fr: "le chemin du socket de l'agent \(socket) dépasse ce qu'un socket Unix permet (\(UnixSocket.maxPath) octets) ; utilisez un CPRO_HOME plus court")
        }
        try SecureFiles.ensurePrivateDirectory(SecureFiles.dirname(of: socket))
        let log = logPath(ctx)
        let logFD = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard logFD >= 0 else { throw SecureFiles.IOError(operation: "open", path: log, code: errno) }
        defer { close(logFD) }
        let devNull = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { if devNull >= 0 { close(devNull) } }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, devNull, 0)
        posix_spawn_file_actions_adddup2(&actions, devNull, 1)
        posix_spawn_file_actions_adddup2(&actions, logFD, 2)
        // Nothing else of the caller's: a lock the caller holds (`flock job.lock
        // cpro vault unlock`) must not stay held for the agent's whole life.
        _ = cpro_spawn_close_from(&actions, 3)
        // The agent needs the same paths and language as this command, and
        // nothing else of its caller's: no passphrase, no credential variable,
        // no OpenBao token (they would sit in /proc/PID/environ for its life).
        let env = AgentLauncher.environment(ctx.environment)
        // argv[0] the binary's own path, so `ps` says which cpro this is.
        var exe = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &exe, exe.count - 1)
        let me = n > 0 ? String(decoding: exe[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : "cpro"
        var pid: pid_t = 0
        let rc = spawn(&pid, "/proc/self/exe", &actions, argv: [me, "agent", "--background"],
                       envp: env.map { "\($0.key)=\($0.value)" })
        guard rc == 0 else { throw SecureFiles.IOError(operation: "start the agent:", path: "/proc/self/exe", code: rc) }
        let client = AgentClient(socketPath: socket)  // the one it starts, nowhere else
        for _ in 0..<300 {
            if client.status() != nil { return }
            // Reap it if it stopped already (another agent won the race, or it failed).
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                if client.status() != nil { return }
                break
            }
            usleep(10_000)
        }
        throw Failure(
            "the session agent did not start; see \(log)",
            fr: "l'agent de session n'a pas démarré ; voir \(log)")
    }
}
