import CCproSys
import CSodium
import CproCore

#if canImport(Glibc)
import Glibc
#endif

/// The session agent: holds one vault's master key for a while so that later
/// commands skip Argon2id and the passphrase. It never hands the key out: it
/// opens and seals payloads for the clients (docs/security.md says why).
///
/// One thread, one poll loop: the listening socket, the termination signals,
/// and a one-second tick for the idle timeout and the checks of the vault
/// file and of the socket.
package final class VaultAgent {
    package struct Options: Sendable {
        package var vaultPath: String
        package var socketPath: String
        /// The weakest key derivation accepted, as for any reader of the vault.
        package var floor: VaultFormat.KDFParams
        /// Started on demand by `cpro vault unlock`: exit once no key is held.
        /// In the foreground (systemd), stay and wait for the next unlock.
        package var exitWhenLocked: Bool
        /// Its socket is in the runtime folder, whose removal at logout it
        /// sees: only then may a key be held "until logout".
        package var seesLogout: Bool

        package init(vaultPath: String, socketPath: String, floor: VaultFormat.KDFParams, exitWhenLocked: Bool, seesLogout: Bool = false) {
            self.vaultPath = vaultPath
            self.socketPath = socketPath
            self.floor = floor
            self.exitWhenLocked = exitWhenLocked
            self.seesLogout = seesLogout
        }
    }

    package struct AlreadyRunning: Error {}

    let options: Options
    let log: (String) -> Void
    /// The master key, in sodium_malloc'd memory (guard pages, mlock'd), and
    /// the 163-byte header of the key slot it came from.
    private var master: SecretBytes?
    private var header: [UInt8]?
    private var idleSeconds: Int64 = 0
    private var deadline: Double?
    private var socketIdentity: (dev: UInt64, ino: UInt64)?
    private let started: Double
    private var everUnlocked = false

    package init(_ options: Options, log: @escaping (String) -> Void) {
        self.options = options
        self.log = log
        started = Self.monotonic()
    }

    /// The idle clock runs while the machine sleeps (CLOCK_BOOTTIME, as
    /// ssh-agent's): a laptop closed overnight wakes up locked.
    package static let idleClock = CLOCK_BOOTTIME

    static func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(idleClock, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Where an agent of this vault listens, recorded beside the vault, one
    /// file per agent (two sessions may each run one): a `vault lock` from
    /// cron, `su -`, ssh without a login session (another runtime folder, or
    /// none) finds every one of them there.
    package static func recordPath(vault: String, pid: Int32) -> String {
        SecureFiles.dirname(of: vault) + "/agent-\(pid).where"
    }

    /// Whether the key's memory could be locked (mlock): when it could not
    /// (RLIMIT_MEMLOCK 0), the key may reach swap, and `vault status` says so.
    private var keyLockedInMemory = true

    // MARK: the loop

    /// Listens until told to stop (SIGTERM, SIGINT, SIGHUP), until its socket
    /// is taken away (the runtime folder removed at logout), or, when started
    /// on demand, until no key is held. Throws AlreadyRunning when another
    /// agent serves this socket.
    package func run() throws {
        let path = options.socketPath
        guard path.utf8.count <= UnixSocket.maxPath else {
            throw Failure(
                "the agent's socket path \(path) is longer than the \(UnixSocket.maxPath) bytes a Unix socket allows; use a shorter CPRO_HOME",
                fr: "le chemin du socket de l'agent \(path) dépasse les \(UnixSocket.maxPath) octets permis ; utilisez un CPRO_HOME plus court")
        }
        try SecureFiles.ensurePrivateDirectory(SecureFiles.dirname(of: path))
        // The lock lives as long as the process (the kernel drops it even on
        // SIGKILL): whoever holds it owns the socket path, so two agents never
        // race to bind, and a socket left by a killed agent is known stale.
        let lockFD = open(path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lockFD >= 0 else { throw SecureFiles.IOError(operation: "open", path: path + ".lock", code: errno) }
        defer { close(lockFD) }
        guard flock(lockFD, LOCK_EX | LOCK_NB) == 0 else { throw AlreadyRunning() }

        unlink(path)
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard listener >= 0 else { throw SecureFiles.IOError(operation: "socket", path: path, code: errno) }
        defer { close(listener) }
        guard var addr = UnixSocket.address(path) else { throw SecureFiles.IOError(operation: "bind", path: path, code: ENAMETOOLONG) }
        // 0600 from creation: bind makes the file with the umask's mode.
        let oldMask = umask(0o177)
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        umask(oldMask)
        guard bound == 0 else { throw SecureFiles.IOError(operation: "bind", path: path, code: errno) }
        guard listen(listener, 64) == 0 else { throw SecureFiles.IOError(operation: "listen", path: path, code: errno) }
        var st = stat()
        if stat(path, &st) == 0 { socketIdentity = (UInt64(st.st_dev), UInt64(st.st_ino)) }

        let signals = cpro_termination_pipe()
        log("listening on \(path) for \(options.vaultPath)")
        let record = Self.recordPath(vault: options.vaultPath, pid: getpid())
        do {
            try SecureFiles.atomicWrite(record, bytes: Array("socket=\(path)\npid=\(getpid())\n".utf8))
        } catch {
            log("cannot record where it listens in \(record): \(error)")
        }
        defer {
            // Only our own record: a newer agent may have written its own.
            if let text = try? SecureFiles.read(record, limit: 4096), String(decoding: text, as: UTF8.self).contains("\npid=\(getpid())\n") {
                unlink(record)
            }
        }

        var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0), pollfd(fd: signals, events: Int16(POLLIN), revents: 0)]
        while true {
            let n = poll(&fds, nfds_t(signals >= 0 ? 2 : 1), 1000)
            if n < 0 && errno != EINTR { break }
            if signals >= 0 && fds[1].revents != 0 {
                var number: UInt8 = 0
                _ = read(signals, &number, 1)
                wipe("signal \(number)")
                break
            }
            if fds[0].revents != 0 {
                let conn = accept(listener, nil, nil)
                if conn >= 0 {
                    serve(conn)
                    close(conn)
                }
            }
            if !tick() { break }
        }
        wipe(nil)
        // Only our own socket: a newer agent may have bound the path meanwhile.
        if let id = socketIdentity, stat(path, &st) == 0, UInt64(st.st_dev) == id.dev, UInt64(st.st_ino) == id.ino {
            unlink(path)
        }
        log("stopped")
    }

    /// The periodic checks; false when the agent should stop.
    func tick() -> Bool {
        if let deadline, Self.monotonic() >= deadline { wipe("idle for \(idleSeconds) s") }
        if header != nil, !keySlotUnchanged() {
            wipe("the vault's key slot changed (a new passphrase, or another vault file)")
        }
        var st = stat()
        if let id = socketIdentity, stat(options.socketPath, &st) != 0 || UInt64(st.st_ino) != id.ino || UInt64(st.st_dev) != id.dev {
            wipe("its socket was removed or replaced")
            return false
        }
        // Started on demand: gone once its key is; the grace is for the
        // `vault unlock` that started it to connect.
        if options.exitWhenLocked && master == nil && (everUnlocked || Self.monotonic() - started > 10) { return false }
        return true
    }

    /// Whether the vault file on disk still starts with the header our key came from.
    func keySlotUnchanged() -> Bool {
        guard let header else { return false }
        let fd = open(options.vaultPath, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var now = [UInt8](repeating: 0, count: header.count)
        let n = now.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        return n == header.count && now == header
    }

    func wipe(_ reason: String?) {
        // SecretBytes frees with sodium_free, which zeroes the pages first.
        if master != nil, let reason { log("key wiped: \(reason)") }
        master = nil
        header = nil
        deadline = nil
    }

    func touch() {
        deadline = idleSeconds > 0 ? Self.monotonic() + Double(idleSeconds) : nil
    }

    var status: AgentStatus {
        var s = AgentStatus(
            unlocked: master != nil, idleSeconds: idleSeconds,
            remainingSeconds: deadline.map { max(0, Int64(($0 - Self.monotonic()).rounded(.up))) },
            pid: getpid(), vault: options.vaultPath)
        s.keyLockedInMemory = master == nil ? nil : keyLockedInMemory
        return s
    }

    static func memlockLimit() -> String {
        switch cpro_memlock_limit() {
        case -1: "unknown"
        case -2: "unlimited"
        case let n: "\(n) bytes"
        }
    }

    // MARK: one connection

    func serve(_ fd: Int32) {
        UnixSocket.setTimeouts(fd, seconds: 1)
        guard let peer = UnixSocket.peer(fd) else { return }
        guard peer.uid == geteuid() else {
            log("refused a connection from uid \(peer.uid) (pid \(peer.pid)): only uid \(geteuid()) may use this agent")
            answer(fd, .refused, [])
            return
        }
        var head = [UInt8](repeating: 0, count: 5)
        guard head.withUnsafeMutableBytes({ UnixSocket.receiveAll(fd, $0) }), Array(head[0..<4]) == AgentWire.magic,
              let op = AgentWire.Op(rawValue: head[4]), let body = UnixSocket.receiveBody(fd) else {
            answer(fd, .failed, Array("malformed request".utf8))
            return
        }
        switch op {
        case .status:
            answer(fd, .ok, status.encoded)
        case .lock:
            wipe("locked on request (pid \(peer.pid))")
            answer(fd, .ok, status.encoded)
        case .unlock:
            unlock(fd, body)
        case .open:
            guard let master, let header else { return answer(fd, .locked, []) }
            let file = body.unprotectedBytes
            guard file.count >= header.count, Array(file[0..<header.count]) == header else {
                return mismatch(fd)
            }
            do {
                let parsed = try VaultFormat.parseHeader(file, path: options.vaultPath, floor: options.floor)
                let padded = try VaultFormat.openPayload(file, header: parsed, master: master, path: options.vaultPath)
                touch()
                answerSecret(fd, padded)
            } catch {
                answer(fd, .failed, Array("the vault's contents do not open with the key held".utf8))
            }
        case .seal:
            guard let master, let header else { return answer(fd, .locked, []) }
            guard body.count > header.count else { return answer(fd, .failed, Array("malformed request".utf8)) }
            let given = body.withUnsafeBytes { Array($0[0..<header.count]) }
            guard given == header else { return mismatch(fd) }
            let padded = try? SecretBytes(count: body.count - header.count) { out in
                body.withUnsafeBytes { raw in out.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[header.count...])) }
            }
            guard let padded, padded.count % VaultFormat.padBlock == 0 else {
                return answer(fd, .failed, Array("malformed request".utf8))
            }
            touch()
            answer(fd, .ok, VaultFormat.sealPadded(padded, header: VaultFormat.Header(bytes: header), master: master))
        }
    }

    /// A client sent another key slot: if the file on disk changed too, our
    /// key is for a vault that no longer exists.
    func mismatch(_ fd: Int32) {
        if !keySlotUnchanged() { wipe("the vault's key slot changed (a new passphrase, or another vault file)") }
        answer(fd, master == nil ? .locked : .mismatch, [])
    }

    func unlock(_ fd: Int32, _ body: SecretBytes) {
        guard body.count == 8 + 32 else { return answer(fd, .failed, Array("malformed request".utf8)) }
        let idle = body.withUnsafeBytes { LittleEndian.read(UInt64.self, $0, at: 0) }
        let kek = try? SecretBytes(count: 32) { out in
            body.withUnsafeBytes { raw in out.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[8...])) }
        }
        do {
            guard let kek, idle <= UInt64(Int64.max / 2) else { throw Failure("malformed request", fr: "requête mal formée") }
            // Whoever asks: this agent would keep the key until reboot.
            guard idle > 0 || options.seesLogout else {
                throw Failure("this agent cannot see a logout (its socket is not in a runtime folder): give a duration",
                              fr: "cet agent ne peut pas voir de déconnexion (son socket n'est pas dans un dossier d'exécution) : donnez une durée")
            }
            guard let file = try SecureFiles.read(options.vaultPath, limit: VaultFormat.maxFileSize) else {
                throw Failure("no vault at \(options.vaultPath)", fr: "pas de coffre à \(options.vaultPath)")
            }
            let parsed = try VaultFormat.parseHeader(file, path: options.vaultPath, floor: options.floor)
            let key = try VaultFormat.unwrapMasterKey(parsed, kek: kek, path: options.vaultPath)
            // The whole vault must open, not just the key slot.
            _ = try VaultFormat.openPayload(file, header: parsed, master: key, path: options.vaultPath)
            master = key
            header = parsed.bytes
            // sodium_malloc locks the pages when it can and says nothing when
            // it cannot: ask again, and tell.
            keyLockedInMemory = key.withUnsafeBytes { sodium_mlock(UnsafeMutableRawPointer(mutating: $0.baseAddress!), $0.count) } == 0
            if !keyLockedInMemory {
                log("warning: the key's memory could not be locked (mlock failed: RLIMIT_MEMLOCK is \(Self.memlockLimit())); it may be written to swap")
            }
            everUnlocked = true
            idleSeconds = Int64(idle)
            touch()
            log(idle == 0 ? "unlocked until logout" : "unlocked, wiped after \(idle) s unused")
            answer(fd, .ok, status.encoded)
        } catch let e as CproError {
            answer(fd, .failed, Array(e.message(.en).utf8))
        } catch {
            answer(fd, .failed, Array("\(error)".utf8))
        }
    }

    func answer(_ fd: Int32, _ status: AgentWire.Answer, _ body: [UInt8]) {
        _ = UnixSocket.sendFrame(fd, head: [status.rawValue], parts: [SecretBytes(copying: body)])
    }

    func answerSecret(_ fd: Int32, _ body: SecretBytes) {
        _ = UnixSocket.sendFrame(fd, head: [AgentWire.Answer.ok.rawValue], parts: [body])
    }
}
