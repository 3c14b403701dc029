import SidecarSettings
import Testing

/// Settings as flags, made from key declarations alone.
@Suite struct SettingFlagsTests {
    enum Key: String, CaseIterable, SettingKey {
        case port = "DEMO_PORT"
        case token = "DEMO_TOKEN"
        case level = "LOG_LEVEL"

        var variable: String { rawValue }
        var meaning: String { self == .port ? "Listen port, 0 for any free port, on the address the listener has." : "Some value." }
        var defaultText: String { self == .token ? "required" : "8400" }
        var isSecret: Bool { self == .token }
        var hasFileForm: Bool { self != .port }
    }

    let flags = SettingFlags(Key.allCases)

    @Test func everyKey_hasItsFlag_andAFileFlagWhenItHasAFileForm() {
        #expect(
            flags.flags.map(\.name) == ["--demo-port", "--demo-token", "--demo-token-file", "--log-level", "--log-level-file"])
        #expect(flags.flags.map(\.variable) == ["DEMO_PORT", "DEMO_TOKEN", "DEMO_TOKEN_FILE", "LOG_LEVEL", "LOG_LEVEL_FILE"])
    }

    @Test func values_areKeyedByVariable_withSpaceOrEquals_andTheLastWins() throws {
        let values = try flags.values(in: ["--demo-port", "1", "--demo-token-file=/run/t", "--demo-port=2", "--log-level", "-"])
        #expect(values == ["DEMO_PORT": "2", "DEMO_TOKEN_FILE": "/run/t", "LOG_LEVEL": "-"])
        #expect(try flags.values(in: ["--demo-token=a=b", "--log-level="]) == ["DEMO_TOKEN": "a=b", "LOG_LEVEL": ""])
        #expect(try flags.values(in: []).isEmpty)
    }

    @Test func anUnknownFlag_isRefused_withTheNearestOne() {
        #expect(throws: SettingFlagError.unknown("--demo-prot", suggestion: "--demo-port")) { try flags.values(in: ["--demo-prot", "1"]) }
        #expect(throws: SettingFlagError.unknown("--demo-tok", suggestion: "--demo-token")) { try flags.values(in: ["--demo-tok=1"]) }
        #expect(throws: SettingFlagError.unknown("--verbose", suggestion: nil)) { try flags.values(in: ["--verbose"]) }
        #expect(
            SettingFlagError.unknown("--demo-prot", suggestion: "--demo-port").description
                == "unknown option '--demo-prot'; did you mean '--demo-port'? (see --help)")
    }

    @Test func aFlagWithoutItsValue_orAnArgumentThatIsNoFlag_isRefused() {
        #expect(throws: SettingFlagError.missingValue("--demo-port")) { try flags.values(in: ["--demo-port"]) }
        #expect(throws: SettingFlagError.missingValue("--demo-port")) { try flags.values(in: ["--demo-port", "--log-level", "x"]) }
        #expect(throws: SettingFlagError.unexpected("8400")) { try flags.values(in: ["8400"]) }
        #expect(throws: SettingFlagError.unexpected("-p")) { try flags.values(in: ["-p", "1"]) }
        #expect(throws: SettingFlagError.unexpected("--")) { try flags.values(in: ["--"]) }
    }

    @Test func editDistance_countsEdits_upToItsLimit() {
        func d(_ a: String, _ b: String) -> Int { SettingFlags.editDistance(Array(a.utf8), Array(b.utf8), atMost: 2) }
        #expect(d("port", "port") == 0)
        #expect(d("port", "prot") == 2)
        #expect(d("port", "ports") == 1)
        #expect(d("", "ab") == 2)
        #expect(d("port", "level") == 3)
        #expect(d("a", "abcd") == 3)
    }

    @Test func help_laysOutEachFlag_asArgumentParserDoes_inLinesShorterThanTheWidth() {
        let text = flags.help(title: "SETTINGS:", width: 60)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.first == "SETTINGS:")
        #expect(lines.allSatisfy { $0.count < 60 }, "\(text)")
        // A label that fits leaves the help at column 26; a longer one puts it on the next line.
        #expect(lines[1].hasPrefix("  --demo-port <DEMO_PORT> Listen port"))
        #expect(lines.contains("  --demo-token-file <DEMO_TOKEN_FILE>"))
        let continuation = lines.filter { $0.hasPrefix(String(repeating: " ", count: 26)) }
        #expect(!continuation.isEmpty && continuation.allSatisfy { $0.dropFirst(26).first != " " })
        let words = text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for flag in flags.flags { #expect(words.contains("\(flag.name) <\(flag.variable)>"), "\(flag.name)") }
        for flag in flags.flags { #expect(words.contains("env \(flag.variable)"), "\(flag.name)") }
        #expect(words.contains("(env DEMO_TOKEN or DEMO_TOKEN_FILE; required)"))
    }
}
