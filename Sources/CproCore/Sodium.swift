import CSodium

/// libsodium must be initialised once before any other call; `sodium_init` is
/// itself thread-safe and idempotent, so a lazily computed global suffices.
package enum Sodium {
    private static let initialised: Bool = sodium_init() >= 0

    package static func ensureInitialised() throws {
        guard initialised else {
            throw Failure("libsodium could not be initialised", fr: "libsodium n'a pas pu être initialisée")
        }
    }

    /// Fills a buffer with random bytes from the system's CSPRNG.
    package static func randomBytes(_ count: Int) -> [UInt8] {
        _ = initialised
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, count) }
        return out
    }

    package static func memzero(_ buffer: inout [UInt8]) {
        let count = buffer.count
        buffer.withUnsafeMutableBytes { raw in
            if let base = raw.baseAddress { sodium_memzero(base, count) }
        }
    }

    /// Base64 of `bytes` (libsodium's), standard alphabet padded or the URL
    /// alphabet unpadded: how `exec --mask` recognises a handed secret that
    /// a program prints encoded.
    package static func base64(_ bytes: [UInt8], urlSafe: Bool = false) -> [UInt8] {
        let variant = Int32(urlSafe ? sodium_base64_VARIANT_URLSAFE_NO_PADDING : sodium_base64_VARIANT_ORIGINAL)
        let size = sodium_base64_encoded_len(bytes.count, variant)
        var out = [CChar](repeating: 0, count: size)
        _ = bytes.withUnsafeBufferPointer { sodium_bin2base64(&out, size, $0.baseAddress, bytes.count, variant) }
        return out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    }
}
