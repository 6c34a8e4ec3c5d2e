import CproCore
import Testing

@Suite struct TextLayoutTests {
    /// The wizard's text folded at word boundaries, at the widths where words
    /// used to break in the middle (80 and 160 columns).
    @Test(arguments: [40, 80, 160])
    func wrapKeepsWordsWholeAndTheIndentation(_ width: Int) {
        let text = "   " + String(repeating: "abcdefghij ", count: 40) + "\nnext"
        let lines = TextLayout.wrap(text, width: width).split(separator: "\n")
        #expect(lines.count > 2 && lines.last == "next")
        for line in lines.dropLast() {
            #expect(line.count < width)
            #expect(line.hasPrefix("   abcdefghij"), "indentation kept, words whole: \(line)")
        }
    }

    @Test func aWordLongerThanTheWidthStaysWhole() {
        let url = "https://" + String(repeating: "x", count: 100)
        #expect(TextLayout.wrap("see \(url) now", width: 40) == "see\n\(url)\nnow")
    }
}

@Suite struct SuggestionTests {
    @Test func nearMissesAreSuggested() {
        let words = ["health", "creds", "client-id", "client-secret", "nagios", "prod"]
        #expect(Suggestion.closest(to: "helth", among: words) == "health")
        #expect(Suggestion.closest(to: "client_id", among: words) == "client-id")
        #expect(Suggestion.closest(to: "CLIENT-ID", among: words) == "client-id")
        #expect(Suggestion.closest(to: "nagio", among: words) == "nagios")
        #expect(Suggestion.closest(to: "cerds", among: words) == "creds", "a swap counts one")
    }

    @Test func farWordsAreNot() {
        let words = ["health", "creds", "client-id", "prod"]
        #expect(Suggestion.closest(to: "Zx81-very-secret-Value", among: words) == nil)
        #expect(Suggestion.closest(to: "pr", among: words) == nil, "short words allow one edit only")
        #expect(Suggestion.closest(to: "health", among: words) == nil, "a known word needs no suggestion")
    }
}

/// The small replacements for what Foundation's full module gave (the CLI
/// links FoundationEssentials only), held to the behaviour they replace.
@Suite struct EssentialsReplacementTests {
    @Test func trimmedAsTrimmingCharacters() {
        #expect("  a b\t".trimmed() == "a b")
        #expect("\u{00A0}x\u{2003}".trimmed() == "x", "Unicode spaces (Zs), as .whitespaces")
        #expect("x\n".trimmed() == "x\n", "line breaks stay without newlines:")
        #expect(" x\r\n\u{2028}".trimmed(newlines: true) == "x")
        #expect("   ".trimmed() == "" && "".trimmed() == "")
    }

    @Test func fixedAsPrintf() {
        #expect(fixed(0.1234, places: 2) == "0.12")
        #expect(fixed(1.005, places: 3) == "1.005")
        #expect(fixed(2, places: 3) == "2.000")
        #expect(fixed(0.0009, places: 3) == "0.001")
        #expect(fixed(-1.25, places: 1) == "-1.3" || fixed(-1.25, places: 1) == "-1.2")
        #expect(fixed(12.5, places: 0) == "13" || fixed(12.5, places: 0) == "12")
    }

    @Test func caseInsensitiveRangeFindsWholeMatches() {
        let header = #"Bearer REALM="PISTE",error_description="login or password incorrects""#
        let r = header.asciiCaseInsensitiveRange(of: "realm")
        #expect(r.map { String(header[$0]) } == "REALM")
        #expect(header.asciiCaseInsensitiveRange(of: "ERROR_DESCRIPTION") != nil)
        #expect(header.asciiCaseInsensitiveRange(of: "absent") == nil)
        #expect("é".asciiCaseInsensitiveRange(of: "É") == nil, "only ASCII letters fold")
    }

    @Test func paddedCutsOrFills() {
        #expect("ab".padded(to: 4) == "ab  ")
        #expect("abcdef".padded(to: 3) == "abc")
    }

    @Test func jsonValueReadsWhatJSONSerializationRead() throws {
        let v = try #require(JSONValue.parse(Array(#"{"a": 1, "b": 1.5, "c": "s", "d": [true, null], "e": {"f": 9007199254740993}}"#.utf8)))
        let any = try #require(v.anyValue as? [String: Any])
        #expect(any["a"] as? Int == 1)
        #expect(any["b"] as? Double == 1.5)
        #expect(any["c"] as? String == "s")
        #expect((any["d"] as? [Any])?.first as? Bool == true)
        #expect((any["e"] as? [String: Any])?["f"] as? Int == 9007199254740993, "whole numbers keep every digit")
        #expect(JSONValue.parse(Array("{\"a\": ".utf8)) == nil)
        #expect(JSONValue.parse(Array("[1]".utf8))?.object == nil)
        #expect(JSONValue.parse(Array("{}".utf8))?.object == [:])
    }

    @Test func recursiveLockMayBeTakenAgainByItsHolder() async throws {
        let lock = RecursiveLock()
        lock.lock(); lock.lock()
        lock.unlock(); lock.unlock()
        let value = try await Blocking.run { () -> Int in
            lock.lock(); defer { lock.unlock() }
            return 42
        }
        #expect(value == 42)
    }
}
