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
