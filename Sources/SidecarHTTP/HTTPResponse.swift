/// An answer a handler gives; the server adds framing, `Date` and `x-correlation-id`.
package struct HTTPResponse: Sendable {
    package var status: Int
    /// Fields to send besides the ones the server adds (`Content-Length`, `Date`, ...).
    package var fields: HTTPFields
    package var body: [UInt8]
    /// When true the server closes the connection after this answer.
    package var closeConnection: Bool
    /// Written as `x-correlation-id` (set by `CorrelationMiddleware` from the request's id).
    package var correlationID: CorrelationID?
    /// A body that follows the head piece by piece, as it is made (then `body` is unused): the
    /// server frames it (chunked, or up to the close for HTTP/1.0) and pulls it as it comes.
    package var streamed: (any StreamedBody)?

    package init(status: Int, fields: HTTPFields = HTTPFields(), body: [UInt8] = [], closeConnection: Bool = false) {
        self.status = status
        self.fields = fields
        self.body = body
        self.closeConnection = closeConnection
    }

    /// A JSON answer whose body is `json` (already encoded).
    package static func json(_ status: Int, _ json: String, fields: HTTPFields = HTTPFields()) -> HTTPResponse {
        .json(status, bytes: Array(json.utf8), fields: fields)
    }

    /// A JSON answer whose body is `bytes` (already encoded JSON).
    package static func json(_ status: Int, bytes: [UInt8], fields: HTTPFields = HTTPFields()) -> HTTPResponse {
        var f = fields
        f.append("Content-Type", "application/json")
        return HTTPResponse(status: status, fields: f, body: bytes)
    }

    /// The contract's error shape: `{"error": {"code", "message"}}`.
    package static func error(_ status: Int, code: String, message: String, fields: HTTPFields = HTTPFields()) -> HTTPResponse {
        .json(status, #"{"error":{"code":\#(JSON.quote(code)),"message":\#(JSON.quote(message))}}"#, fields: fields)
    }
}

/// A body made after its head is sent; what it is and how it is read belong to the server
/// (`BodyStream`), so that message code stays free of threads and locks.
package protocol StreamedBody: AnyObject, Sendable {}

/// Minimal JSON text helpers for the answers the core writes itself.
package enum JSON {
    /// `s` as a JSON string literal, quotes included.
    package static func quote(_ s: String) -> String {
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
        return out
    }
}
