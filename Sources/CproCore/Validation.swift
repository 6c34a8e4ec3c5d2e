#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Checks a value on its way into a store. Refusals throw; oddities that PISTE
/// might still accept come back as warnings. No message ever contains the value.
package enum Validation {
    package static let maxValueBytes = 16 * 1024

    @discardableResult
    package static func check(_ field: StoredField, _ value: SecretBytes) throws -> [Failure] {
        let name = field.rawValue
        return try value.withUnsafeBytes { raw -> [Failure] in
            let bytes = raw.bindMemory(to: UInt8.self)
            guard !bytes.isEmpty else {
                throw Failure("\(name) is empty", fr: "\(name) est vide")
            }
            guard bytes.count <= maxValueBytes else {
                throw Failure(
                    "\(name) is longer than \(maxValueBytes) bytes",
                    fr: "\(name) dépasse \(maxValueBytes) octets")
            }
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw Failure("\(name) is not valid UTF-8 text", fr: "\(name) n'est pas du texte UTF-8 valide")
            }
            if let offset = firstControlCharacter(text) {
                throw Failure(
                    "\(name) contains a control character (line break, tab or similar) at character \(offset + 1); "
                        + "paste the value again without it",
                    fr: "\(name) contient un caractère de contrôle (saut de ligne, tabulation…) au caractère \(offset + 1) ; "
                        + "recollez la valeur sans lui")
            }
            if field == .techLogin && bytes.contains(UInt8(ascii: ":")) {
                // cpro-account is base64 of "login:password"; the first colon
                // ends the login, so a login cannot hold one.
                throw Failure(
                    "tech-login cannot contain ':' (the cpro-account header is login:password)",
                    fr: "tech-login ne peut pas contenir « : » (l'en-tête cpro-account est login:mot-de-passe)")
            }
            var warnings: [Failure] = []
            if bytes.first == 0x20 || bytes.last == 0x20 {
                warnings.append(Failure(
                    "\(name) starts or ends with a space: check that it was copied whole and nothing more",
                    fr: "\(name) commence ou finit par une espace : vérifiez qu'il a été copié en entier, sans plus"))
            }
            switch field {
            case .clientID where !looksLikeUUID(bytes):
                warnings.append(Failure(
                    "client-id does not look like the identifiers PISTE issues (a UUID such as 1a2b3c4d-...-...); check it on the application's page",
                    fr: "client-id ne ressemble pas aux identifiants que PISTE délivre (un UUID tel que 1a2b3c4d-...-...) ; vérifiez-le sur la page de l'application"))
            case .techLogin where !looksLikeTechnicalLogin(text):
                warnings.append(Failure(
                    "tech-login is not shaped like a Chorus Pro technical account (TECH_..._@cpro.fr); a personal login will be refused by the API",
                    fr: "tech-login n'a pas la forme d'un compte technique Chorus Pro (TECH_...@cpro.fr) ; un login personnel sera refusé par l'API"))
            default:
                break
            }
            return warnings
        }
    }

    /// C0 controls, DEL and C1 controls: none belongs in a login, a password or an
    /// identifier, and each breaks headers, prompts or export formats.
    static func firstControlCharacter(_ text: String) -> Int? {
        for (i, scalar) in text.unicodeScalars.enumerated() {
            let v = scalar.value
            if v < 0x20 || v == 0x7F || (0x80...0x9F).contains(v) { return i }
        }
        return nil
    }

    static func looksLikeUUID(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard bytes.count == 36 else { return false }
        for (i, b) in bytes.enumerated() {
            if [8, 13, 18, 23].contains(i) {
                if b != UInt8(ascii: "-") { return false }
            } else if !((b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x66) || (b >= 0x41 && b <= 0x46)) {
                return false
            }
        }
        return true
    }

    static func looksLikeTechnicalLogin(_ text: String) -> Bool {
        let lower = text.lowercased()
        return lower.hasPrefix("tech_") && lower.hasSuffix("@cpro.fr")
    }
}

/// A French establishment number: 14 digits, Luhn over all of them; La Poste's
/// establishments (SIREN 356000000) use a digit sum divisible by 5 instead,
/// except its head office (python-stdnum, stdnum/fr/siret.py).
package enum SIRET {
    package static func validate(_ text: String) throws -> String {
        let s = text.filter { $0 != " " }
        guard s.count == 14, s.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw Failure("a SIRET is 14 digits", fr: "un SIRET compte 14 chiffres")
        }
        let digits = s.compactMap(\.wholeNumberValue)
        let ok: Bool
        if s.hasPrefix("356000000") && s != "35600000000048" {
            ok = digits.reduce(0, +) % 5 == 0
        } else {
            ok = luhn(digits) && luhn(Array(digits.prefix(9)))
        }
        guard ok else {
            throw Failure("this SIRET's check digit is wrong (a typo?)", fr: "la clé de contrôle de ce SIRET est fausse (une faute de frappe ?)")
        }
        return s
    }

    static func luhn(_ digits: [Int]) -> Bool {
        var sum = 0
        for (i, d) in digits.reversed().enumerated() {
            var v = d
            if i % 2 == 1 { v *= 2; if v > 9 { v -= 9 } }
            sum += v
        }
        return sum % 10 == 0
    }
}

/// Dates as they come from people and from Chorus Pro.
package enum DateText {
    /// `YYYY-MM-DD`, optionally followed by `THH:MM[:SS][.fff]` and `Z`,
    /// `+HHMM` or `+HH:MM` (Chorus Pro writes `+0000`); seconds since 1970.
    package static func parse(_ text: String) -> Int64? {
        let chars = Array(text.trimmed())
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= chars.count else { return nil }
            let slice = chars[from..<from + count]
            guard slice.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            return Int(String(slice))
        }
        guard let y = number(0, 4), chars.count >= 10, chars[4] == "-", chars[7] == "-",
              let mo = number(5, 2), let d = number(8, 2), (1...12).contains(mo), (1...31).contains(d)
        else { return nil }
        var h = 0, mi = 0, sec = 0, offset = 0
        var i = 10
        if i < chars.count {
            guard chars[i] == "T" || chars[i] == " ", let hh = number(i + 1, 2), chars.count > i + 3, chars[i + 3] == ":",
                  let mm = number(i + 4, 2), hh < 24, mm < 60
            else { return nil }
            (h, mi) = (hh, mm)
            i += 6
            if i < chars.count, chars[i] == ":" {
                guard let ss = number(i + 1, 2), ss < 61 else { return nil }
                sec = ss
                i += 3
                if i < chars.count, chars[i] == "." {
                    i += 1
                    while i < chars.count, chars[i].isASCII, chars[i].isNumber { i += 1 }
                }
            }
            if i < chars.count {
                if chars[i] == "Z" {
                    i += 1
                } else if chars[i] == "+" || chars[i] == "-" {
                    let sign = chars[i] == "+" ? 1 : -1
                    guard let oh = number(i + 1, 2) else { return nil }
                    var j = i + 3
                    if j < chars.count, chars[j] == ":" { j += 1 }
                    guard let om = number(j, 2) else { return nil }
                    offset = sign * (oh * 3600 + om * 60)
                    i = j + 2
                } else {
                    return nil
                }
            }
            guard i == chars.count else { return nil }
        }
        // Days from civil (Howard Hinnant's algorithm), no locale, no Foundation calendar.
        let yy = mo <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return Int64(days) * 86_400 + Int64(h * 3600 + mi * 60 + sec - offset)
    }

    /// A date that Chorus Pro may give as text or as epoch milliseconds.
    package static func chorus(_ value: Any) -> Int64? {
        if let s = value as? String {
            if let n = Int64(s), s.count >= 10 { return n / 1000 }
            return parse(s)
        }
        if let n = value as? Int64 { return n / 1000 }
        if let n = value as? Int { return Int64(n) / 1000 }
        if let n = value as? Double, n.isFinite, abs(n) < 1e15 { return Int64(n / 1000) }
        return nil
    }
}
