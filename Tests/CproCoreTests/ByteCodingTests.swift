import CproCore
import Testing

@Suite struct ByteCodingTests {
    @Test func integersRoundTripAtTheirWidthLittleEndian() throws {
        #expect(LittleEndian.bytes(UInt16(0x0102)) == [0x02, 0x01])
        #expect(LittleEndian.bytes(Int64(-2)) == [0xFE] + [UInt8](repeating: 0xFF, count: 7))
        let buffer = try SecretBytes(count: 1 + 4 + 8 + 3) { out in
            var w = ByteWriter(out)
            w.integer(UInt8(7))
            w.integer(UInt32(0xDEAD_BEEF))
            w.integer(Int64.min)
            w.put([1, 2, 3])
            #expect(w.offset == out.count)
        }
        try buffer.withUnsafeBytes { raw throws in
            var r = ByteReader(raw)
            let small = try r.integer(UInt8.self), word = try r.integer(UInt32.self), long = try r.integer(Int64.self)
            let tail = try r.bytes(3)
            #expect(small == 7 && word == 0xDEAD_BEEF && long == Int64.min && tail == [1, 2, 3])
            #expect(r.remaining == 0)
        }
    }

    /// Hostile lengths (past the end, negative) are errors, and a failed
    /// read leaves the position where it was.
    @Test func aShortBufferIsAnErrorNeverAnOverread() throws {
        let bytes: [UInt8] = [1, 2, 3]
        bytes.withUnsafeBytes { raw in
            var r = ByteReader(raw)
            #expect((try? r.integer(UInt32.self)) == nil)
            #expect((try? r.take(4)) == nil)
            #expect((try? r.take(-1)) == nil)
            #expect(r.offset == 0)
            #expect((try? r.take(3))?.count == 3)
            #expect((try? r.integer(UInt8.self)) == nil)
        }
    }
}
