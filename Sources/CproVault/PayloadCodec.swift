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
            var at = 0
            func put(_ bytes: some Sequence<UInt8>) {
                for b in bytes { buf[at] = b; at += 1 }
            }
            func le(_ v: UInt64, _ n: Int) { put((0..<n).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) }) }
            le(UInt64(sorted.count), 4)
            for k in sorted {
                let value = entries[k]!
                put([UInt8(k.profile.value.utf8.count)])
                put(k.profile.value.utf8)
                put([code(k.environment), code(k.field)])
                le(UInt64(bitPattern: value.setAt), 8)
                le(UInt64(value.secret.count), 4)
                value.secret.withUnsafeBytes { v in
                    if v.count > 0 { (buf.baseAddress! + at).copyMemory(from: v.baseAddress!, byteCount: v.count) }
                }
                at += value.secret.count
            }
            var paddedLen = 0
            guard sodium_pad(&paddedLen, buf.baseAddress!.assumingMemoryBound(to: UInt8.self), at, padBlock, padded) == 0,
                  paddedLen == padded
            else { throw Malformed(text: "padding failed") }
        }
    }

    static func decode(_ raw: UnsafeRawBufferPointer) throws -> [CredentialKey: StoredValue] {
        var at = 0
        func take(_ n: Int) throws -> UnsafeRawBufferPointer {
            guard n >= 0, at + n <= raw.count else { throw Malformed(text: "payload ends early") }
            defer { at += n }
            return UnsafeRawBufferPointer(rebasing: raw[at..<(at + n)])
        }
        func le(_ n: Int) throws -> UInt64 {
            try take(n).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * $1.offset) }
        }
        let count = try le(4)
        guard count <= 100_000 else { throw Malformed(text: "implausible entry count") }
        var out: [CredentialKey: StoredValue] = [:]
        for _ in 0..<count {
            let nameLen = Int(try le(1))
            guard let name = String(validating: try take(nameLen), as: UTF8.self),
                  let profile = try? ProfileName(name)
            else { throw Malformed(text: "bad profile name") }
            let envCode = try le(1), fieldCode = try le(1)
            guard envCode == 1 || envCode == 2 else { throw Malformed(text: "bad environment code") }
            guard (1...4).contains(fieldCode) else { throw Malformed(text: "bad field code") }
            let key = CredentialKey(profile, envCode == 1 ? .sandbox : .production, StoredField.allCases[Int(fieldCode) - 1])
            let setAt = Int64(bitPattern: try le(8))
            let valueLen = Int(try le(4))
            guard (1...Validation.maxValueBytes).contains(valueLen) else { throw Malformed(text: "bad value length") }
            let value = SecretBytes(copying: try take(valueLen))
            guard out.updateValue(StoredValue(value, setAt: setAt), forKey: key) == nil else {
                throw Malformed(text: "duplicate entry")
            }
        }
        guard at == raw.count else { throw Malformed(text: "trailing bytes in payload") }
        return out
    }
}
