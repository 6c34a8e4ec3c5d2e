import CSodium
import CproCore
import CproHTTP
import CproOnboarding
import CproPiste
import CproVault
import Foundation

/// The parsers that read what cpro does not control: the vault file, the
/// token cache, the config, PISTE's answers, and the export formats. Each
/// target takes any bytes; a crash, a hang or a broken property is a bug.
/// A property that fails calls `violated`, which aborts so that libFuzzer
/// (or the corpus replay) reports the input.
enum Targets {
    static let all: [String: @Sendable ([UInt8]) -> Void] = [
        "vault-header": vaultHeader,
        "vault-payload": vaultPayload,
        "token-entry": tokenEntry,
        "config": config,
        "piste-token": pisteToken,
        "chorus-answer": chorusAnswer,
        "export-json": exportJSON,
    ]

    static func violated(_ what: String) -> Never {
        FileHandle.standardError.write(Data("cpro-fuzz: property violated: \(what)\n".utf8))
        abort()
    }

    /// A vault file whose key slot this harness can open, made once.
    static let passphrase = SecretBytes(utf8: "fuzzing passphrase")
    static let known: (file: [UInt8], unlocked: VaultFormat.Unlocked) = {
        do { return try VaultFormat.create(passphrase: passphrase, params: .testOnlyWeak) } catch { violated("setup: \(error)") }
    }()
    static let knownKEK: SecretBytes = {
        do {
            let h = try VaultFormat.parseHeader(known.file, path: "fuzz", floor: .testOnlyWeak)
            return try VaultFormat.deriveKeyEncryptionKey(h, passphrase: passphrase)
        } catch { violated("setup: \(error)") }
    }()

    /// Any bytes as a whole vault file: the header parser, and for headers
    /// with cheap settings the key unwrap and the payload too.
    static func vaultHeader(_ data: [UInt8]) {
        guard let h = try? VaultFormat.parseHeader(data, path: "fuzz", floor: .testOnlyWeak) else { return }
        guard h.params.memlimit <= 1 << 20, h.params.opslimit <= 2 else { return }
        guard let kek = try? VaultFormat.deriveKeyEncryptionKey(h, passphrase: passphrase) else { return }
        _ = try? VaultFormat.open(data, header: h, kek: kek, path: "fuzz")
    }

    /// Any bytes as the decrypted payload: sealed under the known master key,
    /// so authentication passes and the padding and entry parsers are reached.
    /// What parses must seal and parse again to the same entries.
    static func vaultPayload(_ data: [UInt8]) {
        let header = known.unlocked.header
        let block = VaultFormat.padBlock
        var plain = data + [UInt8](repeating: 0, count: block)
        var padded = 0
        guard sodium_pad(&padded, &plain, data.count, block, plain.count) == 0 else { return }
        plain = Array(plain[0..<padded])
        let nonce = Sodium.randomBytes(24)
        var sealed = [UInt8](repeating: 0, count: plain.count + 16)
        var sealedLen: UInt64 = 0
        let ad = Array(header.bytes[0..<VaultFormat.fileHeaderSize])
        known.unlocked.masterKey!.withUnsafeBytes { k in
            _ = crypto_aead_xchacha20poly1305_ietf_encrypt(
                &sealed, &sealedLen, plain, UInt64(plain.count), ad, UInt64(ad.count), nil, nonce,
                k.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        let file = header.bytes + nonce + sealed
        guard let vault = try? VaultFormat.open(file, header: header, kek: knownKEK, path: "fuzz") else { return }
        do {
            let again = try VaultFormat.reseal(vault, entries: vault.entries)
            let reopened = try VaultFormat.open(again, header: header, kek: knownKEK, path: "fuzz")
            guard reopened.entries.count == vault.entries.count,
                  reopened.entries.allSatisfy({ vault.entries[$0.key]?.secret == $0.value.secret && vault.entries[$0.key]?.setAt == $0.value.setAt })
            else { violated("a payload did not survive reseal and reopen") }
        } catch {
            violated("a payload that opened could not be sealed and opened again: \(error)")
        }
    }

    /// Any bytes as a decrypted token-cache entry; what decodes re-encodes
    /// to the same bytes.
    static func tokenEntry(_ data: [UInt8]) {
        guard let entry = data.withUnsafeBytes(TokenProvider.Entry.decode) else { return }
        guard let again = try? entry.encoded(), again.unprotectedBytes == data else {
            violated("a token entry did not re-encode to its own bytes")
        }
    }

    /// Any text as config.toml. What parses must read the same after cpro
    /// writes it back, and after a key is set through the editor.
    static func config(_ data: [UInt8]) {
        guard let text = String(validating: data, as: UTF8.self), let c = try? Config(text: text) else { return }
        guard let again = try? Config(text: c.text), again.values == c.values else {
            violated("config text did not read back the same")
        }
        var edited = c
        guard (try? edited.set("siret", .string("73282932000074"), in: ["profiles", "default", "sandbox"])) != nil else { return }
        guard let reread = try? Config(text: edited.text),
              reread.values[["profiles", "default", "sandbox"]]?["siret"] == .string("73282932000074")
        else { violated("a key set in a parsed config did not read back") }
    }

    static let statuses = [200, 400, 401, 403, 429, 500, 502, 503]

    /// Any bytes as the token endpoint's answer (the first byte picks the status).
    static func pisteToken(_ data: [UInt8]) {
        guard let first = data.first else { return }
        let response = HTTPResponse(status: statuses[Int(first) % statuses.count], body: Array(data.dropFirst()))
        if let t = try? TokenClient.interpret(response, receivedAt: 1_000, host: "https://fuzz", attempts: 1) {
            guard t.lifetime > 0, t.value.count > 0, t.value.unprotectedBytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                violated("a token was accepted with lifetime \(t.lifetime) or unprintable bytes")
            }
        }
    }

    /// Any bytes as a Chorus Pro answer, then as the rattachements page.
    static func chorusAnswer(_ data: [UInt8]) {
        guard let first = data.first else { return }
        var headers: [(String, String)] = []
        if first & 0x80 != 0 { headers.append(("WWW-Authenticate", #"Bearer realm="DefaultRealm""#)) }
        let response = HTTPResponse(status: statuses[Int(first) % statuses.count], headers: headers, body: Array(data.dropFirst()))
        let endpoints = Endpoints(oauthURL: "https://oauth.fuzz", apiURL: "https://api.fuzz/cpro")
        guard let answer = try? ChorusClient.interpret(response, path: "utilisateurs/v1/monCompte/recuperer/rattachements", endpoints: endpoints)
        else { return }
        _ = Checker.linkedStructures(in: answer)
    }

    /// Up to four values (split on 0xFF) exported as JSON and read back by
    /// Foundation's parser: every value that cpro would store comes back equal.
    /// (Shell and dotenv are read back by real shells in scripts/prove.)
    static func exportJSON(_ data: [UInt8]) {
        let parts = data.split(separator: 0xFF, maxSplits: 3, omittingEmptySubsequences: false).map(Array.init)
        let names = ["PISTE_CLIENT_ID", "PISTE_CLIENT_SECRET", "CPRO_TECH_LOGIN", "CPRO_TECH_PASSWORD"]
        var vars: [ExportVariable] = []
        for (i, p) in parts.enumerated() {
            let value = SecretBytes(copying: p)
            guard (try? Validation.check(.clientSecret, value)) != nil else { continue }
            vars.append(ExportVariable(names[i], value))
        }
        guard !vars.isEmpty else { return }
        let text = Exporter.render(vars, as: .json).unprotectedBytes
        guard let object = try? JSONSerialization.jsonObject(with: Data(text)) as? [String: String] else {
            violated("exported JSON does not parse")
        }
        for v in vars where object[v.name].map({ Array($0.utf8) }) != v.value.unprotectedBytes {
            violated("\(v.name) did not come back from JSON unchanged")
        }
    }
}
