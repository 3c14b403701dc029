/// A subcommand's settings as command-line flags, made from the keys' declarations alone:
/// each key's `flag` takes a value (`--cluster-port 8460` or `--cluster-port=8460`), and a key
/// with a file form also takes `fileFlag` (`--jwt-secret-file PATH`). Adding a key adds its
/// flag, its help line and its checks; nothing else names it.
///
/// Pure: `values(in:)` reads arguments into values keyed by variable (what `SettingsReader`
/// takes; a later flag wins over an earlier one, as options did under ArgumentParser), and
/// `help(title:width:)` lays the flags out as ArgumentParser lays out its options.
package struct SettingFlags: Sendable {
    /// One flag: its spelling, the variable it sets, and its help line.
    package struct Flag: Sendable, Equatable {
        package let name: String
        package let variable: String
        package let help: String
    }

    /// Every flag, in the keys' order, each file form right after its key.
    package let flags: [Flag]
    private let byName: [String: Int]

    package init(_ keys: [any SettingKey]) {
        var flags: [Flag] = []
        for key in keys {
            flags.append(Flag(name: key.flag, variable: key.variable, help: key.help))
            if key.hasFileForm {
                let what = key.isSecret ? "the secret" : "the value"
                flags.append(
                    Flag(
                        name: key.fileFlag, variable: key.fileVariable,
                        help: "A file holding \(what) (env \(key.fileVariable); default: none)."))
            }
        }
        self.flags = flags
        var byName: [String: Int] = [:]
        for (i, flag) in flags.enumerated() where byName[flag.name] == nil { byName[flag.name] = i }
        self.byName = byName
    }

    /// The values `arguments` give, keyed by variable.
    package func values(in arguments: [String]) throws(SettingFlagError) -> [String: String] {
        var values: [String: String] = [:]
        var i = 0
        while i < arguments.count {
            let argument = arguments[i]
            i += 1
            guard argument.hasPrefix("--"), argument.count > 2 else { throw .unexpected(argument) }
            let name: String
            let value: String
            if let equals = argument.firstIndex(of: "=") {
                name = String(argument[..<equals])
                value = String(argument[argument.index(after: equals)...])
            } else {
                name = argument
                // A value that starts with "--" goes after "=": "--server-id --x" is a flag missing its value.
                guard i < arguments.count, !arguments[i].hasPrefix("--") else {
                    guard byName[name] != nil else { throw .unknown(name, suggestion: suggestion(for: name)) }
                    throw .missingValue(name)
                }
                value = arguments[i]
                i += 1
            }
            guard let index = byName[name] else { throw .unknown(name, suggestion: suggestion(for: name)) }
            values[flags[index].variable] = value
        }
        return values
    }

    /// The flag closest to a mistyped `name` (at most two edits away, or one it begins), if any.
    func suggestion(for name: String) -> String? {
        let typed = Array(name.utf8)
        var best: (name: String, distance: Int)?
        for flag in flags {
            let d = flag.name.hasPrefix(name) && name.count > 3 ? 1 : Self.editDistance(typed, Array(flag.name.utf8), atMost: 2)
            if d <= 2, d < (best?.distance ?? .max) { best = (flag.name, d) }
        }
        return best?.name
    }

    /// Levenshtein distance, or `atMost + 1` once it is known to exceed `atMost`.
    package static func editDistance(_ a: [UInt8], _ b: [UInt8], atMost limit: Int) -> Int {
        guard abs(a.count - b.count) <= limit else { return limit + 1 }
        guard !a.isEmpty, !b.isEmpty else { return max(a.count, b.count) }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            guard (current.min() ?? 0) <= limit else { return limit + 1 }
            swap(&previous, &current)
        }
        return min(previous[b.count], limit + 1)
    }

    /// The flags as a help section: `title`, then per flag `--name <VARIABLE>` and its help, in
    /// ArgumentParser's layout (the help at column 26, or on the next line when the label is
    /// longer), in lines shorter than `width`: ArgumentParser wraps a discussion again, and
    /// keeps whole only the lines that leave room for their line break.
    package func help(title: String, width: Int) -> String {
        let indent = 2
        let column = 26
        var lines = [title]
        for flag in flags {
            let label = String(repeating: " ", count: indent) + "\(flag.name) <\(flag.variable)>"
            var words = Self.wrap(flag.help, width: max(20, width - 1 - column))
            if label.count <= column - 1 {
                lines.append(label.padding(to: column) + words.removeFirst())
            } else {
                lines.append(label)
            }
            lines += words.map { String(repeating: " ", count: column) + $0 }
        }
        return lines.joined(separator: "\n")
    }

    /// `text` in lines of at most `width` characters, broken at spaces (a longer word has a line of its own).
    static func wrap(_ text: String, width: Int) -> [String] {
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ") {
            if line.isEmpty {
                line = String(word)
            } else if line.count + 1 + word.count <= width {
                line += " " + word
            } else {
                lines.append(line)
                line = String(word)
            }
        }
        lines.append(line)
        return lines
    }
}

/// Why a command line's settings were refused: the flag at fault, as the user typed it.
package enum SettingFlagError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `--name` is no setting of this subcommand; `suggestion` is the nearest one.
    case unknown(String, suggestion: String?)
    /// `--name` came last, or right before another flag.
    case missingValue(String)
    /// An argument that is not a flag.
    case unexpected(String)

    package var description: String {
        switch self {
        case .unknown(let name, let suggestion?): "unknown option '\(name)'; did you mean '\(suggestion)'? (see --help)"
        case .unknown(let name, nil): "unknown option '\(name)' (see --help)"
        case .missingValue(let name): "missing value for '\(name)' (use \(name)=VALUE for a value that starts with --)"
        case .unexpected(let argument): "unexpected argument '\(argument)' (settings are --flag VALUE; see --help)"
        }
    }
}

extension String {
    fileprivate func padding(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
