import CproCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif

/// stdout for data, stderr for people. Unbuffered writes, so the order of the
/// two streams is the order of the calls.
package struct Output: Sendable {
    package let lang: Language
    package let json: Bool

    package func data(_ text: String) { Self.write(1, Array(text.utf8)) }

    /// Secret bytes to stdout, followed by a newline, without a Swift String.
    package func data(secret: SecretBytes) {
        secret.withUnsafeBytes { Self.write(1, $0) }
        Self.write(1, [0x0A])
    }

    /// A message for a person, in the user's language.
    package func say(_ en: String, _ fr: String) { Self.write(2, Array((lang.pick(en, fr) + "\n").utf8)) }
    package func say(_ error: CproError) { Self.write(2, Array(("cpro: " + error.message(lang) + "\n").utf8)) }
    package func warn(_ error: CproError) {
        Self.write(2, Array((lang.pick("cpro: warning: ", "cpro : attention : ") + error.message(lang) + "\n").utf8))
    }

    /// One JSON document on stdout, keys sorted so output is stable.
    package func json<T: Encodable>(_ value: T) {
        Self.write(1, Self.encoded(value) + [0x0A])
    }

    /// The document's bytes, keys sorted. The output types hold only
    /// strings, numbers, booleans and arrays of them: encoding cannot fail.
    package static func encoded<T: Encodable>(_ value: T) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? Array(encoder.encode(value))) ?? Array("{}".utf8)
    }

    static func write(_ fd: Int32, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write(fd, $0) }
    }

    static func write(_ fd: Int32, _ raw: UnsafeRawBufferPointer) {
        var off = 0
        while off < raw.count {
            let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
            if n < 0 {
                if errno == EINTR { continue }
                return
            }
            off += n
        }
    }
}

/// Check marks for people: ✓ and ✗ under a UTF-8 locale, ASCII under any
/// other (a terminal in Latin-1 shows the UTF-8 bytes as garbage).
package struct Marks: Sendable {
    package let ok: String
    package let failed: String

    package init(_ environment: [String: String]) {
        // The first of LC_ALL, LC_CTYPE, LANG that is set decides, as setlocale does.
        let locale = ["LC_ALL", "LC_CTYPE", "LANG"].lazy.compactMap { environment[$0] }.first { !$0.isEmpty } ?? ""
        let utf8 = locale.lowercased().replacing("-", with: "").contains("utf8")
        (ok, failed) = utf8 ? ("✓", "✗") : ("+", "x")
    }
}
