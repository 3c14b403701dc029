import Glibc

/// Small files of `/proc` (their size reads as 0, so read until the end).
package enum ProcFile {
    package static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        // A failed read keeps what came before it, as /proc readers expect.
        return String(decoding: SettingFile.readToEnd(fd).bytes, as: UTF8.self)
    }
}

/// The figures of `/proc/<pid>/stat` the sidecar uses: for its own metrics and for a
/// supervisor's workers alike.
package struct ProcStat: Sendable, Equatable {
    /// The parent's pid (0 when unknown).
    package var parent: Int = 0
    /// User and system CPU time, in clock ticks.
    package var userTicks: Int = 0
    package var systemTicks: Int = 0
    /// When the process started, in clock ticks after boot.
    package var startTicks: Int = 0
    /// Resident pages.
    package var residentPages: Int = 0

    package init() {}

    /// The fields of a `/proc/<pid>/stat` line. The command name (field 2) may hold spaces and
    /// parentheses, so fields are counted from its closing parenthesis; a missing one reads 0.
    package init(parsing text: String) {
        self.init()
        guard let close = text.lastIndex(of: ")") else { return }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After the name: state is field 3, so field N is at index N - 3.
        func field(_ n: Int) -> Int { n - 3 < fields.count ? Int(fields[n - 3]) ?? 0 : 0 }
        parent = field(4)
        userTicks = field(14)
        systemTicks = field(15)
        startTicks = field(22)
        residentPages = field(24)
    }

    /// `/proc/<pid>/stat` now, or nil when the process is gone.
    package static func read(pid: pid_t) -> ProcStat? {
        ProcFile.read("/proc/\(pid)/stat").map(ProcStat.init(parsing:))
    }

    /// This process's own, all zero when unreadable.
    package static func readSelf() -> ProcStat {
        ProcFile.read("/proc/self/stat").map(ProcStat.init(parsing:)) ?? ProcStat()
    }

    /// Resident bytes.
    package var residentBytes: Int { residentPages * sysconf(Int32(_SC_PAGESIZE)) }
    /// Seconds after boot when the process started.
    package var startSecondsAfterBoot: Double { Double(startTicks) / Double(sysconf(Int32(_SC_CLK_TCK))) }
    /// User and system CPU time in seconds.
    package var cpuSeconds: Double { Double(userTicks + systemTicks) / Double(sysconf(Int32(_SC_CLK_TCK))) }
}
