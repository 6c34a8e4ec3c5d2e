/// Checks a value on its way into a store. Refusals throw; oddities that PISTE
/// might still accept come back as warnings. No message ever contains the value.
public enum Validation {
    public static let maxValueBytes = 16 * 1024

    @discardableResult
    public static func check(_ field: StoredField, _ value: SecretBytes) throws -> [Failure] {
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
