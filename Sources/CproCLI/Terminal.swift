import CproCore

#if canImport(Glibc)
import Glibc
#endif

// The terminal's settings while echo is off, so a signal can put them back.
// Plain globals, not a Mutex: a signal handler may not take a lock (the
// interrupted thread may hold it). Written only by the prompt, before the
// handlers are installed and after they are removed.
nonisolated(unsafe) private var savedTermios = termios()
nonisolated(unsafe) private var quietTermios = termios()
nonisolated(unsafe) private var savedFD: Int32 = -1

// What to say on Ctrl-C (the wizard's "run `cpro onboard` again to resume"),
// in memory allocated once, so the handler only reads it.
nonisolated(unsafe) private var interruptNote: UnsafeMutablePointer<UInt8>?
nonisolated(unsafe) private var interruptNoteLength = 0
nonisolated(unsafe) private var interruptFD: Int32 = -1

private func sayInterruptNote() {
    if interruptFD >= 0, let note = interruptNote { _ = Glibc.write(interruptFD, note, interruptNoteLength) }
}

private func restoreTerminal(_ sig: Int32) {
    if savedFD >= 0 { tcsetattr(savedFD, TCSAFLUSH, &savedTermios) }
    if sig == SIGINT { sayInterruptNote() }
    signal(sig, SIG_DFL)
    raise(sig)
}

private func interruptedOutsideAPrompt(_ sig: Int32) {
    sayInterruptNote()
    signal(sig, SIG_DFL)
    raise(sig)
}

/// Ctrl-Z at a hidden prompt: the shell gets its terminal back with echo on;
/// once continued (`fg`), echo goes off again before another key is read.
/// Only async-signal-safe calls.
private func suspendAtPrompt(_ sig: Int32) {
    if savedFD >= 0 { tcsetattr(savedFD, TCSAFLUSH, &savedTermios) }
    signal(SIGTSTP, SIG_DFL)
    // SIGTSTP is blocked while its handler runs: unblock it so the stop
    // happens here, not after the handler has hidden echo again.
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGTSTP)
    sigprocmask(SIG_UNBLOCK, &set, nil)
    raise(SIGTSTP)  // stops here until SIGCONT
    signal(SIGTSTP, suspendAtPrompt)
    if savedFD >= 0 { tcsetattr(savedFD, TCSAFLUSH, &quietTermios) }
}

/// The controlling terminal, opened directly (like ssh and sudo do), so prompts
/// work while standard input carries data and standard output is piped.
package final class Terminal: Sendable {
    let fd: Int32

    /// nil when the process has no controlling terminal (CI, cron, a pipe from
    /// a service): then cpro must fail at once instead of waiting for input.
    package static func open() -> Terminal? {
        let fd = Glibc.open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { return nil }
        guard isatty(fd) == 1 else {
            close(fd)
            return nil
        }
        return Terminal(fd: fd)
    }

    init(fd: Int32) { self.fd = fd }
    deinit { close(fd) }

    /// Says `note` on the terminal if the user presses Ctrl-C from now on,
    /// at a prompt or between prompts; the process then ends as interrupted.
    package func onInterrupt(say note: String) {
        let bytes = Array(("\n" + note + "\n").utf8)
        let memory = UnsafeMutablePointer<UInt8>.allocate(capacity: bytes.count)
        memory.initialize(from: bytes, count: bytes.count)
        interruptFD = -1
        interruptNote = memory  // never freed: it lives as long as the process may be interrupted
        interruptNoteLength = bytes.count
        interruptFD = fd
        signal(SIGINT, interruptedOutsideAPrompt)
    }

    /// The terminal's width in columns; 80 when it does not say.
    package var columns: Int {
        var size = winsize()
        guard ioctl(fd, UInt(TIOCGWINSZ), &size) == 0, size.ws_col >= 20 else { return 80 }
        return Int(size.ws_col)
    }

    /// `text` written with its lines folded at word boundaries to the
    /// terminal's width; a folded line keeps the indentation it started with.
    package func writeWrapped(_ text: String) {
        write(TextLayout.wrap(text, width: columns))
    }

    package func write(_ text: String) {
        let bytes = Array(text.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, bytes.count - off) }
            if n <= 0 { if errno == EINTR { continue }; return }
            off += n
        }
    }

    package struct Cancelled: CproError {
        package var diagnosis: Diagnosis? { nil }
        package func message(_ lang: Language) -> String {
            lang.pick("cancelled at the prompt; nothing was changed", "annulé à la saisie ; rien n'a été modifié")
        }
    }

    /// Reads one line into protected memory. With `echo: false` the terminal's
    /// echo is off while typing and restored after, also on Ctrl-C.
    package func prompt(_ text: String, echo: Bool, limit: Int = Validation.maxValueBytes + 1) throws -> SecretBytes {
        var old = termios()
        let canHideEcho = !echo && tcgetattr(fd, &old) == 0
        var handlers: [(Int32, sighandler_t?)] = []
        if canHideEcho {
            savedTermios = old
            savedFD = fd
            var quiet = old
            quiet.c_lflag &= ~tcflag_t(ECHO)
            quiet.c_lflag |= tcflag_t(ECHONL)
            quietTermios = quiet
            for sig in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] {
                handlers.append((sig, signal(sig, restoreTerminal)))
            }
            handlers.append((SIGTSTP, signal(SIGTSTP, suspendAtPrompt)))
            // Echo goes off before the prompt is shown, as getpass(3) does: a
            // line typed after the prompt appears is never echoed, and never
            // lost to the flush (which only drops what was typed before it).
            tcsetattr(fd, TCSAFLUSH, &quiet)
        }
        write(text)
        defer {
            if canHideEcho {
                // TCSANOW: an answer already typed for the next prompt stays.
                tcsetattr(fd, TCSANOW, &old)
                savedFD = -1
                for (sig, h) in handlers { signal(sig, h) }
            }
        }
        var length = 0
        var ended = false
        let buffer = try SecretBytes(count: limit) { buf in
            var byte: UInt8 = 0
            while length < limit {
                let n = Glibc.read(fd, &byte, 1)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                if byte == UInt8(ascii: "\n") { ended = true; break }
                buf[length] = byte
                length += 1
                byte = 0
            }
        }
        if !ended && length == 0 {
            // The cursor is still after the prompt: the message goes below it.
            write("\n")
            throw Cancelled()
        }
        if length >= limit {
            throw Failure(
                "the value typed is longer than \(Validation.maxValueBytes) bytes",
                fr: "la valeur saisie dépasse \(Validation.maxValueBytes) octets")
        }
        var end = length
        // A terminal in raw-ish modes may leave the carriage return in.
        if end > 0, buffer.withUnsafeBytes({ $0[end - 1] }) == UInt8(ascii: "\r") { end -= 1 }
        return buffer.withUnsafeBytes { SecretBytes(copying: $0[0..<end]) }
    }
}

/// Standard input, read whole into protected memory.
package enum StandardInput {
    package static func readSecret(limit: Int) throws -> SecretBytes {
        var length = 0
        let buffer = try SecretBytes(count: limit + 2) { buf in
            while length < limit + 2 {
                let n = Glibc.read(0, buf.baseAddress! + length, limit + 2 - length)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                length += n
            }
        }
        var end = length
        if end > 0, buffer.withUnsafeBytes({ $0[end - 1] }) == UInt8(ascii: "\n") { end -= 1 }
        if end > limit {
            throw Failure(
                "standard input holds more than \(limit) bytes",
                fr: "l'entrée standard contient plus de \(limit) octets")
        }
        return buffer.withUnsafeBytes { SecretBytes(copying: $0[0..<end]) }
    }

    package static func readText(limit: Int) throws -> String {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(0, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            out += chunk[0..<n]
            if out.count > limit {
                throw Failure("standard input holds more than \(limit) bytes", fr: "l'entrée standard contient plus de \(limit) octets")
            }
        }
        defer { Sodium.memzero(&out); Sodium.memzero(&chunk) }
        guard let text = String(validating: out, as: UTF8.self) else {
            throw Failure("standard input is not UTF-8 text", fr: "l'entrée standard n'est pas du texte UTF-8")
        }
        return text
    }
}
