#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Any JSON document, read with `JSONDecoder`: what JSONSerialization gave
/// before the CLI dropped Foundation's full module (and its 34 MB of ICU
/// data) for FoundationEssentials. For answers whose shape cpro checks field
/// by field (OpenBao's, an import, a request body).
package enum JSONValue: Decodable, Sendable, Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    package init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int64.self) {
            self = .integer(i)
        } else if let d = try? c.decode(Double.self) {
            self = .number(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    /// nil when the bytes are not one JSON document.
    package static func parse(_ bytes: [UInt8]) -> JSONValue? {
        try? JSONDecoder().decode(JSONValue.self, from: Data(bytes))
    }

    package var object: [String: JSONValue]? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// The value as JSONSerialization shaped it: `[String: Any]`, `[Any]`,
    /// `String`, `Int` (a whole number), `Double`, `Bool`; null as `JSONNull`.
    package var anyValue: Any {
        switch self {
        case .null: return JSONNull()
        case .bool(let b): return b
        case .integer(let i): return Int(exactly: i) ?? Double(i)
        case .number(let d): return d
        case .string(let s): return s
        case .array(let a): return a.map(\.anyValue)
        case .object(let o): return o.mapValues(\.anyValue)
        }
    }

    package struct JSONNull: Sendable, Equatable {}
}
