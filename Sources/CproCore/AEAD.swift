import CSodium

/// XChaCha20-Poly1305-IETF from libsodium: the one authenticated cipher of
/// cpro, for the vault's key slot and payload (vault-format.md) and for the
/// token cache's entries (token-cache.md).
package enum AEAD {
    package static let keySize = 32
    package static let nonceSize = 24
    package static let tagSize = 16

    /// `ciphertext || tag`.
    package static func seal(_ plain: SecretBytes, nonce: [UInt8], ad: [UInt8], key: SecretBytes) -> [UInt8] {
        precondition(nonce.count == nonceSize && key.count == keySize)
        var out = [UInt8](repeating: 0, count: plain.count + tagSize)
        var outLen: UInt64 = 0
        plain.withUnsafeBytes { p in
            key.withUnsafeBytes { k in
                _ = crypto_aead_xchacha20poly1305_ietf_encrypt(
                    &out, &outLen, p.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(plain.count),
                    ad, UInt64(ad.count), nil, nonce, k.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        return out
    }

    /// Decrypts into `out`, which holds `ciphertext.count - tagSize` bytes;
    /// false when the ciphertext, the nonce, the associated data or the key
    /// do not authenticate (then `out` holds nothing of use).
    package static func open(
        into out: UnsafeMutableRawBufferPointer, ciphertext: ArraySlice<UInt8>, nonce: ArraySlice<UInt8>,
        ad: ArraySlice<UInt8>, key: SecretBytes
    ) -> Bool {
        guard ciphertext.count >= tagSize, out.count == ciphertext.count - tagSize, nonce.count == nonceSize,
              key.count == keySize else { return false }
        var outLen: UInt64 = 0
        let c = Array(ciphertext), n = Array(nonce), a = Array(ad)
        let rc = key.withUnsafeBytes { k in
            crypto_aead_xchacha20poly1305_ietf_decrypt(
                out.baseAddress?.assumingMemoryBound(to: UInt8.self), &outLen, nil, c, UInt64(c.count),
                a, UInt64(a.count), n, k.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        return rc == 0
    }

    /// The plaintext in protected memory, or nil when it does not authenticate.
    package static func open(_ ciphertext: ArraySlice<UInt8>, nonce: ArraySlice<UInt8>, ad: ArraySlice<UInt8>, key: SecretBytes) -> SecretBytes? {
        guard ciphertext.count >= tagSize else { return nil }
        struct Refused: Error {}
        return try? SecretBytes(count: ciphertext.count - tagSize) { out in
            if !open(into: out, ciphertext: ciphertext, nonce: nonce, ad: ad, key: key) { throw Refused() }
        }
    }
}
