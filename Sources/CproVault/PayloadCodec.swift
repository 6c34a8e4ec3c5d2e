import CSodium
import CproCore

/// The plaintext inside the vault, built and parsed in protected memory.
///
///     u32 LE  entry count
///     per entry, sorted by profile, environment, field:
///       u8      profile name length (1...64), then the name (UTF-8)
///       u8      environment: 1 sandbox, 2 production
///       u8      field: 1 client-id, 2 client-secret, 3 tech-login, 4 tech-password
///       i64 LE  when the value was set, seconds since 1970 UTC
///       u32 LE  value length (1...16384), then the value (UTF-8)
///   then ISO/IEC 7816-4 padding (sodium_pad) to a multiple of 256 bytes, so the
///   file size tells little about the lengths of the secrets.
enum PayloadCodec {
    struct Malformed: Error { let text: String }

    static func code(_ e: PisteEnvironment) -> UInt8 { e == .sandbox ? 1 : 2 }
    static func code(_ f: StoredField) -> UInt8 { UInt8(StoredField.allCases.firstIndex(of: f)! + 1) }

    static func encode(_ entries: [CredentialKey: StoredValue], padBlock: Int) throws -> SecretBytes {
        let sorted = entries.keys.sorted()
        var size = 4
        for k in sorted { size += 1 + k.profile.value.utf8.count + 1 + 1 + 8 + 4 + entries[k]!.secret.count }
        let padded = (size / padBlock + 1) * padBlock
        return try SecretBytes(count: padded) { buf in
            var w = ByteWriter(buf)
            w.integer(UInt32(sorted.count))
            for k in sorted {
                let value = entries[k]!
                w.integer(UInt8(k.profile.value.utf8.count))
                w.put(Array(k.profile.value.utf8))
                w.put([code(k.environment), code(k.field)])
                w.integer(value.setAt)
                w.integer(UInt32(value.secret.count))
                w.put(value.secret)
            }
            let at = w.offset
            var paddedLen = 0
            guard sodium_pad(&paddedLen, buf.baseAddress!.assumingMemoryBound(to: UInt8.self), at, padBlock, padded) == 0,
                  paddedLen == padded
            else { throw Malformed(text: "padding failed") }
        }
    }

    static func decode(_ raw: UnsafeRawBufferPointer) throws -> [CredentialKey: StoredValue] {
        do {
            return try decodeFields(raw)
        } catch is ByteReader.Truncated {
            throw Malformed(text: "payload ends early")
        }
    }

    static func decodeFields(_ raw: UnsafeRawBufferPointer) throws -> [CredentialKey: StoredValue] {
        var r = ByteReader(raw)
        let count = try r.integer(UInt32.self)
        guard count <= 100_000 else { throw Malformed(text: "implausible entry count") }
        var out: [CredentialKey: StoredValue] = [:]
        for _ in 0..<count {
            let nameLen = Int(try r.integer(UInt8.self))
            guard let name = String(validating: try r.take(nameLen), as: UTF8.self),
                  let profile = try? ProfileName(name)
            else { throw Malformed(text: "bad profile name") }
            let envCode = try r.integer(UInt8.self), fieldCode = try r.integer(UInt8.self)
            guard envCode == 1 || envCode == 2 else { throw Malformed(text: "bad environment code") }
            guard (1...4).contains(fieldCode) else { throw Malformed(text: "bad field code") }
            let key = CredentialKey(profile, envCode == 1 ? .sandbox : .production, StoredField.allCases[Int(fieldCode) - 1])
            let setAt = try r.integer(Int64.self)
            let valueLen = Int(try r.integer(UInt32.self))
            guard (1...Validation.maxValueBytes).contains(valueLen) else { throw Malformed(text: "bad value length") }
            let value = SecretBytes(copying: try r.take(valueLen))
            guard out.updateValue(StoredValue(value, setAt: setAt), forKey: key) == nil else {
                throw Malformed(text: "duplicate entry")
            }
        }
        guard r.remaining == 0 else { throw Malformed(text: "trailing bytes in payload") }
        return out
    }
}
