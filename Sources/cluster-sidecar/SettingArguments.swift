import ArgumentParser
import Glibc
import SidecarCluster
import SidecarRegistry
import SidecarSettings
import SidecarSupervisor

/// A subcommand's settings on its command line: every argument ArgumentParser leaves over
/// (`.allUnrecognized`), read by `SettingFlags`, which the keys' declarations make. The flags
/// are listed in the command's help by `SettingFlags.help` (see `CommandSettings`).
struct SettingArguments: ParsableArguments {
    @Argument(parsing: .allUnrecognized, help: ArgumentHelp(visibility: .private))
    var arguments: [String] = []

    init() {}

    init(arguments: [String]) { self.arguments = arguments }

    /// The values given, keyed by variable. A flag that is none of `flags` stops the command
    /// with one line naming it (exit 64, as every other bad setting).
    func values(_ flags: SettingFlags) -> [String: String] {
        do throws(SettingFlagError) {
            return try flags.values(in: arguments)
        } catch {
            Environment.fail(error.description, status: ExitStatus.configuration)
        }
    }

    /// The values given before `--`, keyed by variable, and what follows it (`run`'s command).
    func valuesAndCommand(_ flags: SettingFlags) -> (values: [String: String], command: [String]) {
        guard let terminator = arguments.firstIndex(of: "--") else { return (values(flags), []) }
        let before = SettingArguments(arguments: Array(arguments[..<terminator]))
        return (before.values(flags), Array(arguments[(terminator + 1)...]))
    }
}

/// Each subcommand's settings, from the keys: the sidecar's, the supervisor's, the registry's.
enum CommandSettings {
    static let sidecar = SettingFlags(ConfigKey.allCases)
    static let workers = SettingFlags(WorkerKey.allCases)
    /// `run` takes the sidecar's settings and the supervisor's.
    static let run = SettingFlags(ConfigKey.allCases + WorkerKey.allCases)
    static let registry = SettingFlags(RegistryKey.allCases)

    /// The usage line's settings part.
    static let usage = "[--<setting> <value> ...]"

    /// The width help is wrapped to, as ArgumentParser finds it: `COLUMNS`, else the terminal's
    /// width, else 80.
    static var helpWidth: Int {
        if let text = getenv("COLUMNS"), let columns = Int(String(cString: text)), columns > 0 { return columns }
        var size = winsize()
        if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        return 80
    }
}
