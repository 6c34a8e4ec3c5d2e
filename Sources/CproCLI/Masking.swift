import CCproSys
import CproCore

#if canImport(Glibc)
import Glibc
#endif

/// Replaces secret values in a byte stream with a marker, as `op run` does, so
/// a child's logs never show them. A value split across two reads is still
/// caught: bytes that could start a secret are held until it is clear.
struct Masker {
    static let marker = Array("<concealed by cpro>".utf8)
    /// Values shorter than this would mask ordinary text; they are left alone.
    static let minimumLength = 4

    let secrets: [[UInt8]]
    private var carry: [UInt8] = []

    init(_ values: [[UInt8]]) {
        secrets = Array(Set(values.filter { $0.count >= Self.minimumLength })).sorted { $0.count > $1.count }
    }

    /// The bytes that can be shown now.
    mutating func feed(_ data: [UInt8]) -> [UInt8] {
        let buf = carry + data
        carry = []
        var out: [UInt8] = []
        out.reserveCapacity(buf.count)
        var i = 0
        scan: while i < buf.count {
            for s in secrets where buf.count - i >= s.count && buf[i] == s[0] && buf[i..<i + s.count].elementsEqual(s) {
                out += Self.marker
                i += s.count
                continue scan
            }
            let rest = buf.count - i
            if secrets.contains(where: { rest < $0.count && $0.starts(with: buf[i...]) }) {
                carry = Array(buf[i...])
                break
            }
            out.append(buf[i])
            i += 1
        }
        return out
    }

    /// At the end of the stream: what was held cannot become a secret any more.
    mutating func finish() -> [UInt8] {
        defer { carry = [] }
        return carry
    }
}

enum MaskedRun {
    /// Runs the program with its standard output and error piped through
    /// `Masker`, forwards signals, and returns the exit status a shell would.
    static func run(_ path: String, argv: [String], envp: [String], secrets: [[UInt8]]) throws -> Int32 {
        var outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
        guard pipe(&outPipe) == 0, pipe(&errPipe) == 0 else {
            throw Failure("cannot create a pipe: \(String(cString: strerror(errno)))", fr: "impossible de créer un tube : \(String(cString: strerror(errno)))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        for fd in outPipe + errPipe { posix_spawn_file_actions_addclose(&actions, fd) }
        var pid: pid_t = 0
        let rc = spawn(&pid, path, &actions, argv: argv, envp: envp)
        close(outPipe[1])
        close(errPipe[1])
        guard rc == 0 else {
            close(outPipe[0])
            close(errPipe[0])
            throw SpawnFailure(code: rc)
        }
        cpro_forward_signals_to(pid)
        var maskers = [Masker(secrets), Masker(secrets)]
        var fds = [pollfd(fd: outPipe[0], events: Int16(POLLIN), revents: 0), pollfd(fd: errPipe[0], events: Int16(POLLIN), revents: 0)]
        var open = 2
        var chunk = [UInt8](repeating: 0, count: 65536)
        while open > 0 {
            if poll(&fds, nfds_t(fds.count), -1) < 0 {
                if errno == EINTR { continue }
                break
            }
            for k in 0..<2 where fds[k].fd >= 0 && fds[k].revents != 0 {
                let n = chunk.withUnsafeMutableBytes { read(fds[k].fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 {
                    Output.write(Int32(k + 1), maskers[k].finish())
                    close(fds[k].fd)
                    fds[k].fd = -1
                    open -= 1
                    continue
                }
                Output.write(Int32(k + 1), maskers[k].feed(Array(chunk[0..<n])))
            }
        }
        memset(&chunk, 0, chunk.count)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        cpro_forward_signals_to(0)
        // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import.
        let termsig = status & 0x7F
        return termsig == 0 ? (status >> 8) & 0xFF : 128 + termsig
    }

    struct SpawnFailure: Error { let code: Int32 }
}

/// posix_spawn with the child's signals as a fresh program expects them: none
/// blocked, default handlers (this thread blocks most signals, and a spawned
/// program inherits that). The copies of the environment are wiped, since it
/// may hold secrets.
func spawn(_ pid: inout pid_t, _ path: String, _ actions: inout posix_spawn_file_actions_t, argv: [String], envp: [String]) -> Int32 {
    let cargv: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    let cenvp: [UnsafeMutablePointer<CChar>?] = envp.map { strdup($0) } + [nil]
    defer {
        for p in cargv { free(p) }
        for p in cenvp {
            if let p { memset(p, 0, strlen(p)) }
            free(p)
        }
    }
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var none = sigset_t(), all = sigset_t()
    sigemptyset(&none)
    sigfillset(&all)
    posix_spawnattr_setsigmask(&attr, &none)
    posix_spawnattr_setsigdefault(&attr, &all)
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    return posix_spawn(&pid, path, &actions, &attr, cargv, cenvp)
}
