/// Reason phrases for the statuses we send.
package enum StatusText {
    package static func reason(_ status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 204: "No Content"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 303: "See Other"
        case 304: "Not Modified"
        case 307: "Temporary Redirect"
        case 308: "Permanent Redirect"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 417: "Expectation Failed"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 505: "HTTP Version Not Supported"
        default: "Unknown"
        }
    }

    /// "HTTP/1.1 200 OK\r\n" as bytes.
    package static func statusLine(_ status: Int) -> [UInt8] {
        Array("HTTP/1.1 \(status) \(reason(status))\r\n".utf8)
    }
}

/// Status lines built once per event loop, so answering never formats one (no lazy global).
package struct StatusLines {
    private var lines: [[UInt8]]

    package init() {
        lines = (100..<600).map { StatusText.statusLine($0) }
    }

    /// The status line of `status` (100-599), else built on the spot.
    package subscript(_ status: Int) -> [UInt8] {
        status >= 100 && status < 600 ? lines[status - 100] : StatusText.statusLine(status)
    }
}
