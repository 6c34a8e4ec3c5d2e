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
    /// The secrets by their first byte, longest first: each output byte is
    /// compared with the few forms that can start there, not with all of them
    /// (every secret comes in some thirty encodings).
    private let byFirstByte: [UInt8: [[UInt8]]]
    private var carry: [UInt8] = []

    init(_ values: [[UInt8]]) {
        secrets = Array(Set(values.filter { $0.count >= Self.minimumLength })).sorted { $0.count > $1.count }
        byFirstByte = Dictionary(grouping: secrets) { $0[0] }
    }

    /// The bytes that can be shown now.
    mutating func feed(_ data: [UInt8]) -> [UInt8] {
        let buf = carry + data
        carry = []
        var out: [UInt8] = []
        out.reserveCapacity(buf.count)
        var i = 0
        scan: while i < buf.count {
            for s in byFirstByte[buf[i]] ?? [] where buf.count - i >= s.count && buf[i..<i + s.count].elementsEqual(s) {
                out += Self.marker
                i += s.count
                continue scan
            }
            let rest = buf.count - i
            if (byFirstByte[buf[i]] ?? []).contains(where: { rest < $0.count && $0.starts(with: buf[i...]) }) {
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
        // The pipes are cpro's: close-on-exec, so the program keeps only the
        // copies on its standard output and error.
        for fd in outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var pid: pid_t = 0
        let rc = spawnWithUserCoreLimit(&pid, path, argv: argv, envp: envp, stdout: outPipe[1], stderr: errPipe[1])
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

/// argv and envp as C arrays for the time of `body`; the copies of the
/// environment are wiped after, since it may hold secrets.
func withCArrays<T>(_ argv: [String], _ envp: [String],
                    _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>, UnsafePointer<UnsafeMutablePointer<CChar>?>) -> T) -> T {
    let cargv: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    let cenvp: [UnsafeMutablePointer<CChar>?] = envp.map { strdup($0) } + [nil]
    defer {
        for p in cargv { free(p) }
        for p in cenvp {
            if let p { memset(p, 0, strlen(p)) }
            free(p)
        }
    }
    return cargv.withUnsafeBufferPointer { a in cenvp.withUnsafeBufferPointer { e in body(a.baseAddress!, e.baseAddress!) } }
}

/// posix_spawn with the child's signals as a fresh program expects them: none
/// blocked, default handlers (this thread blocks most signals, and a spawned
/// program inherits that).
func spawn(_ pid: inout pid_t, _ path: String, _ actions: inout posix_spawn_file_actions_t, argv: [String], envp: [String]) -> Int32 {
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var none = sigset_t(), all = sigset_t()
    sigemptyset(&none)
    sigfillset(&all)
    posix_spawnattr_setsigmask(&attr, &none)
    posix_spawnattr_setsigdefault(&attr, &all)
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    return withCArrays(argv, envp) { a, e in
        posix_spawn(&pid, path, &actions, &attr, UnsafeMutablePointer(mutating: a), UnsafeMutablePointer(mutating: e))
    }
}

/// fork and execve (CCproSys), the program getting the user's core-dump limit
/// while cpro keeps none: posix_spawn cannot set a limit in the child alone.
func spawnWithUserCoreLimit(_ pid: inout pid_t, _ path: String, argv: [String], envp: [String], stdout: Int32, stderr: Int32) -> Int32 {
    var limit = Hardening.userCoreLimit
    return withCArrays(argv, envp) { a, e in cpro_spawn_with_core_limit(path, a, e, stdout, stderr, &limit, &pid) }
}

/// The forms in which a program may print a handed secret: as it is, in
/// base64, URL (form) encoded, as a JSON string (non-ASCII raw or as \u
/// escapes), and as HTTP Basic of client ID and secret; the technical
/// password inside a handed CPRO_ACCOUNT as well. `exec --mask` conceals each.
enum MaskForms {
    static func of(_ handed: [(name: String, value: [UInt8])], secretNames: Set<String>) -> [[UInt8]] {
        var values = handed.filter { secretNames.contains($0.name) }.map(\.value)
        if let account = handed.first(where: { $0.name == "CPRO_ACCOUNT" }),
           let (_, password) = try? CproAccount.decode(SecretBytes(copying: account.value)) {
            values.append(password.unprotectedBytes)
        }
        if let id = handed.first(where: { $0.name == "PISTE_CLIENT_ID" })?.value,
           let secret = handed.first(where: { $0.name == "PISTE_CLIENT_SECRET" })?.value {
            values.append(Sodium.base64(id + [UInt8(ascii: ":")] + secret))
        }
        var forms: [[UInt8]] = []
        for v in values {
            forms.append(v)
            let padded = Sodium.base64(v)
            forms.append(padded)
            forms.append(Array(padded.prefix { $0 != UInt8(ascii: "=") }))  // no padding
            forms.append(Sodium.base64(v, urlSafe: true))
            // Percent-encoding as each library writes it: every reserved
            // character, or keeping `/` (Python's quote), or keeping what
            // encodeURI keeps; upper- or lower-case hex; space as + or %20.
            for kept in ["", "/", ";,/?:@&=+$#"] {
                for upper in [true, false] {
                    for plus in [true, false] {
                        forms.append(urlEncoded(v, spaceAsPlus: plus, keep: Set(kept.utf8), upperHex: upper))
                    }
                }
            }
            for ascii in [false, true] {
                for upper in [false, true] where ascii || !upper {
                    for htmlSafe in [false, true] {
                        let json = jsonEscaped(v, asciiOnly: ascii, upperHex: upper, htmlSafe: htmlSafe)
                        forms.append(json)
                        if v.contains(UInt8(ascii: "/")) { forms.append(escapingSlashes(json)) }
                    }
                }
            }
        }
        return forms.filter { !$0.isEmpty }
    }

    /// application/x-www-form-urlencoded and percent-encoding (RFC 3986 unreserved kept).
    static func urlEncoded(_ bytes: [UInt8], spaceAsPlus: Bool, keep: Set<UInt8> = [], upperHex: Bool = true) -> [UInt8] {
        let hex = Array((upperHex ? "0123456789ABCDEF" : "0123456789abcdef").utf8)
        var out: [UInt8] = []
        for b in bytes {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(b)
            case UInt8(ascii: " ") where spaceAsPlus:
                out.append(UInt8(ascii: "+"))
            case _ where keep.contains(b):
                out.append(b)
            default:
                out += [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 0xF)]]
            }
        }
        return out
    }

    /// The contents of a JSON string (without its quotes); `htmlSafe` writes
    /// <, > and & as \u escapes, as Go's encoder does by default.
    static func jsonEscaped(_ bytes: [UInt8], asciiOnly: Bool, upperHex: Bool, htmlSafe: Bool = false) -> [UInt8] {
        func u(_ value: UInt32) -> String {
            let h = String(value, radix: 16, uppercase: upperHex)
            return "\\u" + String(repeating: "0", count: max(0, 4 - h.count)) + h
        }
        var out = ""
        for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += u(scalar.value)
            case _ where htmlSafe && (scalar == "<" || scalar == ">" || scalar == "&"): out += u(scalar.value)
            case _ where asciiOnly && scalar.value > 0x7E:
                if scalar.value > 0xFFFF {
                    let v = scalar.value - 0x10000
                    out += u(0xD800 + (v >> 10)) + u(0xDC00 + (v & 0x3FF))
                } else {
                    out += u(scalar.value)
                }
            default: out.unicodeScalars.append(scalar)
            }
        }
        return Array(out.utf8)
    }

    static func escapingSlashes(_ bytes: [UInt8]) -> [UInt8] {
        bytes.flatMap { $0 == UInt8(ascii: "/") ? [UInt8(ascii: "\\"), $0] : [$0] }
    }
}
