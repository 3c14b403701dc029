import SidecarHTTP

/// Serialises answers into a connection's output buffer: head and body in one buffer,
/// so each answer leaves in one write (no Nagle/delayed-ACK stall between them).
enum ResponseWriter {
    static let continueLine: [UInt8] = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    /// How an answer's body is delimited.
    enum Framing {
        /// `Content-Length` (none for a status that has no body).
        case length
        /// `Transfer-Encoding: chunked`: a streamed body on HTTP/1.1.
        case chunked
        /// Up to the close: a streamed body on HTTP/1.0.
        case close
    }

    /// Appends `response` to `out`.
    /// - Parameters:
    ///   - dateLine: "Date: ...\r\n", cached by the caller once a second.
    ///   - omitBody: true for HEAD: the fields describe the body that GET would send.
    ///   - keepAlive: whether the connection stays open; adds `Connection` as needed.
    ///   - framing: `.length` writes the body too; a streamed body follows in `appendChunk`s.
    static func write(
        _ response: HTTPResponse, to out: inout [UInt8], statusLine: [UInt8], dateLine: [UInt8], omitBody: Bool, version: HTTPVersion,
        keepAlive: Bool, framing: Framing = .length
    ) {
        out.append(contentsOf: statusLine)
        out.append(contentsOf: dateLine)
        let bodyless = response.status < 200 || response.status == 204 || response.status == 304
        if !bodyless {
            switch framing {
            case .length: appendContentLength(&out, response.body.count)
            case .chunked: appendField(&out, "Transfer-Encoding", "chunked")
            case .close: break
            }
        }
        for field in response.fields {
            appendField(&out, field.name, field.value)
        }
        if let id = response.correlationID {
            id.writeField(into: &out)
        }
        if !keepAlive {
            appendField(&out, "Connection", "close")
        } else if version == .http10 {
            appendField(&out, "Connection", "keep-alive")
        }
        out.append(0x0D)
        out.append(0x0A)
        if !omitBody && !bodyless && framing == .length {
            out.append(contentsOf: response.body)
        }
    }

    /// One piece of a streamed body: a chunk (size in hex, CRLF, the bytes, CRLF), or the bytes
    /// as they are when the body ends with the connection. Nothing for no bytes (an empty chunk
    /// would end the body).
    static func appendChunk(_ out: inout [UInt8], _ bytes: [UInt8], chunked: Bool) {
        guard !bytes.isEmpty else { return }
        guard chunked else { return out.append(contentsOf: bytes) }
        var size = bytes.count
        var hex: [UInt8] = []
        repeat {
            let d = UInt8(size & 0xF)
            hex.append(d < 10 ? 0x30 + d : 0x57 + d)
            size >>= 4
        } while size > 0
        out.append(contentsOf: hex.reversed())
        out.append(contentsOf: [0x0D, 0x0A])
        out.append(contentsOf: bytes)
        out.append(contentsOf: [0x0D, 0x0A])
    }

    /// The end of a chunked body: the last chunk, no trailers.
    static let lastChunk: [UInt8] = Array("0\r\n\r\n".utf8)

    /// `Content-Length: <n>` and CRLF in one copy: the name in two stores, the digits
    /// written in place (no `String`, no iterator).
    static func appendContentLength(_ out: inout [UInt8], _ n: Int) {
        withUnsafeTemporaryAllocation(byteCount: 48, alignment: 8) { line in
            line.storeBytes(of: UInt64(0x2d74_6e65_746e_6f43).littleEndian, toByteOffset: 0, as: UInt64.self)  // "Content-"
            line.storeBytes(of: UInt64(0x203a_6874_676e_654c).littleEndian, toByteOffset: 8, as: UInt64.self)  // "Length: "
            var v = UInt(max(0, n))
            var digits = 1
            var rest = v / 10
            while rest > 0 {
                digits += 1
                rest /= 10
            }
            var d = 16 + digits
            repeat {
                d -= 1
                line.storeBytes(of: 0x30 &+ UInt8(truncatingIfNeeded: v % 10), toByteOffset: d, as: UInt8.self)
                v /= 10
            } while v > 0
            line.storeBytes(of: UInt16(0x0A0D).littleEndian, toByteOffset: 16 + digits, as: UInt16.self)
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: line[0..<(18 + digits)]))
        }
    }

    /// `name: value` and CRLF; a short line is put together first and appended in one copy (each
    /// append checks the array's uniqueness and capacity).
    @inline(__always)
    static func appendField(_ out: inout [UInt8], _ name: String, _ value: String) {
        var name = name
        var value = value
        name.withUTF8 { n in
            value.withUTF8 { v in
                let total = n.count + v.count + 4
                guard total <= 256 else {
                    out.append(contentsOf: n)
                    out.append(0x3A)
                    out.append(0x20)
                    out.append(contentsOf: v)
                    out.append(0x0D)
                    out.append(0x0A)
                    return
                }
                withUnsafeTemporaryAllocation(byteCount: 256, alignment: 8) { line in
                    UnsafeMutableRawBufferPointer(rebasing: line[0..<n.count]).copyMemory(from: UnsafeRawBufferPointer(n))
                    line.storeBytes(of: UInt16(0x203A).littleEndian, toByteOffset: n.count, as: UInt16.self)
                    UnsafeMutableRawBufferPointer(rebasing: line[(n.count + 2)..<(n.count + 2 + v.count)])
                        .copyMemory(from: UnsafeRawBufferPointer(v))
                    line.storeBytes(of: UInt16(0x0A0D).littleEndian, toByteOffset: total - 2, as: UInt16.self)
                    out.append(contentsOf: UnsafeRawBufferPointer(rebasing: line[0..<total]))
                }
            }
        }
    }
}

/// The `Date` field line, formatted once a second (RFC 9110 IMF-fixdate).
struct DateCache {
    private var second: Int64 = -1
    private(set) var line: [UInt8] = []

    /// Refreshes the line when `epochSeconds` moved on.
    mutating func update(epochSeconds: Int64) {
        guard epochSeconds != second else { return }
        second = epochSeconds
        line = Array("Date: \(Self.imfFixdate(epochSeconds))\r\n".utf8)
    }

    /// "Sun, 06 Nov 1994 08:49:37 GMT" for a time in seconds since the epoch.
    static func imfFixdate(_ t: Int64) -> String {
        let days = t >= 0 ? t / 86400 : (t - 86399) / 86400
        let secs = Int(t - days * 86400)
        // Civil-from-days (Howard Hinnant's algorithm).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = Int(doy - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        let year = Int(yoe + era * 400 + (month <= 2 ? 1 : 0))
        let weekday = Int(((days % 7) + 11) % 7)  // 1970-01-01 was a Thursday
        let names = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return
            "\(names[weekday]), \(two(day)) \(months[month - 1]) \(year) \(two(secs / 3600)):\(two(secs / 60 % 60)):\(two(secs % 60)) GMT"
    }
}
