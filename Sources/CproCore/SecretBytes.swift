import CSodium

/// Secret material kept outside Swift's copy-on-write storage: the bytes live in
/// memory from `sodium_malloc` (guard pages, locked against swapping where the
/// system allows it), and `sodium_free` wipes them when the last reference goes.
///
/// Unchecked Sendable: the pointer is not Sendable, but neither it nor the
/// bytes behind it change after `init` (no API writes them), so sharing
/// across tasks only ever reads.
public final class SecretBytes: @unchecked Sendable, Equatable {
    private let pointer: UnsafeMutableRawPointer?
    public let count: Int

    /// Allocates `count` bytes and lets `fill` write them. The buffer is wiped and
    /// freed (by deinit) if `fill` throws.
    public init(count: Int, fill: (UnsafeMutableRawBufferPointer) throws -> Void) throws {
        try Sodium.ensureInitialised()
        self.count = count
        if count == 0 {
            pointer = nil
            try fill(UnsafeMutableRawBufferPointer(start: nil, count: 0))
            return
        }
        guard let p = sodium_malloc(count) else {
            throw Failure("could not allocate protected memory", fr: "impossible d'allouer de la mémoire protégée")
        }
        pointer = p
        // If fill throws, deinit still runs (every stored property is set) and
        // wipes and frees the buffer; freeing it here too would free it twice.
        try fill(UnsafeMutableRawBufferPointer(start: p, count: count))
    }

    /// Copies bytes in. The caller remains responsible for wiping its own copy.
    public convenience init<C: Collection>(copying bytes: C) where C.Element == UInt8 {
        // sodium_malloc only fails when memory is exhausted; treat that as fatal
        // here rather than making every literal and decoder throw.
        try! self.init(count: bytes.count) { buffer in
            _ = buffer.initializeMemory(as: UInt8.self, from: bytes)
        }
    }

    /// Takes a String's UTF-8. Used where the value already exists as a String
    /// (JSON import, environment variables), so nothing more is exposed.
    public convenience init(utf8 string: String) {
        self.init(copying: Array(string.utf8))
    }

    deinit {
        if let pointer { sodium_free(pointer) }
    }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    /// A plain copy: only for the last step of handing a value to something that
    /// needs Swift types (a JSON encoder, an environment block). Wipe it after use.
    public var unprotectedBytes: [UInt8] {
        withUnsafeBytes { Array($0) }
    }

    /// Also a plain copy, for the same last-step use.
    public var unprotectedString: String {
        withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
    }

    /// Constant-time comparison, so equality checks do not leak where two
    /// secrets first differ.
    public static func == (lhs: SecretBytes, rhs: SecretBytes) -> Bool {
        guard lhs.count == rhs.count else { return false }
        if lhs.count == 0 { return true }
        return lhs.withUnsafeBytes { a in
            rhs.withUnsafeBytes { b in sodium_memcmp(a.baseAddress!, b.baseAddress!, lhs.count) == 0 }
        }
    }
}

extension SecretBytes: CustomStringConvertible, CustomDebugStringConvertible {
    // Never print the bytes, whatever interpolation or dump touches this value.
    public var description: String { "<secret: \(count) bytes>" }
    public var debugDescription: String { description }
}
