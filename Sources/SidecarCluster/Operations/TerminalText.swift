/// Text from the network made safe to print on a terminal: server ids pushed by peers, workers'
/// `STATUS=` lines and errors reach `cluster-sidecar status`, and a raw escape sequence there
/// could clear the screen, retitle the terminal or forge a row.
package enum TerminalText {
    /// `text` with every control character (C0, DEL, C1) and every bidirectional override shown
    /// as an escape (`\x1B`, `\u{202E}`); everything else as it is.
    package static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            guard needsEscape(scalar) else {
                out.unicodeScalars.append(scalar)
                continue
            }
            let hex = String(scalar.value, radix: 16, uppercase: true)
            out += scalar.value < 0x100 ? "\\x" + (hex.count == 1 ? "0" + hex : hex) : "\\u{\(hex)}"
        }
        return out
    }

    package static func needsEscape(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x00...0x1F, 0x7F...0x9F: true
        // Bidirectional embeddings, overrides and isolates: they reorder what follows.
        case 0x202A...0x202E, 0x2066...0x2069, 0x200E, 0x200F, 0x061C: true
        default: false
        }
    }
}
