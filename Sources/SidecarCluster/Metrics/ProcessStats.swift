import Glibc
import SidecarPosix

/// The process's own figures from `/proc/self` (Linux): what the standard Prometheus process
/// collector reports, and `/status` shows. Every read is a few small files, done on demand.
public struct ProcessStats: Sendable, Equatable {
    /// User and system CPU time.
    public var cpuSeconds: Double
    public var residentBytes: Int
    public var openFDs: Int
    public var maxFDs: Int
    /// Wall-clock seconds since the epoch when the process started.
    public var startTime: Double

    /// Reads them now; a figure that cannot be read is 0.
    public static func read() -> ProcessStats {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let page = sysconf(Int32(_SC_PAGESIZE))
        let stat = parseStat(ProcFile.read("/proc/self/stat") ?? "")
        let bootTime = ProcFile.read("/proc/stat").flatMap(parseBootTime) ?? 0
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        return ProcessStats(
            cpuSeconds: Double(stat.utime + stat.stime) / ticks,
            residentBytes: stat.rssPages * page,
            openFDs: countOpenFDs(),
            maxFDs: limit.rlim_cur > UInt(Int.max) ? Int.max : Int(limit.rlim_cur),
            startTime: bootTime + Double(stat.startTicks) / ticks)
    }

    /// The fields of `/proc/<pid>/stat` we use. The command name (field 2) may hold spaces and
    /// parentheses, so fields are counted from its closing parenthesis.
    static func parseStat(_ text: String) -> (parent: Int, utime: Int, stime: Int, startTicks: Int, rssPages: Int) {
        guard let close = text.lastIndex(of: ")") else { return (0, 0, 0, 0, 0) }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After the name: state is field 3, so field N is at index N - 3.
        func field(_ n: Int) -> Int { n - 3 < fields.count ? Int(fields[n - 3]) ?? 0 : 0 }
        return (field(4), field(14), field(15), field(22), field(24))
    }

    /// `btime` of `/proc/stat`: boot time in seconds since the epoch.
    static func parseBootTime(_ text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6).trimmingCharacters())
        }
        return nil
    }

    private static func countOpenFDs() -> Int {
        guard let dir = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(dir) }
        var count = 0
        while let entry = readdir(dir) {
            if entry.pointee.d_name.0 != UInt8(ascii: ".") { count += 1 }
        }
        return max(0, count - 1)  // the directory stream's own descriptor
    }
}

extension Substring {
    fileprivate func trimmingCharacters() -> Substring {
        var s = self
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return s
    }
}
