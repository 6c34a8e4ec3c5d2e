/// The export formats of `cpro creds export`, byte by byte so no value is
/// altered by String handling. Exact for any value without a NUL byte.
package enum ExportFormat: String, Sendable, CaseIterable {
    case shell, dotenv, json
}

package struct ExportVariable: Sendable {
    package let name: String
    package let value: SecretBytes
    package init(_ name: String, _ value: SecretBytes) {
        self.name = name
        self.value = value
    }

    /// A portable environment variable name.
    package static func isValidName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else { return false }
        return s.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }
}

package enum Exporter {
    package static func render(_ vars: [ExportVariable], as format: ExportFormat) -> SecretBytes {
        var out: [UInt8] = []
        defer { Sodium.memzero(&out) }
        switch format {
        case .shell:
            for v in vars { out += Array("export \(v.name)=".utf8) + shellQuote(v.value) + [0x0A] }
        case .dotenv:
            for v in vars { out += Array("\(v.name)=".utf8) + dotenvQuote(v.value) + [0x0A] }
        case .json:
            out.append(UInt8(ascii: "{"))
            for (i, v) in vars.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                out += jsonString(Array(v.name.utf8)) + [UInt8(ascii: ":")] + jsonString(v.value.unprotectedBytes)
            }
            out += Array("}\n".utf8)
        }
        return SecretBytes(copying: out)
    }

    /// POSIX single quotes: everything literal; a quote becomes '\'' . Survives
    /// `eval` in bash, dash and zsh.
    static func shellQuote(_ value: SecretBytes) -> [UInt8] {
        value.withUnsafeBytes { raw in
            var out: [UInt8] = [UInt8(ascii: "'")]
            for b in raw {
                if b == UInt8(ascii: "'") { out += Array("'\\''".utf8) } else { out.append(b) }
            }
            out.append(UInt8(ascii: "'"))
            return out
        }
    }

    /// python-dotenv, double-quoted. It decodes \\ \" \n \r (among others)
    /// there, and line breaks are escaped because Python's universal newlines
    /// would turn a raw CR into LF. Two things its parser cannot take are
    /// written through its ${NAME:-default} expansion with a name that is never
    /// set: "${" (which it would expand) and a final backslash (whose escaped
    /// form would swallow the closing quote).
    static func dotenvQuote(_ value: SecretBytes) -> [UInt8] {
        value.withUnsafeBytes { raw in
            var out: [UInt8] = [UInt8(ascii: "\"")]
            let bytes = Array(raw)
            for (i, b) in bytes.enumerated() {
                let last = i == bytes.count - 1
                switch b {
                case UInt8(ascii: "\\") where last: out += Array("${CPRO_LITERAL_BACKSLASH:-\\\\}".utf8)
                case UInt8(ascii: "\\"): out += Array("\\\\".utf8)
                case UInt8(ascii: "\""): out += Array("\\\"".utf8)
                case 0x0A: out += Array("\\n".utf8)
                case 0x0D: out += Array("\\r".utf8)
                case UInt8(ascii: "$") where !last && bytes[i + 1] == UInt8(ascii: "{"):
                    out += Array("${CPRO_LITERAL_DOLLAR:-$}".utf8)
                default: out.append(b)
                }
            }
            out.append(UInt8(ascii: "\""))
            return out
        }
    }

    /// A JSON string literal of these bytes (valid UTF-8 stays as is).
    package static func jsonString(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "\"")]
        let hex = Array("0123456789abcdef".utf8)
        for b in bytes {
            switch b {
            case UInt8(ascii: "\""): out += Array("\\\"".utf8)
            case UInt8(ascii: "\\"): out += Array("\\\\".utf8)
            case 0x0A: out += Array("\\n".utf8)
            case 0x0D: out += Array("\\r".utf8)
            case 0x09: out += Array("\\t".utf8)
            case 0..<0x20, 0x7F: out += Array("\\u00".utf8) + [hex[Int(b >> 4)], hex[Int(b & 15)]]
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
        return out
    }
}
