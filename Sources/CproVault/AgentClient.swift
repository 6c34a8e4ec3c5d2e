import CCproSys
import CproCore

#if canImport(Glibc)
import Glibc
#endif

/// The session agent's wire format (docs/security.md), one request per connection:
///
///     request: "CPA1"  op u8  length u32 LE  body
///     answer:  status u8      length u32 LE  body
///
/// Bodies that may hold a secret are read straight into protected memory.
package enum AgentWire {
    static let magic: [UInt8] = Array("CPA1".utf8)
    static let maxBody = VaultFormat.maxFileSize + 4096

    package enum Op: UInt8 {
        case status = 1
        /// body: the vault file as the client read it; answer: the padded plaintext.
        case open = 2
        /// body: the 163-byte header, then the padded plaintext; answer: nonce || ciphertext.
        case seal = 3
        case lock = 4
        /// body: idle seconds (u64 LE, 0 = until logout), then the 32-byte passphrase key.
        case unlock = 5
    }

    package enum Answer: UInt8 {
        case ok = 0
        /// No key held (never unlocked, locked, timed out, wiped).
        case locked = 1
        /// The key held is not this vault's (another key slot, another vault).
        case mismatch = 2
        /// body: a message without secrets.
        case failed = 3
        /// The peer is not the agent's user.
        case refused = 4
    }
}

/// Unix-socket moves shared by the agent and its clients.
package enum UnixSocket {
    static func address(_ path: String) -> sockaddr_un? {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else { return nil }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        return addr
    }

    /// The longest socket path the kernel takes.
    package static var maxPath: Int { MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1 }

    static func setTimeouts(_ fd: Int32, seconds: Double) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1_000_000))
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// A connected socket, or nil at once when nothing listens there (no file,
    /// a stale socket: ENOENT, ECONNREFUSED), so a dead agent costs nothing.
    static func connect(_ path: String, timeout: Double) -> Int32? {
        if case .success(let fd) = connecting(path, timeout: timeout) { return fd }
        return nil
    }

    /// The connected socket, or the errno of the failure: ENOENT and
    /// ECONNREFUSED mean nothing listens; anything else may hide an agent.
    static func connecting(_ path: String, timeout: Double) -> Result<Int32, Errno> {
        guard var addr = address(path) else { return .failure(Errno(code: ENAMETOOLONG)) }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(Errno(code: errno)) }
        setTimeouts(fd, seconds: timeout)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            let code = errno
            close(fd)
            return .failure(Errno(code: code))
        }
        return .success(fd)
    }

    struct Errno: Error { let code: Int32 }

    static func peer(_ fd: Int32) -> (uid: uid_t, pid: pid_t)? {
        var uid: uid_t = 0, pid: pid_t = 0
        guard cpro_peer_credentials(fd, &uid, &pid) == 0 else { return nil }
        return (uid, pid)
    }

    static func sendAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Bool {
        var at = 0
        while at < buffer.count {
            let n = send(fd, buffer.baseAddress! + at, buffer.count - at, Int32(MSG_NOSIGNAL))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            at += n
        }
        return true
    }

    static func receiveAll(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) -> Bool {
        var at = 0
        while at < buffer.count {
            let n = recv(fd, buffer.baseAddress! + at, buffer.count - at, 0)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            at += n
        }
        return true
    }

    /// Sends a header then the body parts, without copying a secret part.
    static func sendFrame(_ fd: Int32, head: [UInt8], parts: [SecretBytes]) -> Bool {
        let length = parts.reduce(0) { $0 + $1.count }
        let start = head + LittleEndian.bytes(UInt32(length))
        guard start.withUnsafeBytes({ sendAll(fd, $0) }) else { return false }
        for part in parts where part.count > 0 {
            guard part.withUnsafeBytes({ sendAll(fd, $0) }) else { return false }
        }
        return true
    }

    /// Reads `length u32 LE` then that many bytes into protected memory.
    static func receiveBody(_ fd: Int32) -> SecretBytes? {
        var lengthBytes = [UInt8](repeating: 0, count: 4)
        guard lengthBytes.withUnsafeMutableBytes({ receiveAll(fd, $0) }) else { return nil }
        let length = Int(LittleEndian.read(UInt32.self, lengthBytes, at: 0))
        guard length <= AgentWire.maxBody else { return nil }
        return try? SecretBytes(count: length) { out in
            if length > 0, !receiveAll(fd, out) { throw Failure("short read", fr: "lecture incomplète") }
        }
    }
}

/// What `cpro vault status` shows of the agent.
package struct AgentStatus: Sendable, Equatable {
    package var unlocked: Bool
    /// The idle timeout in seconds; 0 means until logout.
    package var idleSeconds: Int64
    /// Seconds until the key is wiped if unused; nil when locked or until logout.
    package var remainingSeconds: Int64?
    package var pid: Int32
    package var vault: String
    /// Whether the key held is in locked memory (mlock); nil without a key
    /// (or from an agent that does not say).
    package var keyLockedInMemory: Bool?

    var encoded: [UInt8] {
        var text = "unlocked=\(unlocked ? 1 : 0)\nidle=\(idleSeconds)\npid=\(pid)\nvault=\(vault)\n"
        if let remainingSeconds { text += "remaining=\(remainingSeconds)\n" }
        if let keyLockedInMemory { text += "mlocked=\(keyLockedInMemory ? 1 : 0)\n" }
        return Array(text.utf8)
    }

    init(unlocked: Bool, idleSeconds: Int64, remainingSeconds: Int64?, pid: Int32, vault: String) {
        self.unlocked = unlocked
        self.idleSeconds = idleSeconds
        self.remainingSeconds = remainingSeconds
        self.pid = pid
        self.vault = vault
    }

    init?(_ bytes: [UInt8]) {
        var fields: [String: String] = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { return nil }
            fields[String(parts[0])] = String(parts[1])
        }
        guard let u = fields["unlocked"], let idle = fields["idle"].flatMap({ Int64($0) }),
              let pid = fields["pid"].flatMap({ Int32($0) }), let vault = fields["vault"] else { return nil }
        self.init(unlocked: u == "1", idleSeconds: idle, remainingSeconds: fields["remaining"].flatMap { Int64($0) },
                  pid: pid, vault: vault)
        keyLockedInMemory = fields["mlocked"].map { $0 == "1" }
    }
}

/// The client side: every call is one short connection. Anything unexpected
/// (no agent, a stale socket, a foreign owner, a slow answer) reads as "no
/// agent", so the caller falls back to the passphrase and never fails for it.
package struct AgentClient: VaultFormat.RemoteSealer {
    /// The one socket given, or the vault whose agents are looked up when
    /// first asked: every store of the file vault holds a client, and a
    /// command that never asks (a warm `cpro token`) must not pay for
    /// resolving the vault's real path and reading the agents' records.
    private enum Place {
        case socket(String)
        case vault(Paths)
    }
    private let place: Place
    /// Connect and answer budget: an agent that answers at all does so in
    /// well under a millisecond; one stopped in a debugger must not hold a command.
    let timeout: Double

    package init(socketPath: String, timeout: Double = 0.5) {
        place = .socket(socketPath)
        self.timeout = timeout
    }

    /// The agent of the vault at `paths`: where this session would start it,
    /// and where the running ones recorded they listen.
    package static func of(_ paths: Paths, timeout: Double = 0.5) -> AgentClient {
        AgentClient(place: .vault(paths), timeout: timeout)
    }

    private init(place: Place, timeout: Double) {
        self.place = place
        self.timeout = timeout
    }

    /// Where this session's agent listens (or would).
    package var socketPath: String {
        switch place {
        case .socket(let s): s
        case .vault(let paths): paths.agentSocket
        }
    }

    /// The records agents leave beside their vault (VaultAgent.recordPath),
    /// read only when they are ours and closed to others; those of processes
    /// that are gone are left out.
    package static func recorded(vault: String) -> [(socket: String, pid: Int32)] {
        let dir = SecureFiles.dirname(of: vault)
        guard let handle = opendir(dir) else { return [] }
        defer { closedir(handle) }
        var out: [(socket: String, pid: Int32)] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name.hasPrefix("agent-"), name.hasSuffix(".where"), let pid = Int32(name.dropFirst(6).dropLast(6)) else { continue }
            let path = dir + "/" + name
            var st = stat()
            guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == geteuid(), st.st_mode & 0o022 == 0,
                  let bytes = try? SecureFiles.read(path, limit: 4096) else { continue }
            var fields: [String: String] = [:]
            for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
                let parts = line.split(separator: "=", maxSplits: 1)
                if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
            }
            guard let socket = fields["socket"], socket.hasPrefix("/"), fields["pid"] == String(pid), isAgentProcess(pid) else { continue }
            out.append((socket, pid))
        }
        return out.sorted { $0.pid < $1.pid }
    }

    /// This session's socket, then those other agents of the same vault
    /// recorded (started from another session).
    var candidates: [String] {
        switch place {
        case .socket(let s):
            return [s]
        case .vault(let paths):
            let own = paths.agentSocket
            return [own] + Self.recorded(vault: paths.vaultFile).map(\.socket).filter { $0 != own }
        }
    }

    package struct Unavailable: Error {}

    /// The agent's folder must be ours and closed to others (else someone else
    /// could have put a socket there), and so must the process that answers.
    static func trusted(_ socket: String) -> Bool {
        var st = stat()
        guard stat(SecureFiles.dirname(of: socket), &st) == 0 else { return false }
        return st.st_uid == geteuid() && st.st_mode & 0o022 == 0
    }

    package func request(_ op: AgentWire.Op, _ parts: [SecretBytes] = []) -> (AgentWire.Answer, SecretBytes)? {
        for socket in candidates where Self.trusted(socket) {
            if let fd = UnixSocket.connect(socket, timeout: timeout) {
                defer { close(fd) }
                return exchange(fd, op, parts)
            }
        }
        return nil
    }

    func exchange(_ fd: Int32, _ op: AgentWire.Op, _ parts: [SecretBytes]) -> (AgentWire.Answer, SecretBytes)? {
        guard let peer = UnixSocket.peer(fd), peer.uid == geteuid() else { return nil }
        guard UnixSocket.sendFrame(fd, head: AgentWire.magic + [op.rawValue], parts: parts) else { return nil }
        var status: UInt8 = 0
        guard withUnsafeMutableBytes(of: &status, { UnixSocket.receiveAll(fd, $0) }),
              let answer = AgentWire.Answer(rawValue: status), let body = UnixSocket.receiveBody(fd) else { return nil }
        return (answer, body)
    }

    /// nil when no agent answers.
    package func status() -> AgentStatus? {
        guard let (answer, body) = request(.status), answer == .ok else { return nil }
        return AgentStatus(body.unprotectedBytes)
    }

    /// The padded plaintext of this vault file, or nil (no agent, no key, another key).
    package func open(_ file: [UInt8]) -> SecretBytes? {
        guard let (answer, body) = request(.open, [SecretBytes(copying: file)]), answer == .ok else { return nil }
        return body
    }

    package func seal(header: VaultFormat.Header, padded: SecretBytes) throws -> [UInt8] {
        guard let (answer, body) = request(.seal, [SecretBytes(copying: header.bytes), padded]), answer == .ok else {
            throw Unavailable()
        }
        return body.unprotectedBytes
    }

    /// Hands the passphrase key over; the agent checks it against the vault file.
    package func unlock(kek: SecretBytes, idleSeconds: Int64) throws -> AgentStatus {
        let idle = SecretBytes(copying: LittleEndian.bytes(UInt64(idleSeconds)))
        guard let (answer, body) = request(.unlock, [idle, kek]) else { throw Unavailable() }
        switch answer {
        case .ok:
            guard let status = AgentStatus(body.unprotectedBytes) else { throw Unavailable() }
            return status
        case .failed:
            let text = body.unprotectedString
            throw Failure("the session agent refused the key: \(text)", fr: "l'agent de session a refusé la clé : \(text)")
        default:
            throw Unavailable()
        }
    }

    package enum LockOutcome: Equatable {
        /// These agents wiped the key.
        case locked([String])
        /// Nothing listens at any place an agent of this vault could.
        case noAgent
        /// Something may hold the key and could not be told to wipe it.
        case unreachable(String, reason: String)
    }

    /// Asks every place an agent of this vault can listen to wipe its key.
    /// "No agent" only when each place is empty or refuses connections and
    /// no recorded agent process is alive: a failed connection is not proof.
    package func lockEverywhere(vault: String) -> LockOutcome {
        var locked: [String] = []
        let places = candidates
        for socket in places {
            var st = stat()
            guard lstat(socket, &st) == 0 else { continue }
            guard Self.trusted(socket) else { return .unreachable(socket, reason: "its folder is not yours alone") }
            switch UnixSocket.connecting(socket, timeout: max(timeout, 2)) {
            case .failure(let e) where e.code == ECONNREFUSED || e.code == ENOENT:
                continue
            case .failure(let e):
                return .unreachable(socket, reason: String(cString: strerror(e.code)))
            case .success(let fd):
                let answer = exchange(fd, .lock, [])
                close(fd)
                guard let answer, answer.0 == .ok else { return .unreachable(socket, reason: "no answer to the lock request") }
                locked.append(socket)
            }
        }
        // A live recorded agent that did not take the lock may still hold the
        // key: one that started meanwhile, or one whose socket is gone.
        for record in Self.recorded(vault: vault) where !locked.contains(record.socket) {
            if !places.contains(record.socket) {
                return .unreachable(record.socket, reason: "process \(record.pid) runs but was not reached there")
            }
            if locked.isEmpty && !places.contains(where: { SecureFiles.exists($0) }) {
                return .unreachable(record.socket, reason: "process \(record.pid) runs but does not answer there")
            }
        }
        return locked.isEmpty ? .noAgent : .locked(locked)
    }

    /// Whether `pid` is alive and a cpro agent (its command line says so).
    static func isAgentProcess(_ pid: Int32) -> Bool {
        guard pid > 0, kill(pid, 0) == 0 || errno == EPERM,
              let bytes = try? SecureFiles.read("/proc/\(pid)/cmdline", limit: 4096) else { return false }
        let words = bytes.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        return words.contains("agent")
    }
}
