import Foundation
import Glibc
import SidecarPosix

/// A blocking test client on a raw TCP socket: sends exact bytes, reads exact answers.
package final class RawClient {
    package let fd: Int32

    /// Connects to 127.0.0.1:`port`; reads time out after `timeout` seconds.
    package init(port: UInt16, timeout: Double = 5) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        sa.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw TestFailure("connect to \(port) failed: errno \(errno)")
        }
    }

    deinit { close(fd) }

    package func send(_ text: String) throws { try send(Array(text.utf8)) }

    package func send(_ bytes: [UInt8]) throws {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw TestFailure("send failed: errno \(errno)") }
            off += n
        }
    }

    /// The server's socket of this connection, from `/proc/net/tcp`: bytes it has queued to
    /// send us, and bytes it has received but not read. Nil while it has no such socket.
    package func serverQueues() -> (sending: Int, unread: Int)? {
        var mine = sockaddr_in()
        var peer = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &mine) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &peer) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) } }
        let server = UInt16(bigEndian: peer.sin_port)
        let client = UInt16(bigEndian: mine.sin_port)
        let row = TCPTableRow.rows(ProcFile.read("/proc/net/tcp") ?? "").first { $0.localPort == server && $0.remotePort == client }
        return row.map { ($0.sendQueue, $0.receiveQueue) }
    }

    /// Waits until the server has read every byte sent so far (its socket of this connection
    /// exists and holds nothing unread). Evidence, not a sleep.
    package func waitUntilServerRead(timeout: Double = 5) -> Bool {
        eventually(timeout) { serverQueues()?.unread == 0 }
    }

    /// Shuts our sending side (the server sees EOF).
    package func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    private var buffered: [UInt8] = []

    /// Reads one more chunk; nil at EOF, on a reset or a read timeout.
    private func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = recv(fd, &chunk, chunk.count, 0)
        guard n > 0 else { return false }
        buffered.append(contentsOf: chunk[0..<n])
        return true
    }

    /// Everything until the peer closes (or the read times out).
    package func readToEnd() -> [UInt8] {
        while fill() {}
        defer { buffered = [] }
        return buffered
    }

    /// True when the peer has closed (EOF or reset) within the read timeout.
    package func isClosedByPeer() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
    }

    /// Reads one response (Content-Length framed, chunked, or none for bodiless statuses/HEAD).
    package func readResponse(head: Bool = false) throws -> RawResponse {
        var response = try readHead()
        if response.field("Transfer-Encoding") == "chunked" && !head {
            while let chunk = try readChunk() { response.body += chunk }
            return response
        }
        let length = (head || response.status == 204 || response.status < 200) ? 0 : Int(response.field("Content-Length") ?? "0")!
        while buffered.count < length {
            guard fill() else { throw TestFailure("closed mid-body") }
        }
        response.body = Array(buffered[0..<length])
        response.wireSize += length
        buffered.removeFirst(length)
        return response
    }

    /// Reads a response's head; its body stays to be read (`readChunk`, `readBodyLine`).
    package func readHead() throws -> RawResponse {
        while true {
            if let end = find(Array("\r\n\r\n".utf8), in: buffered) {
                var response = try RawResponse(head: String(decoding: buffered[0..<end], as: UTF8.self))
                response.wireSize = end + 4
                buffered.removeFirst(end + 4)
                lineBuffer = []
                return response
            }
            guard fill() else { throw TestFailure("no response (closed or timed out); got \(String(decoding: buffered, as: UTF8.self))") }
        }
    }

    /// The next chunk of a chunked body; nil for the last one (its empty trailer read too).
    package func readChunk() throws -> [UInt8]? {
        while true {
            if let end = find([0x0D, 0x0A], in: buffered) {
                guard let size = Int(String(decoding: buffered[0..<end], as: UTF8.self), radix: 16) else {
                    throw TestFailure("bad chunk size line: \(String(decoding: buffered[0..<end], as: UTF8.self))")
                }
                let total = end + 2 + size + 2
                while buffered.count < total {
                    guard fill() else { throw TestFailure("closed mid-chunk") }
                }
                let chunk = Array(buffered[(end + 2)..<(end + 2 + size)])
                guard buffered[total - 2] == 0x0D && buffered[total - 1] == 0x0A else { throw TestFailure("a chunk without its CRLF") }
                buffered.removeFirst(total)
                return size == 0 ? nil : chunk
            }
            guard fill() else { throw TestFailure("closed before a chunk") }
        }
    }

    private var lineBuffer: [UInt8] = []

    /// The next line of a chunked body (without its newline), as chunks bring it; nil once
    /// the body ended.
    package func readBodyLine() throws -> String? {
        while true {
            if let nl = lineBuffer.firstIndex(of: 0x0A) {
                defer { lineBuffer.removeFirst(nl + 1) }
                return String(decoding: lineBuffer[0..<nl], as: UTF8.self)
            }
            guard let chunk = try readChunk() else { return nil }
            lineBuffer += chunk
        }
    }

    private func find(_ needle: [UInt8], in hay: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] && Array(hay[i..<(i + needle.count)]) == needle {
            return i
        }
        return nil
    }
}

/// A response as read off the wire.
package struct RawResponse {
    package var status: Int
    /// The status line's reason phrase.
    package var reason: String
    package var fields: [(String, String)]
    package var body: [UInt8] = []
    /// Bytes on the wire: head and body.
    package var wireSize = 0

    package init(head: String) throws {
        let lines = head.components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0] == "HTTP/1.1", let status = Int(parts[1]) else {
            throw TestFailure("bad status line: \(lines[0])")
        }
        self.status = status
        reason = parts.count > 2 ? String(parts[2]) : ""
        fields = lines.dropFirst().map { line in
            let colon = line.firstIndex(of: ":")!
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
    }

    package func field(_ name: String) -> String? {
        fields.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    package var bodyText: String { String(decoding: body, as: UTF8.self) }
}

package struct TestFailure: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}
