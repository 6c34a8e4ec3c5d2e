import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The few file-system moves that every piece of state in cpro makes (vault,
/// config, token cache), written once: private folders, advisory locks, and
/// atomic replacement in the manner of git's credential-store.
package enum SecureFiles {
    package struct IOError: CproError, CustomStringConvertible {
        package let operation: String
        package let path: String
        package let code: Int32
        package init(operation: String, path: String, code: Int32) {
            self.operation = operation
            self.path = path
            self.code = code
        }
        package var diagnosis: Diagnosis? { nil }
        package func message(_ lang: Language) -> String {
            let reason = String(cString: strerror(code))
            return lang.pick("\(operation) \(path): \(reason)", "\(operation) \(path) : \(reason)")
        }
    }

    /// Creates `path` and any missing parents with mode 0700 (never wider, whatever
    /// the umask). An existing final folder owned by us with group or other bits is
    /// tightened; one owned by someone else is refused.
    package static func ensurePrivateDirectory(_ path: String) throws {
        var st = stat()
        // lstat: a symbolic link in place of cpro's folder is refused, never
        // followed (it could lead into someone else's folder).
        if lstat(path, &st) == 0 {
            if (st.st_mode & S_IFMT) == S_IFLNK {
                throw Failure(
                    "\(path) is a symbolic link; cpro keeps its state in real folders of its own and follows no link there: replace it with a folder (mkdir -m 700), or point CPRO_HOME or the XDG variables at the real place",
                    fr: "\(path) est un lien symbolique ; cpro garde son état dans de vrais dossiers à lui et n'y suit aucun lien : remplacez-le par un dossier (mkdir -m 700), ou faites pointer CPRO_HOME ou les variables XDG vers le vrai emplacement")
            }
            guard (st.st_mode & S_IFMT) == S_IFDIR else {
                throw IOError(operation: "not a folder:", path: path, code: ENOTDIR)
            }
            guard st.st_uid == geteuid() else {
                throw Failure(
                    "\(path) belongs to another user (\(userName(st.st_uid))); cpro keeps its state only in folders of its own: choose another place (CPRO_HOME)",
                    fr: "\(path) appartient à un autre utilisateur (\(userName(st.st_uid))) ; cpro ne garde son état que dans ses propres dossiers : choisissez un autre emplacement (CPRO_HOME)")
            }
            // Never a chmod of a folder cpro did not create: it may be shared
            // on purpose (a CPRO_HOME of /tmp would otherwise close /tmp).
            if st.st_mode & 0o077 != 0 {
                let m = String(UInt32(st.st_mode & 0o7777), radix: 8)
                let shared = st.st_mode & 0o1002 == 0o1002
                throw Failure(
                    "\(path) is open to other users (mode \(m)); cpro keeps its state only in private folders: "
                        + (shared ? "it is a shared folder, so use a folder of your own inside it (mkdir -m 700 \(path)/cpro, then CPRO_HOME=\(path)/cpro)"
                                  : "if it is cpro's own folder, close it with chmod 700 \(path); otherwise choose another place (CPRO_HOME)"),
                    fr: "\(path) est ouvert aux autres utilisateurs (mode \(m)) ; cpro ne garde son état que dans des dossiers privés : "
                        + (shared ? "c'est un dossier partagé : utilisez-y un dossier à vous (mkdir -m 700 \(path)/cpro, puis CPRO_HOME=\(path)/cpro)"
                                  : "si c'est le dossier de cpro, fermez-le avec chmod 700 \(path) ; sinon choisissez un autre emplacement (CPRO_HOME)"))
            }
            return
        }
        let parent = dirname(of: path)
        if parent != path, !parent.isEmpty, !exists(parent) {
            try ensurePrivateDirectory(parent)
        }
        if mkdir(path, 0o700) != 0 && errno != EEXIST {
            throw IOError(operation: "mkdir", path: path, code: errno)
        }
        // mkdir honours the umask, which can only remove bits; set the mode exactly.
        _ = chmod(path, 0o700)
    }

    /// The same file (device and inode) under both names, or the same text
    /// when neither exists: a vault reached through a symbolic link is one vault.
    package static func sameFile(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
        guard stat(a, &sa) == 0, stat(b, &sb) == 0 else { return a == b }
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
    }

    /// "user NAME (uid N)", or the uid alone when it has no name.
    package static func userName(_ uid: uid_t) -> String {
        guard let pw = getpwuid(uid), let name = pw.pointee.pw_name else { return "uid \(uid)" }
        return "user \(String(cString: name)) (uid \(uid))"
    }

    package static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    package static func dirname(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    /// Refuses state that someone else could have written, as ssh's StrictModes
    /// does: the file and each folder above it, up to the deepest of `roots`
    /// that holds it (else its own folder), must belong to this user (folders
    /// may belong to root) and not be writable by group or others. Missing
    /// parts are skipped: they will be created private.
    package static func checkOwnership(_ path: String, roots: [String]) throws {
        let me = geteuid()
        let root = roots.filter { path == $0 || path.hasPrefix($0 == "/" ? "/" : $0 + "/") }.max { $0.count < $1.count } ?? dirname(of: path)
        var current = path
        var isFile = true
        while true {
            var st = stat()
            if stat(current, &st) == 0 {
                let mode = UInt32(st.st_mode & 0o7777)
                let ownerOK = st.st_uid == me || (!isFile && st.st_uid == 0)
                if !ownerOK {
                    // Never "chown it": adopting a planted config would send
                    // the client secret wherever it points.
                    let owner = userName(st.st_uid)
                    throw Failure(
                        "\(current) belongs to another user (\(owner)); cpro reads only state that is yours. Someone else made it: inspect it, then remove it (or ask \(owner) to) and store your own",
                        fr: "\(current) appartient à un autre utilisateur (\(owner)) ; cpro ne lit que des fichiers qui sont à vous. Quelqu'un d'autre l'a créé : examinez-le, puis supprimez-le (ou demandez-le à \(owner)) et enregistrez le vôtre")
                }
                if mode & 0o022 != 0 {
                    let m = String(mode, radix: 8)
                    // A shared folder (sticky, open to all, like /tmp) is not to be closed.
                    if mode & 0o1002 == 0o1002 {
                        throw Failure(
                            "\(current) is a folder shared with other users (mode \(m)); cpro keeps no state directly in it: use a private folder inside it (mkdir -m 700 \(current)/cpro-$USER, then CPRO_HOME=\(current)/cpro-$USER)",
                            fr: "\(current) est un dossier partagé avec d'autres utilisateurs (mode \(m)) ; cpro n'y garde pas d'état directement : utilisez-y un dossier privé (mkdir -m 700 \(current)/cpro-$USER, puis CPRO_HOME=\(current)/cpro-$USER)")
                    }
                    throw Failure(
                        "\(current) is writable by other users (mode \(m)); cpro reads no state that others could have changed: run: chmod go-w \(current)",
                        fr: "\(current) est modifiable par d'autres utilisateurs (mode \(m)) ; cpro ne lit pas un état que d'autres ont pu changer : lancez : chmod go-w \(current)")
                }
            }
            if current == root || current == "/" || current.count <= root.count { return }
            current = dirname(of: current)
            isFile = false
        }
    }

    /// Mode bits of a file, or nil when it does not exist.
    package static func mode(of path: String) -> UInt32? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return UInt32(st.st_mode & 0o7777)
    }

    /// Reads a whole file, or nil when it does not exist. Larger than `limit` is
    /// refused rather than read, so a wrong path cannot exhaust memory.
    package static func read(_ path: String, limit: Int) throws -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw IOError(operation: "open", path: path, code: errno)
        }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw IOError(operation: "read", path: path, code: errno)
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
            if out.count > limit {
                throw Failure(
                    "\(path) is larger than \(limit) bytes: not a file cpro wrote",
                    fr: "\(path) dépasse \(limit) octets : ce n'est pas un fichier écrit par cpro")
            }
        }
        return out
    }

    /// Replaces `path` with `bytes`, so that a reader or a crash sees the old
    /// content or the new, never a mix: write a fresh temporary file (0600 from
    /// its creation), fsync it, rename it over the target, fsync the folder.
    /// The caller holds the lock that serialises writers. `mode` is for files
    /// meant to be read by others (monitoring output); secrets keep 0600.
    package static func atomicWrite(_ path: String, bytes: [UInt8], mode: mode_t = 0o600, environment: [String: String] = [:]) throws {
        let dir = dirname(of: path)
        let tmp = "\(path).tmp-\(getpid())-\(Sodium.randomBytes(4).map { String($0, radix: 16) }.joined())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw IOError(operation: "create", path: tmp, code: errno) }
        var committed = false
        defer {
            if !committed { unlink(tmp) }
        }
        crashPoint("created", path)
        do {
            defer { close(fd) }
            guard fchmod(fd, mode) == 0 else { throw IOError(operation: "chmod", path: tmp, code: errno) }
            var offset = 0
            // A crash test may stop the writer half-way through its bytes.
            let firstChunk = crashPointArmed("half", path) ? max(1, bytes.count / 2) : bytes.count
            while offset < bytes.count {
                let want = offset == 0 ? min(firstChunk, bytes.count) : bytes.count - offset
                let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, want) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw IOError(operation: "write", path: tmp, code: errno)
                }
                offset += n
                crashPoint("half", path)
            }
            guard fsync(fd) == 0 else { throw IOError(operation: "fsync", path: tmp, code: errno) }
        }
        crashPoint("synced", path)
        #if DEBUG
        // Test hook, compiled into debug builds only: lets the crash tests kill
        // a writer between the complete temporary file and the rename. It
        // only delays; it changes no data.
        if let ms = environment["CPRO_TEST_HOLD_BEFORE_RENAME_MS"].flatMap(Int.init), ms > 0 {
            usleep(UInt32(min(ms, 60_000)) * 1000)
        }
        #endif
        guard rename(tmp, path) == 0 else { throw IOError(operation: "rename", path: path, code: errno) }
        committed = true
        crashPoint("renamed", path)
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
        crashPoint("done", path)
    }

    /// Test hook, compiled into debug builds only: `CPRO_TEST_CRASH_AT=POINT`
    /// or `POINT@TEXT` (only for paths containing TEXT) kills this process
    /// with SIGKILL at that point of every atomic write, so scripts/prove can
    /// stop a writer exactly where a crash would hurt most: `created` (empty
    /// temporary file), `half` (half the bytes written), `synced` (whole and
    /// synced, not renamed), `renamed` (before the folder's fsync), `done`.
    static func crashPointArmed(_ point: String, _ path: String) -> Bool {
        #if DEBUG
        guard let raw = getenv("CPRO_TEST_CRASH_AT") else { return false }
        let spec = String(cString: raw).split(separator: "@", maxSplits: 1).map(String.init)
        guard spec.first == point else { return false }
        return spec.count == 1 || path.contains(spec[1])
        #else
        return false
        #endif
    }

    static func crashPoint(_ point: String, _ path: String) {
        #if DEBUG
        if crashPointArmed(point, path) { kill(getpid(), SIGKILL) }
        #endif
    }

    /// Deletes temporary files (`NAME<marker>PID-…`) left by writers that died
    /// before their rename. While holding the writers' lock every such file is
    /// stale; without it (`onlyDeadOwners`), only those whose writer's process
    /// is gone are removed, so a live writer never loses its file.
    package static func removeStaleTemporaries(of path: String, marker: String = ".tmp-", onlyDeadOwners: Bool = false) {
        let dir = dirname(of: path)
        let prefix = String(path.split(separator: "/").last ?? "") + marker
        guard let d = opendir(dir) else { return }
        defer { closedir(d) }
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            guard name.hasPrefix(prefix) else { continue }
            if onlyDeadOwners {
                let owner = name.dropFirst(prefix.count).prefix { $0.isNumber }
                guard let pid = pid_t(owner), pid > 0, kill(pid, 0) != 0, errno == ESRCH else { continue }
            }
            unlink(dir + "/" + name)
        }
    }

    /// An exclusive advisory lock (flock) on a lock file beside the state it
    /// guards. The kernel drops it when the holder exits, even on SIGKILL, so a
    /// dead process never blocks the others.
    package final class Lock: Sendable {
        /// -1 once released: a second release (deinit after release, or two
        /// tasks) never closes a descriptor number the process reused.
        private let fd: Mutex<Int32>

        private init(fd: Int32) { self.fd = Mutex(fd) }

        /// Waits up to `timeout` seconds, blocking this thread. Polling rather
        /// than a blocking flock keeps the wait bounded and the message clear.
        /// Async code uses `acquire` instead.
        package convenience init(path: String, timeout: Double = 30) throws {
            var waited = 0.0
            var pause = 0.002
            while true {
                if let fd = try Self.attempt(path) {
                    self.init(fd: fd)
                    return
                }
                if waited >= timeout { throw Self.busy(path, timeout) }
                usleep(UInt32(pause * 1_000_000))
                waited += pause
                pause = min(pause * 2, 0.05)
            }
        }

        /// The same wait without holding a thread: tasks of the cooperative
        /// pool (two threads here) that blocked on a lock held by another task
        /// of the same process would stop that task from ever releasing it.
        package static func acquire(path: String, timeout: Double = 30) async throws -> Lock {
            var waited = 0.0
            var pause = 0.002
            while true {
                if let fd = try attempt(path) { return Lock(fd: fd) }
                if waited >= timeout { throw busy(path, timeout) }
                try await Task.sleep(nanoseconds: UInt64(pause * 1e9))
                waited += pause
                pause = min(pause * 2, 0.05)
            }
        }

        /// The lock's descriptor if it was free, nil if another holds it.
        static func attempt(_ path: String) throws -> Int32? {
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw IOError(operation: "open", path: path, code: errno) }
            while flock(fd, LOCK_EX | LOCK_NB) != 0 {
                let code = errno
                if code == EINTR { continue }
                close(fd)
                if code == EWOULDBLOCK { return nil }
                throw IOError(operation: "lock", path: path, code: code)
            }
            return fd
        }

        static func busy(_ path: String, _ timeout: Double) -> Failure {
            Failure(
                "another cpro process has held \(path) for more than \(Int(timeout)) s; retry, or look for a stuck cpro process",
                fr: "un autre processus cpro tient \(path) depuis plus de \(Int(timeout)) s ; réessayez, ou cherchez un processus cpro bloqué")
        }

        package func release() {
            fd.withLock { fd in
                if fd >= 0 {
                    flock(fd, LOCK_UN)
                    close(fd)
                    fd = -1
                }
            }
        }

        deinit { release() }
    }

    package static func withLock<T>(_ path: String, timeout: Double = 30, _ body: () throws -> T) throws -> T {
        let lock = try Lock(path: path, timeout: timeout)
        defer { lock.release() }
        return try body()
    }
}
