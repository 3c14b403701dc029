import Glibc

/// Why a setting's file could not be read: a phrase that follows the file's name.
package struct FileReadError: Error, Sendable, Equatable, CustomStringConvertible {
    package let reason: String
    package init(_ reason: String) { self.reason = reason }
    package var description: String { reason }
}

/// Files that hold a setting (mounted secrets, keys, a log level): read without ever blocking.
///
/// The file is opened non-blocking and must be a regular file no larger than `maxBytes`: a FIFO,
/// a device or a socket put in a secret's place is refused at once instead of holding a reload
/// (and with it the signals behind it) forever, and a huge file is refused rather than cut.
package enum SettingFile {
    /// The largest setting file read (1 MiB: a PEM bundle of many keys fits).
    package static let maxBytes = 1 << 20

    /// The file's text.
    package static func read(_ path: String, maxBytes: Int = maxBytes) throws(FileReadError) -> String {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { throw FileReadError("cannot be opened: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FileReadError("cannot be read: \(String(cString: strerror(errno)))") }
        guard info.st_mode & S_IFMT == S_IFREG else { throw FileReadError("is not a regular file") }
        guard info.st_size <= maxBytes else { throw FileReadError("is over \(maxBytes) bytes") }
        let (bytes, failure) = readToEnd(fd, maxBytes: maxBytes)
        if let failure { throw FileReadError("cannot be read: \(String(cString: strerror(failure)))") }
        // It grew while being read: the size checked above no longer holds.
        guard bytes.count <= maxBytes else { throw FileReadError("is over \(maxBytes) bytes") }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The bytes of `fd` up to its end, or up to one past `maxBytes`, and the errno of a failed
    /// read (what came before it is kept).
    static func readToEnd(_ fd: Int32, maxBytes: Int = .max) -> (bytes: [UInt8], errno: Int32?) {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while bytes.count <= maxBytes {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return (bytes, errno)
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return (bytes, nil)
    }
}
