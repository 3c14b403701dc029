import Glibc
import SidecarPosix

/// The process's own figures from `/proc/self` (Linux): what the standard Prometheus process
/// collector reports, and `/status` shows. Every read is a few small files, done on demand.
package struct ProcessStats: Sendable, Equatable {
    /// User and system CPU time.
    package var cpuSeconds: Double
    package var residentBytes: Int
    package var openFDs: Int
    package var maxFDs: Int
    /// Wall-clock seconds since the epoch when the process started.
    package var startTime: Double

    /// Reads them now; a figure that cannot be read is 0.
    package static func read() -> ProcessStats {
        let stat = ProcStat.readSelf()
        let bootTime = ProcFile.read("/proc/stat").flatMap(parseBootTime) ?? 0
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        return ProcessStats(
            cpuSeconds: stat.cpuSeconds,
            residentBytes: stat.residentBytes,
            openFDs: countOpenFDs(),
            maxFDs: limit.rlim_cur > UInt(Int.max) ? Int.max : Int(limit.rlim_cur),
            startTime: bootTime + stat.startSecondsAfterBoot)
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
