/// The language of the messages meant for people. Diagnosis codes, JSON keys and
/// file formats never change with it.
public enum Language: String, Sendable, CaseIterable {
    case en, fr

    /// POSIX precedence: LC_ALL, then LC_MESSAGES, then LANG. Anything starting
    /// with "fr" is French; everything else, including "C" and unset, is English.
    public static func from(environment env: [String: String]) -> Language {
        for name in ["LC_ALL", "LC_MESSAGES", "LANG"] {
            if let value = env[name], !value.isEmpty {
                return value.lowercased().hasPrefix("fr") ? .fr : .en
            }
        }
        return .en
    }

    /// Picks the text in this language. Both are written side by side at the call
    /// site so that a message is never left untranslated.
    @inlinable
    public func pick(_ en: @autoclosure () -> String, _ fr: @autoclosure () -> String) -> String {
        self == .fr ? fr() : en()
    }
}

/// A text written in both languages, rendered by whoever shows it: the
/// core builds reports and errors without knowing who will read them.
public struct Text: Sendable, Hashable, CustomStringConvertible {
    public let en: String
    public let fr: String
    public init(_ en: String, fr: String) {
        self.en = en
        self.fr = fr
    }
    public static let empty = Text("", fr: "")
    public var isEmpty: Bool { en.isEmpty && fr.isEmpty }
    public func callAsFunction(_ lang: Language) -> String { lang.pick(en, fr) }
    public var description: String { en }
}

/// An error that can explain itself to a person in either language.
/// Implementations must never put a secret value in the message.
public protocol CproError: Error, Sendable {
    func message(_ lang: Language) -> String
    /// The contract's diagnosis code (cli.md) when the error is one of the
    /// diagnosed failures; nil for the plain ones (a bad flag, a full disk).
    /// No default: a conformer that forgot it would silently lose its code.
    var diagnosis: Diagnosis? { get }
}

extension CproError {
    public var description: String { message(.en) }
    /// Both renderings, for reports that keep the text and render it later.
    public var text: Text { Text(message(.en), fr: message(.fr)) }
}
