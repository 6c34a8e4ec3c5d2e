/// Every binary format cpro writes (the vault and its payload, the token
/// cache entry, the agent's wire) stores integers little-endian, at a fixed
/// width. They are written and read here only, so a width or an order can
/// never differ between the writer and the reader of one format.
package enum LittleEndian {
    package static func bytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        (0..<(T.bitWidth / 8)).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }

    /// The integer at `offset`; the caller has checked the length (a header
    /// of fixed size), so a short buffer is a programming error.
    package static func read<T: FixedWidthInteger, C: Collection<UInt8>>(_ type: T.Type, _ bytes: C, at offset: Int) -> T where C.Index == Int {
        let width = T.bitWidth / 8
        precondition(offset >= bytes.startIndex && offset + width <= bytes.endIndex, "LittleEndian.read past the end")
        var value: T = 0
        for i in 0..<width { value |= T(truncatingIfNeeded: bytes[offset + i]) << (8 * i) }
        return value
    }
}

/// Reads fields in order from bytes that may be hostile (a damaged vault, a
/// planted cache entry, a peer on the socket): every read is bounds-checked
/// and a short buffer is an error, never a read out of bounds. Reads views of
/// the buffer, so secret bytes are copied only where the caller copies them.
package struct ByteReader {
    package struct Truncated: Error {}

    package let buffer: UnsafeRawBufferPointer
    package private(set) var offset = 0

    package init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

    package var remaining: Int { buffer.count - offset }

    package mutating func take(_ count: Int) throws(Truncated) -> UnsafeRawBufferPointer {
        guard count >= 0, count <= remaining else { throw Truncated() }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: buffer[offset..<(offset + count)])
    }

    package mutating func bytes(_ count: Int) throws(Truncated) -> [UInt8] { Array(try take(count)) }

    package mutating func integer<T: FixedWidthInteger>(_ type: T.Type) throws(Truncated) -> T {
        LittleEndian.read(T.self, try take(T.bitWidth / 8), at: 0)
    }
}

/// Writes fields in order into a buffer sized beforehand (protected memory
/// for anything holding a secret: the buffer of `SecretBytes(count:)`).
/// Writing past the end is a programming error: the size computation and
/// the writes disagree.
package struct ByteWriter {
    package let buffer: UnsafeMutableRawBufferPointer
    package private(set) var offset = 0

    package init(_ buffer: UnsafeMutableRawBufferPointer) { self.buffer = buffer }

    package mutating func put(_ raw: UnsafeRawBufferPointer) {
        precondition(raw.count <= buffer.count - offset, "ByteWriter: more bytes than the buffer was sized for")
        if raw.count > 0 { (buffer.baseAddress! + offset).copyMemory(from: raw.baseAddress!, byteCount: raw.count) }
        offset += raw.count
    }

    package mutating func put(_ bytes: [UInt8]) { bytes.withUnsafeBytes { put($0) } }

    package mutating func put(_ secret: SecretBytes) { secret.withUnsafeBytes { put($0) } }

    package mutating func integer<T: FixedWidthInteger>(_ value: T) { put(LittleEndian.bytes(value)) }
}
