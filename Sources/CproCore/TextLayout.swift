/// Text for a terminal of a given width.
package enum TextLayout {
    /// Folds each line at word boundaries so it fits in `width` columns (one
    /// left free, as a terminal wraps at the last column); a folded line keeps
    /// the indentation its line started with. A word longer than the width
    /// stays whole on a line of its own: a URL cut in two cannot be copied.
    package static func wrap(_ text: String, width: Int) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            let indent = String(line.prefix { $0 == " " })
            var out: [String] = []
            var current = indent
            for word in line.dropFirst(indent.count).split(separator: " ") {
                let candidate = current.count == indent.count ? current + word : current + " " + word
                if candidate.count > width - 1 && current.count > indent.count {
                    out.append(current)
                    current = indent + word
                } else {
                    current = candidate
                }
            }
            out.append(current)
            return out.joined(separator: "\n")
        }.joined(separator: "\n")
    }
}

extension StringProtocol {
    /// Without the spaces and tabs (and, with `newlines`, line breaks) at
    /// either end: `trimmingCharacters(in:)` without Foundation's full module.
    package func trimmed(newlines: Bool = false) -> String {
        func blank(_ s: Unicode.Scalar) -> Bool {
            s == " " || s == "\t" || (newlines && (s == "\n" || s == "\r" || s.properties.isWhitespace))
                || (s.properties.generalCategory == .spaceSeparator)
        }
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !blank($0) }) else { return "" }
        let last = scalars.lastIndex(where: { !blank($0) })!
        return String(String.UnicodeScalarView(scalars[first...last]))
    }
}

/// `x` with `places` decimals (`String(format: "%.2f")` without Foundation's
/// full module), for durations in logs and monitoring output.
package func fixed(_ x: Double, places: Int) -> String {
    guard x.isFinite else { return "\(x)" }
    var scale: Int64 = 1
    for _ in 0..<places { scale *= 10 }
    let scaled = Int64((abs(x) * Double(scale)).rounded())
    let whole = scaled / scale, fraction = String(scaled % scale)
    let sign = x < 0 && scaled != 0 ? "-" : ""
    guard places > 0 else { return "\(sign)\(whole)" }
    return "\(sign)\(whole)." + String(repeating: "0", count: places - fraction.count) + fraction
}

extension StringProtocol {
    /// The first range of `needle` compared case-insensitively (ASCII letters
    /// folded), as `range(of:options: .caseInsensitive)` for header text.
    package func asciiCaseInsensitiveRange(of needle: String) -> Range<Index>? {
        func fold(_ c: Character) -> Character { c.isASCII ? Character(c.lowercased()) : c }
        let wanted = needle.map(fold)
        guard !wanted.isEmpty else { return nil }
        var start = startIndex
        while start != endIndex {
            var i = start, j = 0
            while j < wanted.count, i != endIndex, fold(self[i]) == wanted[j] { i = index(after: i); j += 1 }
            if j == wanted.count { return start..<i }
            start = index(after: start)
        }
        return nil
    }
}

extension String {
    /// Padded with spaces, or cut, to `length` characters (as
    /// `padding(toLength:withPad:startingAt:)`), for table columns.
    package func padded(to length: Int) -> String {
        count >= length ? String(prefix(length)) : self + String(repeating: " ", count: length - count)
    }
}
