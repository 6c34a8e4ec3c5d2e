import CSodium
import CproCore

/// The vault file, format 1. docs/vault-format.md is the normative description;
/// keep the two in step.
///
///     offset size  field
///     0      8     magic "CPROVLT\n"
///     8      2     format version, u16 little-endian = 1
///     10     16    vault ID (random, fixed for the vault's life)
///                  -- the file header: bytes 0..<26, the payload's associated data
///     26     1     KDF id: 1 = Argon2id v1.3 (crypto_pwhash_ALG_ARGON2ID13)
///     27     8     opslimit, u64 LE
///     35     8     memlimit in bytes, u64 LE
///     43     16    salt
///     59     24    key-wrap nonce
///     83     48    master key (32 bytes) sealed with XChaCha20-Poly1305-IETF under
///                  the passphrase key, associated data bytes 0..<59
///     131    32    BLAKE2b-256 (unkeyed) of bytes 0..<131: tells damage from a wrong passphrase
///     163    24    payload nonce
///     187    ...   payload sealed with XChaCha20-Poly1305-IETF under the master key,
///                  associated data bytes 0..<26
package enum VaultFormat {
    package static let magic: [UInt8] = Array("CPROVLT\n".utf8)
    package static let version: UInt16 = 1
    package static let fileHeaderSize = 26
    static let keySlotADSize = 59
    static let checksumOffset = 131
    static let headerSize = 163
    static let nonceSize = 24
    static let tagSize = 16
    static let keySize = 32
    static let saltSize = 16
    package static let padBlock = 256
    package static let maxFileSize = 8 << 20

    package struct KDFParams: Sendable, Equatable {
        package var opslimit: UInt64
        package var memlimit: UInt64

        /// Above libsodium's interactive limits (2, 64 MiB): about a quarter of a
        /// second here, paid once per command that opens the vault.
        package static let standard = KDFParams(opslimit: 3, memlimit: 128 << 20)
        /// The floor accepted when writing a vault meant for use.
        package static let interactive = KDFParams(opslimit: 2, memlimit: 64 << 20)
        /// Each parameter the stronger of the two: a change never weakens either.
        package static func strongest(_ a: KDFParams, _ b: KDFParams) -> KDFParams {
            KDFParams(opslimit: max(a.opslimit, b.opslimit), memlimit: max(a.memlimit, b.memlimit))
        }
        package func isWeaker(than other: KDFParams) -> Bool {
            opslimit < other.opslimit || memlimit < other.memlimit
        }
        /// Only for tests that open a vault thousands of times: not part of the
        /// library's API, and refused by every reader that was not built with it.
        package static let testOnlyWeak = KDFParams(opslimit: 1, memlimit: 8192)

        /// The most a reader accepts, so a planted header cannot make cpro
        /// allocate all memory or spin for minutes. The least is the caller's
        /// floor (`parseHeader`): what cpro itself would write.
        static let maxOps: UInt64 = 64
        static let maxMem: UInt64 = 4 << 30
    }

    package enum OpenError: CproError, Equatable, CustomStringConvertible {
        case notAVault(path: String)
        case newerFormat(path: String, version: UInt16)
        case damaged(path: String, reason: String)
        case wrongPassphrase(path: String)

        package var diagnosis: Diagnosis? { .vaultLocked }

        package func message(_ lang: Language) -> String {
            switch self {
            case .notAVault(let p):
                return lang.pick(
                    "\(p) is not a cpro vault (or its first bytes are damaged); nothing was changed",
                    "\(p) n'est pas un coffre cpro (ou ses premiers octets sont abîmés) ; rien n'a été modifié")
            case .newerFormat(let p, let v):
                return lang.pick(
                    "\(p) uses vault format \(v), written by a newer cpro; this cpro reads format \(VaultFormat.version): upgrade cpro",
                    "\(p) utilise le format de coffre \(v), écrit par un cpro plus récent ; ce cpro lit le format \(VaultFormat.version) : mettez cpro à jour")
            case .damaged(let p, let r):
                return lang.pick(
                    "\(p) is damaged (\(r)); nothing was changed. Restore it from a backup, or move it away and store the credentials again",
                    "\(p) est abîmé (\(r)) ; rien n'a été modifié. Restaurez-le depuis une sauvegarde, ou déplacez-le et enregistrez à nouveau les identifiants")
            case .wrongPassphrase(let p):
                return lang.pick(
                    "wrong passphrase for \(p); nothing was changed",
                    "phrase de passe incorrecte pour \(p) ; rien n'a été modifié")
            }
        }
    }

    /// The parsed, checksum-verified header. Holds no secret.
    package struct Header: Sendable, Equatable {
        package let bytes: [UInt8]
        package var version: UInt16 { LittleEndian.read(UInt16.self, bytes, at: 8) }
        package var vaultID: ArraySlice<UInt8> { bytes[10..<26] }
        package var params: KDFParams {
            KDFParams(opslimit: LittleEndian.read(UInt64.self, bytes, at: 27), memlimit: LittleEndian.read(UInt64.self, bytes, at: 35))
        }
        var salt: ArraySlice<UInt8> { bytes[43..<59] }
        var wrapNonce: ArraySlice<UInt8> { bytes[59..<83] }
        var wrappedKey: ArraySlice<UInt8> { bytes[83..<131] }
        var fileHeader: ArraySlice<UInt8> { bytes[0..<fileHeaderSize] }
        var keySlotAD: ArraySlice<UInt8> { bytes[0..<keySlotADSize] }
    }

    /// Checks everything that can be checked without the passphrase. A vault
    /// whose key derivation is weaker than `floor` is refused: cpro never writes
    /// one (the floor is libsodium's interactive settings), so it was made by a
    /// test build or by someone who wants the passphrase easy to guess.
    package static func parseHeader(_ file: [UInt8], path: String, floor: KDFParams = .interactive) throws -> Header {
        guard file.count >= magic.count, Array(file[0..<magic.count]) == magic else {
            throw OpenError.notAVault(path: path)
        }
        guard file.count >= 10 else { throw OpenError.damaged(path: path, reason: "truncated header") }
        let v = LittleEndian.read(UInt16.self, file, at: 8)
        if v > version { throw OpenError.newerFormat(path: path, version: v) }
        guard v == version else { throw OpenError.damaged(path: path, reason: "format version \(v) is not valid") }
        guard file.count >= headerSize + nonceSize + tagSize else {
            throw OpenError.damaged(path: path, reason: "truncated: \(file.count) bytes")
        }
        let header = Array(file[0..<headerSize])
        guard blake2b(header[0..<checksumOffset]) == Array(header[checksumOffset..<headerSize]) else {
            throw OpenError.damaged(path: path, reason: "header checksum mismatch")
        }
        guard header[26] == 1 else {
            throw OpenError.damaged(path: path, reason: "unknown key-derivation id \(header[26])")
        }
        let h = Header(bytes: header)
        guard h.params.opslimit <= KDFParams.maxOps, h.params.memlimit <= KDFParams.maxMem else {
            throw OpenError.damaged(path: path, reason: "key-derivation parameters out of range")
        }
        guard !h.params.isWeaker(than: floor) else {
            throw OpenError.damaged(
                path: path,
                reason: "key derivation weaker than cpro writes (opslimit \(h.params.opslimit), memlimit \(h.params.memlimit) bytes): made by a test build or tampered with")
        }
        return h
    }

    /// Argon2id over the passphrase with the header's salt and parameters.
    package static func deriveKeyEncryptionKey(_ header: Header, passphrase: SecretBytes) throws -> SecretBytes {
        try derive(passphrase: passphrase, salt: Array(header.salt), params: header.params)
    }

    static func derive(passphrase: SecretBytes, salt: [UInt8], params: KDFParams) throws -> SecretBytes {
        try Sodium.ensureInitialised()
        guard passphrase.count > 0 else {
            throw Failure("the vault passphrase is empty", fr: "la phrase de passe du coffre est vide")
        }
        return try SecretBytes(count: keySize) { out in
            let rc = passphrase.withUnsafeBytes { p in
                salt.withUnsafeBytes { s in
                    crypto_pwhash(
                        out.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(keySize),
                        p.baseAddress!.assumingMemoryBound(to: CChar.self), UInt64(passphrase.count),
                        s.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        params.opslimit, Int(params.memlimit), crypto_pwhash_alg_argon2id13())
                }
            }
            guard rc == 0 else {
                throw Failure(
                    "key derivation failed: not enough memory for Argon2id (\(params.memlimit >> 20) MiB)",
                    fr: "dérivation de clé impossible : mémoire insuffisante pour Argon2id (\(params.memlimit >> 20) Mio)")
            }
        }
    }

    /// An opened vault: its header, its master key and its entries.
    package struct Unlocked: Sendable {
        package let header: Header
        /// nil when the vault was opened by the session agent, which keeps the key.
        package let masterKey: SecretBytes?
        package var entries: [CredentialKey: StoredValue]
        /// The payload as it was on disk, so a passphrase change can keep it byte for byte.
        let sealedPayload: ArraySlice<UInt8>
        /// Who seals new contents when this process has no master key.
        package var remote: (any RemoteSealer)? = nil
    }

    /// The session agent's side of sealing: it holds the master key, this
    /// process sends the padded plaintext and gets `nonce || ciphertext` back.
    package protocol RemoteSealer: Sendable {
        func seal(header: Header, padded: SecretBytes) throws -> [UInt8]
    }

    /// Thrown by the operations that need the master key itself (a new
    /// passphrase, a new key slot) on a vault the agent opened.
    package struct NeedsMasterKey: Error {}

    package static func open(_ file: [UInt8], header: Header, kek: SecretBytes, path: String) throws -> Unlocked {
        let master = try unwrapMasterKey(header, kek: kek, path: path)
        let padded = try openPayload(file, header: header, master: master, path: path)
        return Unlocked(header: header, masterKey: master, entries: try decodePayload(padded, path: path), sealedPayload: file[headerSize...])
    }

    /// The master key from the key slot; a wrong passphrase fails here.
    package static func unwrapMasterKey(_ header: Header, kek: SecretBytes, path: String) throws -> SecretBytes {
        try SecretBytes(count: keySize) { out in
            let ok = try aeadOpen(
                into: out, ciphertext: header.wrappedKey, nonce: header.wrapNonce, ad: header.keySlotAD, key: kek)
            if !ok { throw OpenError.wrongPassphrase(path: path) }
        }
    }

    /// The padded plaintext of the payload (what the agent hands back).
    package static func openPayload(_ file: [UInt8], header: Header, master: SecretBytes, path: String) throws -> SecretBytes {
        let nonce = file[headerSize..<(headerSize + nonceSize)]
        let ciphertext = file[(headerSize + nonceSize)...]
        let plainCount = ciphertext.count - tagSize
        guard plainCount > 0, plainCount % padBlock == 0 else {
            throw OpenError.damaged(path: path, reason: "truncated: \(file.count) bytes")
        }
        return try SecretBytes(count: plainCount) { out in
            let ok = try aeadOpen(into: out, ciphertext: ciphertext, nonce: nonce, ad: header.fileHeader, key: master)
            if !ok { throw OpenError.damaged(path: path, reason: "the contents fail authentication") }
        }
    }

    package static func decodePayload(_ padded: SecretBytes, path: String) throws -> [CredentialKey: StoredValue] {
        try padded.withUnsafeBytes { raw -> [CredentialKey: StoredValue] in
            guard raw.count > 0, raw.count % padBlock == 0 else { throw OpenError.damaged(path: path, reason: "bad padding") }
            var unpadded = 0
            guard sodium_unpad(&unpadded, raw.baseAddress!.assumingMemoryBound(to: UInt8.self), raw.count, padBlock) == 0
            else { throw OpenError.damaged(path: path, reason: "bad padding") }
            do {
                return try PayloadCodec.decode(UnsafeRawBufferPointer(rebasing: raw[0..<unpadded]))
            } catch let reason as PayloadCodec.Malformed {
                throw OpenError.damaged(path: path, reason: reason.text)
            }
        }
    }

    /// An agent-opened vault: the same value as `open` gives, without the key.
    package static func opened(_ file: [UInt8], header: Header, padded: SecretBytes, path: String, by sealer: any RemoteSealer) throws -> Unlocked {
        Unlocked(header: header, masterKey: nil, entries: try decodePayload(padded, path: path),
                 sealedPayload: file[headerSize...], remote: sealer)
    }

    /// A new vault: fresh vault ID, salt and master key.
    package static func create(passphrase: SecretBytes, params: KDFParams, entries: [CredentialKey: StoredValue] = [:]) throws -> (file: [UInt8], unlocked: Unlocked) {
        try Sodium.ensureInitialised()
        var fileHeader = magic
        fileHeader += LittleEndian.bytes(version)
        fileHeader += Sodium.randomBytes(16)
        let master = try SecretBytes(count: keySize) { out in
            crypto_aead_xchacha20poly1305_ietf_keygen(out.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        let header = try makeHeader(fileHeader: fileHeader, master: master, passphrase: passphrase, params: params)
        let payload = try sealPayload(entries, header: header, master: master)
        let unlocked = Unlocked(header: header, masterKey: master, entries: entries, sealedPayload: payload[...])
        return (header.bytes + payload, unlocked)
    }

    static func makeHeader(fileHeader: [UInt8], master: SecretBytes, passphrase: SecretBytes, params: KDFParams) throws -> Header {
        var ad = fileHeader
        ad.append(1)
        ad += LittleEndian.bytes(params.opslimit) + LittleEndian.bytes(params.memlimit)
        let salt = Sodium.randomBytes(saltSize)
        ad += salt
        let kek = try derive(passphrase: passphrase, salt: salt, params: params)
        let nonce = Sodium.randomBytes(nonceSize)
        let wrapped = aeadSeal(master, nonce: nonce, ad: ad, key: kek)
        var bytes = ad + nonce + wrapped
        bytes += blake2b(bytes[...])
        return Header(bytes: bytes)
    }

    static func sealPayload(_ entries: [CredentialKey: StoredValue], header: Header, master: SecretBytes) throws -> [UInt8] {
        sealPadded(try PayloadCodec.encode(entries, padBlock: padBlock), header: header, master: master)
    }

    /// `nonce || ciphertext` of an already padded payload.
    package static func sealPadded(_ padded: SecretBytes, header: Header, master: SecretBytes) -> [UInt8] {
        let nonce = Sodium.randomBytes(nonceSize)
        return nonce + aeadSeal(padded, nonce: nonce, ad: Array(header.fileHeader), key: master)
    }

    /// The whole file for new entries; the header (and so the key slot) is kept.
    package static func reseal(_ vault: Unlocked, entries: [CredentialKey: StoredValue]) throws -> [UInt8] {
        if let master = vault.masterKey {
            return vault.header.bytes + (try sealPayload(entries, header: vault.header, master: master))
        }
        guard let remote = vault.remote else { throw NeedsMasterKey() }
        let padded = try PayloadCodec.encode(entries, padBlock: padBlock)
        let sealed = try remote.seal(header: vault.header, padded: padded)
        guard sealed.count == nonceSize + padded.count + tagSize else {
            throw OpenError.damaged(path: "the session agent's answer", reason: "sealed payload of the wrong size")
        }
        return vault.header.bytes + sealed
    }

    /// A new master key under a new passphrase (and salt), the entries sealed
    /// again with it; the vault ID stays. An old copy of the file and the old
    /// passphrase open nothing written after this.
    package static func rekey(_ vault: Unlocked, newPassphrase: SecretBytes, params: KDFParams) throws -> [UInt8] {
        try Sodium.ensureInitialised()
        let master = try SecretBytes(count: keySize) { out in
            crypto_aead_xchacha20poly1305_ietf_keygen(out.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        let header = try makeHeader(fileHeader: Array(vault.header.fileHeader), master: master, passphrase: newPassphrase, params: params)
        return header.bytes + (try sealPayload(vault.entries, header: header, master: master))
    }

    /// The same master key in a new key slot (a new salt and KDF settings),
    /// derived by the caller beforehand so no Argon2id runs under a lock.
    package static func upgradedHeader(_ vault: Unlocked, passphrase: SecretBytes, params: KDFParams) throws -> Header {
        guard let master = vault.masterKey else { throw NeedsMasterKey() }
        return try makeHeader(fileHeader: Array(vault.header.fileHeader), master: master, passphrase: passphrase, params: params)
    }

    /// The whole file for new entries under a given header of the same master key.
    package static func seal(_ vault: Unlocked, header: Header, entries: [CredentialKey: StoredValue]) throws -> [UInt8] {
        guard let master = vault.masterKey else { throw NeedsMasterKey() }
        return header.bytes + (try sealPayload(entries, header: header, master: master))
    }

    /// A new passphrase wraps the same master key under a new salt; the sealed
    /// payload is carried over unchanged (`vault passwd --rewrap-only`).
    package static func rewrap(_ vault: Unlocked, newPassphrase: SecretBytes, params: KDFParams) throws -> [UInt8] {
        guard let master = vault.masterKey else { throw NeedsMasterKey() }
        let header = try makeHeader(
            fileHeader: Array(vault.header.fileHeader), master: master, passphrase: newPassphrase, params: params)
        return header.bytes + Array(vault.sealedPayload)
    }

    // MARK: primitives

    static func aeadSeal(_ plain: SecretBytes, nonce: [UInt8], ad: [UInt8], key: SecretBytes) -> [UInt8] {
        AEAD.seal(plain, nonce: nonce, ad: ad, key: key)
    }

    static func aeadOpen(
        into out: UnsafeMutableRawBufferPointer, ciphertext: ArraySlice<UInt8>, nonce: ArraySlice<UInt8>,
        ad: ArraySlice<UInt8>, key: SecretBytes
    ) throws -> Bool {
        AEAD.open(into: out, ciphertext: ciphertext, nonce: nonce, ad: ad, key: key)
    }

    static func blake2b(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        let input = Array(bytes)
        _ = crypto_generichash(&out, 32, input, UInt64(input.count), nil, 0)
        return out
    }

}
