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
