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

/// An error that can explain itself to a person in either language.
/// Implementations must never put a secret value in the message.
public protocol CproError: Error, Sendable {
    func message(_ lang: Language) -> String
}

extension CproError {
    public var description: String { message(.en) }
}

/// A plain error carrying both texts, for the many one-off failures that need no
/// structure of their own.
public struct Failure: CproError, CustomStringConvertible {
    public let en: String
    public let fr: String
    public init(_ en: String, fr: String) {
        self.en = en
        self.fr = fr
    }
    public func message(_ lang: Language) -> String { lang.pick(en, fr) }
}
