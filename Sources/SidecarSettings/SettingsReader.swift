import Logging
import SidecarPosix

/// A setting of some subcommand: its environment variable and its flag. `ConfigKey` (the
/// sidecar's) and `RegistryKey` (the embedded registry's) are the two sets.
package protocol SettingKey: Sendable {
    /// The environment variable (`CLUSTER_PORT`); a secret may also come from `<it>_FILE`.
    var variable: String { get }
    /// The command-line flag (`--cluster-port`); by default the variable in lower case with dashes.
    var flag: String { get }
    /// One sentence on what the setting means.
    var meaning: String { get }
    /// The default as `--help` shows it (`8461`, `none`), or what happens without it
    /// (`required`, `required with MIT_URL`).
    var defaultText: String { get }
    /// A secret: it may come from `<variable>_FILE` and is never echoed.
    var isSecret: Bool { get }
    /// It may also come from the file `<variable>_FILE` names: every secret, and a setting that
    /// a settings refresh re-reads from its file (`LOG_LEVEL`).
    var hasFileForm: Bool { get }
}

extension SettingKey {
    package var flag: String { "--" + variable.lowercased().replacingUnderscores() }

    package var isSecret: Bool { false }

    package var hasFileForm: Bool { isSecret }

    /// The variables that carry this setting: itself, and for a secret its `_FILE` form.
    package var variables: [String] { isSecret ? [variable, variable + "_FILE"] : [variable] }

    /// The variable of the file form (`JWT_SECRET_FILE`).
    package var fileVariable: String { variable + "_FILE" }

    /// The flag of the file form (`--jwt-secret-file`).
    package var fileFlag: String { flag + "-file" }

    /// The help line, the same shape for every subcommand's settings: meaning, variable (and its
    /// file for a secret), default.
    package var help: String {
        let env = hasFileForm ? "\(variable) or \(fileVariable)" : variable
        let fallback = defaultText.hasPrefix("required") ? defaultText : "default: \(defaultText)"
        return "\(meaning) (env \(env); \(fallback))"
    }
}

extension String {
    fileprivate func replacingUnderscores() -> String { String(map { $0 == "_" ? "-" : $0 }) }

    fileprivate func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}

/// Reads typed settings from raw values (flags over environment), with one error shape for
/// every subcommand: the variable at fault and why. Pure but for `readFile`, which reads
/// `*_FILE` secrets and is injected for tests.
package struct SettingsReader {
    private let values: [String: String]
    /// Variables whose value came from a flag: their errors name the flag the user typed.
    private let fromFlags: Set<String>
    private let readFile: (String) throws(FileReadError) -> String

    /// - Parameters:
    ///   - environment: the process environment.
    ///   - flags: values given on the command line, keyed by variable name; they win.
    ///   - readFile: returns a file's text, or says why it cannot be read (by default
    ///     `SettingFile.read`: a regular file of at most 1 MiB, without blocking).
    package init(
        environment: [String: String], flags: [String: String] = [:],
        readFile: @escaping (String) throws(FileReadError) -> String = { path throws(FileReadError) in try SettingFile.read(path) }
    ) {
        var merged = environment
        for (k, v) in flags { merged[k] = v }
        values = merged
        fromFlags = Set(flags.keys)
        self.readFile = readFile
    }

    /// How an error names `key`: the flag when the value came from one, else the variable.
    package func name(_ key: some SettingKey) -> String {
        fromFlags.contains(key.variable) ? key.flag : key.variable
    }

    /// How an error names `key`'s file form: its flag when it came from one.
    private func fileSettingName(_ key: some SettingKey) -> String {
        fromFlags.contains(key.fileVariable) ? key.fileFlag : key.fileVariable
    }

    /// The raw value of `key`; an empty value counts as unset.
    package func raw(_ key: some SettingKey) -> String? {
        guard let v = values[key.variable], !v.isEmpty else { return nil }
        return v
    }

    package func text(_ key: some SettingKey) throws(ConfigError) -> String? {
        guard let v = raw(key) else { return nil }
        guard v.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) else {
            throw ConfigError(name(key), "contains control characters")
        }
        return v
    }

    package func url(_ key: some SettingKey) throws(ConfigError) -> String? {
        guard let v = try text(key) else { return nil }
        return try checkedURL(v, key)
    }

    /// A comma-separated list of URLs (each checked as `url` checks one); nil when unset.
    package func urls(_ key: some SettingKey) throws(ConfigError) -> [String]? {
        guard let v = try text(key) else { return nil }
        var list: [String] = []
        for part in v.split(separator: ",", omittingEmptySubsequences: false) {
            var item = Substring(part)
            while item.first == " " { item = item.dropFirst() }
            while item.last == " " { item = item.dropLast() }
            list.append(try checkedURL(String(item), key))
        }
        return list
    }

    private func checkedURL(_ v: String, _ key: some SettingKey) throws(ConfigError) -> String {
        let lower = v.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else {
            throw ConfigError(name(key), "'\(v)' is not an http(s) URL")
        }
        let rest = v.drop(while: { $0 != "/" }).dropFirst(2)
        guard let first = rest.first, first != "/", first != "?", !v.contains(" ") else {
            throw ConfigError(name(key), "'\(v)' has no host")
        }
        return v.hasSuffix("/") ? String(v.dropLast()) : v
    }

    package func bool(_ key: some SettingKey) throws(ConfigError) -> Bool? {
        guard let v = raw(key) else { return nil }
        switch v.lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: throw ConfigError(name(key), "'\(v)' is not true or false")
        }
    }

    package func duration(_ key: some SettingKey, positive: Bool = false) throws(ConfigError) -> Duration? {
        guard let v = raw(key) else { return nil }
        guard let d = Double(v), d.isFinite, d >= 0, !(positive && d == 0), v.first != "+" else {
            throw ConfigError(name(key), "'\(v)' is not a duration in seconds\(positive ? " above 0" : "") (e.g. 10 or 0.2)")
        }
        return .seconds(exactly: d)
    }

    package func integer(_ key: some SettingKey, _ range: ClosedRange<Int>) throws(ConfigError) -> Int? {
        guard let v = raw(key) else { return nil }
        guard let n = Int(v), range.contains(n), v.first != "+" else {
            throw ConfigError(name(key), "'\(v)' is not a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return n
    }

    package func address(_ hostKey: some SettingKey, _ portKey: some SettingKey, default d: SocketAddress) throws(ConfigError)
        -> SocketAddress
    {
        var port = d.port
        if let p = raw(portKey) {
            guard let n = UInt16(p) else { throw ConfigError(name(portKey), "'\(p)' is not a port (0-65535)") }
            port = n
        }
        let host = raw(hostKey) ?? d.host
        guard let a = SocketAddress(host: host, port: port) else {
            throw ConfigError(name(hostKey), "'\(host)' is not an IPv4 or IPv6 address (or localhost)")
        }
        return a
    }

    package func secret(_ key: some SettingKey) throws(ConfigError) -> Secret? {
        let direct = raw(key)
        let file = values[key.fileVariable].flatMap { $0.isEmpty ? nil : $0 }
        let fileName = fileSettingName(key)
        if direct != nil && file != nil { throw ConfigError(name(key), "set \(key.variable) or \(key.fileVariable), not both") }
        if let direct { return Secret(direct) }
        guard let file else { return nil }
        let text = try read(file, naming: fileName)
        var s = Substring(text)
        while let last = s.last, last.isNewline { s = s.dropLast() }
        guard !s.isEmpty else { throw ConfigError(fileName, "'\(file)' is empty") }
        return Secret(String(s))
    }

    /// A secret sent as `Authorization: Bearer <it>`: only the characters a bearer credential
    /// can carry (RFC 6750 §2.1's b64token: letters, digits, `-._~+/`, then `=` padding), so
    /// that one no caller could ever present is refused at start (or at a reload) instead of
    /// locking every caller out.
    package func bearerToken(_ key: some SettingKey) throws(ConfigError) -> Secret? {
        guard let token = try secret(key) else { return nil }
        guard Self.isBearerToken(token.value) else {
            throw ConfigError(
                name(key), "may hold only letters, digits and -._~+/ (then = padding): a bearer token cannot carry other characters")
        }
        return token
    }

    /// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
    package static func isBearerToken(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        let padding = bytes.reversed().prefix { $0 == UInt8(ascii: "=") }.count
        let body = bytes.dropLast(padding)
        return !body.isEmpty
            && body.allSatisfy { b in
                (b >= 0x30 && b <= 0x39) || (b | 0x20 >= 0x61 && b | 0x20 <= 0x7A) || b == UInt8(ascii: "-") || b == UInt8(ascii: ".")
                    || b == UInt8(ascii: "_") || b == UInt8(ascii: "~") || b == UInt8(ascii: "+") || b == UInt8(ascii: "/")
            }
    }

    /// The text of the file at `path`, or an error naming the setting `name` and why.
    private func read(_ path: String, naming name: String) throws(ConfigError) -> String {
        do {
            return try readFile(path)
        } catch {
            throw ConfigError(name, "'\(path)' \(error.reason)")
        }
    }

    /// A log level, from the variable or from the file `<variable>_FILE` names (which a reload
    /// reads again: the environment of a running process cannot change).
    package func logLevel(_ key: some SettingKey) throws(ConfigError) -> Logger.Level? {
        let fromFile = values[key.fileVariable].flatMap { $0.isEmpty ? nil : $0 }
        if raw(key) != nil && fromFile != nil { throw ConfigError(name(key), "set \(key.variable) or \(key.fileVariable), not both") }
        let v: String
        let source: String
        if let path = fromFile {
            source = fileSettingName(key)
            v = try read(path, naming: source).trimmingWhitespace()
        } else {
            guard let direct = raw(key) else { return nil }
            (v, source) = (direct, name(key))
        }
        guard let level = Logger.Level(rawValue: v.lowercased()) else {
            throw ConfigError(source, "'\(v)' is not one of trace, debug, info, notice, warning, error, critical")
        }
        return level
    }
}
