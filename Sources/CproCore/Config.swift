/// cpro's settings: nothing secret, only which backend to use and where each
/// environment's gateway is. Kept in `config.toml`, in a small subset of TOML
/// (documented in docs/configuration.md) that people can read and edit:
///
///     backend = "file"
///     [profiles.default.sandbox]
///     oauth_url = "http://127.0.0.1:8080"
///     api_url = "http://127.0.0.1:8080/cpro"
///
/// cpro edits the file line by line, so comments and layout survive.
package struct Config: Sendable {
    package enum Value: Sendable, Equatable {
        case string(String)
        case integer(Int)
        case bool(Bool)

        var toml: String {
            switch self {
            case .string(let s): TOMLText.quote(s)
            case .integer(let i): String(i)
            case .bool(let b): b ? "true" : "false"
            }
        }
    }

    /// The file's lines as read, kept for edits that preserve the rest.
    private(set) var lines: [String]
    /// section path -> key -> value; the top level is the empty path.
    package private(set) var values: [[String]: [String: Value]] = [:]
    package private(set) var warnings: [Failure] = []

    package static let knownTopLevel: Set<String> = [
        "backend", "token_refresh_margin", "agent", "openbao_addr", "openbao_mount", "openbao_prefix", "openbao_namespace",
    ]
    package static let knownEnvironmentKeys: Set<String> = [
        "oauth_url", "api_url", "tech_password_rotation_days", "unverified", "siret", "tech_password_changed_at",
    ]

    package init(text: String = "", path: String = "config.toml") throws {
        // By scalars: "\r\n" is one Character, so a file saved with CRLF line
        // ends (which TOML allows) was one long line. cpro writes LF back.
        lines = text.isEmpty ? [] : text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            String(line.last == "\r" ? line.dropLast() : line[...])
        }
        if lines.last == "" { lines.removeLast() }
        try parse(path: path)
    }

    package var text: String { lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n" }

    // MARK: typed views

    package var backend: String? {
        if case .string(let s)? = values[[]]?["backend"] { return s }
        return nil
    }

    package func bool(_ key: String) -> Bool? {
        if case .bool(let b)? = values[[]]?[key] { return b }
        return nil
    }

    package func integer(_ key: String) -> Int? {
        if case .integer(let i)? = values[[]]?[key] { return i }
        return nil
    }

    package func string(_ key: String) -> String? {
        if case .string(let s)? = values[[]]?[key] { return s }
        return nil
    }

    package static func section(_ profile: ProfileName, _ env: PisteEnvironment) -> [String] {
        ["profiles", profile.value, env.rawValue]
    }

    package func environmentValue(_ profile: ProfileName, _ env: PisteEnvironment, _ key: String) -> Value? {
        values[Self.section(profile, env)]?[key]
    }

    /// Profiles named in the config (they may have no stored credentials).
    package var profiles: [ProfileName] {
        Set(values.keys.compactMap { $0.count == 3 && $0[0] == "profiles" ? try? ProfileName($0[1]) : nil }).sorted()
    }

    // MARK: editing

    /// Sets (or with nil removes) one key, touching only the line concerned.
    package mutating func set(_ key: String, _ value: Value?, in section: [String] = []) throws {
        var start = 0
        var end = lines.count
        var found = section.isEmpty
        if section.isEmpty {
            end = lines.firstIndex { TOMLText.isHeader($0) } ?? lines.count
        } else {
            for (i, line) in lines.enumerated() where TOMLText.isHeader(line) {
                if found { end = i; break }
                if (try? TOMLText.parseHeader(line)) == section {
                    found = true
                    start = i + 1
                }
            }
        }
        if found {
            var lastKeyLine = start - 1
            for i in start..<end {
                guard let (k, _) = try? TOMLText.parseKeyValue(lines[i]) else { continue }
                lastKeyLine = i
                if k == key {
                    if let value { lines[i] = "\(TOMLText.key(key)) = \(value.toml)" } else { lines.remove(at: i) }
                    try parse(path: "config.toml")
                    return
                }
            }
            if let value {
                // After the section's last key; in a section without keys, after
                // its comments (never above a comment that opens the file).
                var at = lastKeyLine + 1
                if lastKeyLine < start {
                    at = end
                    while at > start && lines[at - 1].trimmingWhitespace.isEmpty { at -= 1 }
                }
                lines.insert("\(TOMLText.key(key)) = \(value.toml)", at: at)
            }
        } else if let value {
            if !(lines.last?.isEmpty ?? true) { lines.append("") }
            lines.append("[" + section.map(TOMLText.key).joined(separator: ".") + "]")
            lines.append("\(TOMLText.key(key)) = \(value.toml)")
        }
        try parse(path: "config.toml")
    }

    // MARK: parsing

    private mutating func parse(path: String) throws {
        values = [[]: [:]]
        warnings = []
        var section: [String] = []
        for (index, raw) in lines.enumerated() {
            let where_ = "\(path), line \(index + 1)"
            let whereFR = "\(path), ligne \(index + 1)"
            let line = raw.trimmingWhitespace
            if line.isEmpty || line.hasPrefix("#") { continue }
            do {
                if TOMLText.isHeader(line) {
                    section = try TOMLText.parseHeader(line)
                    if values[section] != nil && !section.isEmpty {
                        throw Failure("the section appears twice", fr: "la section apparaît deux fois")
                    }
                    try checkSection(section)
                    values[section] = [:]
                    continue
                }
                let (key, value) = try TOMLText.parseKeyValue(line)
                if values[section]?[key] != nil {
                    throw Failure("the key '\(key)' appears twice", fr: "la clé « \(key) » apparaît deux fois")
                }
                values[section, default: [:]][key] = value
                try checkKey(key, value, in: section, where_: where_, whereFR: whereFR)
            } catch let f as Failure {
                throw Failure("\(where_): \(f.en)", fr: "\(whereFR) : \(f.fr)")
            }
        }
    }

    private func checkSection(_ section: [String]) throws {
        guard section.count == 3, section[0] == "profiles" else {
            throw Failure(
                "unknown section; sections are [profiles.NAME.sandbox] and [profiles.NAME.production]",
                fr: "section inconnue ; les sections sont [profiles.NOM.sandbox] et [profiles.NOM.production]")
        }
        _ = try ProfileName(section[1])
        // The canonical names only: an alias here would be a section nobody reads.
        guard PisteEnvironment(rawValue: section[2]) != nil else {
            throw Failure(
                "unknown environment in a section name; write [profiles.NAME.sandbox] or [profiles.NAME.production]",
                fr: "environnement inconnu dans un nom de section ; écrivez [profiles.NOM.sandbox] ou [profiles.NOM.production]")
        }
    }

    private mutating func checkKey(_ key: String, _ value: Value, in section: [String], where_: String, whereFR: String) throws {
        let known = section.isEmpty ? Self.knownTopLevel : Self.knownEnvironmentKeys
        guard known.contains(key) else {
            // A newer cpro may know this key; do not refuse the whole file for it.
            warnings.append(Failure("\(where_): unknown key '\(key)' ignored", fr: "\(whereFR) : clé inconnue « \(key) » ignorée"))
            return
        }
        switch (key, value) {
        case ("oauth_url", .string(let s)):
            _ = try Endpoints.oauthBase(s, name: key)
        case ("api_url", .string(let s)):
            _ = try Endpoints.apiBase(s, name: key)
        case ("backend", .string(let s)):
            guard BackendKind(rawValue: s) != nil else {
                throw Failure(
                    "unknown backend '\(s)'; backends are \(BackendKind.allCases.map(\.rawValue).joined(separator: ", "))",
                    fr: "backend inconnu « \(s) » ; les backends sont \(BackendKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        case ("token_refresh_margin", .integer(let i)), ("tech_password_rotation_days", .integer(let i)):
            guard i > 0 && i < 100_000 else {
                throw Failure("\(key) must be a positive number", fr: "\(key) doit être un nombre positif")
            }
        case ("unverified", .string), ("agent", .bool):
            break
        case ("siret", .string(let s)):
            guard try SIRET.validate(s) == s else {
                throw Failure("siret: write the 14 digits without spaces", fr: "siret : écrivez les 14 chiffres sans espaces")
            }
        case ("tech_password_changed_at", .string(let s)):
            guard DateText.parse(s) != nil else {
                throw Failure("tech_password_changed_at must be a date such as 2026-03-31", fr: "tech_password_changed_at doit être une date comme 2026-03-31")
            }
        case ("openbao_addr", .string(let s)):
            try Endpoints.validate(s, name: key)
        case ("openbao_mount", .string(let s)), ("openbao_prefix", .string(let s)), ("openbao_namespace", .string(let s)):
            // Stored as written; the canonical form must be the same, so the
            // path the user reads in the config is the path cpro uses.
            guard try OpenBaoSettings.path(s, name: key) == s else {
                throw Failure("\(key): write it without leading or trailing '/'", fr: "\(key) : écrivez-le sans « / » au début ni à la fin")
            }
        default:
            throw Failure("\(key) has the wrong type", fr: "\(key) n'a pas le bon type")
        }
    }
}

/// Where credentials live. The raw values are the contract's words.
public enum BackendKind: String, Sendable, CaseIterable, Codable {
    case file
    case secretService = "secret-service"
    case openbao
    case env
}

/// The lexical part of the TOML subset.
enum TOMLText {
    static func isHeader(_ line: String) -> Bool { line.trimmingWhitespace.hasPrefix("[") }

    static func key(_ k: String) -> String {
        let bare = !k.isEmpty && k.unicodeScalars.allSatisfy {
            ($0 >= "a" && $0 <= "z") || ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") || $0 == "_" || $0 == "-"
        }
        return bare ? k : quote(k)
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if u.value < 0x20 || u.value == 0x7F {
                    out += "\\u" + String.hex4(u.value)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    static func parseHeader(_ line: String) throws -> [String] {
        var s = Scanner(line.trimmingWhitespace)
        try s.expect("[")
        var parts: [String] = []
        repeat {
            s.skipSpaces()
            parts.append(try s.key())
            s.skipSpaces()
        } while s.consume(".")
        try s.expect("]")
        try s.endOfLine()
        return parts
    }

    static func parseKeyValue(_ line: String) throws -> (String, Config.Value) {
        var s = Scanner(line.trimmingWhitespace)
        let k = try s.key()
        s.skipSpaces()
        try s.expect("=")
        s.skipSpaces()
        let v = try s.value()
        try s.endOfLine()
        return (k, v)
    }

    struct Scanner {
        var chars: [Unicode.Scalar]
        var i = 0
        init(_ s: String) { chars = Array(s.unicodeScalars) }

        var peek: Unicode.Scalar? { i < chars.count ? chars[i] : nil }

        mutating func skipSpaces() { while peek == " " || peek == "\t" { i += 1 } }

        mutating func consume(_ c: Unicode.Scalar) -> Bool {
            if peek == c { i += 1; return true }
            return false
        }

        mutating func expect(_ c: Unicode.Scalar) throws {
            guard consume(c) else {
                throw Failure("expected '\(c)'", fr: "« \(c) » attendu")
            }
        }

        mutating func endOfLine() throws {
            skipSpaces()
            guard peek == nil || peek == "#" else {
                throw Failure("unexpected text after the value", fr: "texte inattendu après la valeur")
            }
        }

        mutating func key() throws -> String {
            if peek == "\"" { return try string() }
            var out = ""
            while let c = peek, (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c == "_" || c == "-" {
                out.unicodeScalars.append(c)
                i += 1
            }
            guard !out.isEmpty else { throw Failure("expected a key", fr: "clé attendue") }
            return out
        }

        mutating func value() throws -> Config.Value {
            if peek == "\"" { return .string(try string()) }
            var word = ""
            while let c = peek, c != " ", c != "\t", c != "#" {
                word.unicodeScalars.append(c)
                i += 1
            }
            if word == "true" { return .bool(true) }
            if word == "false" { return .bool(false) }
            if let n = Int(word.replacingUnderscores) { return .integer(n) }
            throw Failure(
                "a value must be a \"quoted string\", a whole number, true or false",
                fr: "une valeur doit être une \"chaîne entre guillemets\", un nombre entier, true ou false")
        }

        mutating func string() throws -> String {
            try expect("\"")
            var out = ""
            while let c = peek {
                i += 1
                switch c {
                case "\"": return out
                case "\\":
                    guard let e = peek else { break }
                    i += 1
                    switch e {
                    case "\"": out += "\""
                    case "\\": out += "\\"
                    case "n": out += "\n"
                    case "t": out += "\t"
                    case "r": out += "\r"
                    case "u":
                        guard i + 4 <= chars.count,
                              let v = UInt32(String(String.UnicodeScalarView(chars[i..<i + 4])), radix: 16),
                              let u = Unicode.Scalar(v)
                        else { throw Failure("bad \\u escape", fr: "échappement \\u invalide") }
                        out.unicodeScalars.append(u)
                        i += 4
                    default:
                        throw Failure("unknown escape \\\(e)", fr: "échappement inconnu \\\(e)")
                    }
                default:
                    out.unicodeScalars.append(c)
                }
            }
            throw Failure("unterminated string", fr: "chaîne non terminée")
        }
    }
}

extension String {
    var trimmingWhitespace: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s.removeLast() }
        return String(s)
    }

    var replacingUnderscores: String { String(filter { $0 != "_" }) }

    static func hex4(_ v: UInt32) -> String {
        let hex = String(v, radix: 16, uppercase: true)
        return String(repeating: "0", count: Swift.max(0, 4 - hex.count)) + hex
    }
}
