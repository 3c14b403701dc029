/// Why a request was refused before it reached a handler.
///
/// A struct over a private code: `label` is payload-free and fit for metrics and logs,
/// `status` is the answer the server sends before closing the connection.
package struct HTTPParseError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Code: String, Sendable {
        case badRequestLine = "bad_request_line"
        case badMethod = "bad_method"
        case badTarget = "bad_target"
        case targetTooLong = "target_too_long"
        case badVersion = "bad_version"
        case unsupportedVersion = "unsupported_version"
        case badHeader = "bad_header"
        case obsFold = "obs_fold"
        case headersTooLarge = "headers_too_large"
        case tooManyHeaders = "too_many_headers"
        case missingHost = "missing_host"
        case duplicateHost = "duplicate_host"
        case badHost = "bad_host"
        case duplicateAuthorization = "duplicate_authorization"
        case methodNotImplemented = "method_not_implemented"
        case badContentLength = "bad_content_length"
        case conflictingFraming = "conflicting_framing"
        case badTransferEncoding = "bad_transfer_encoding"
        case unsupportedTransferCoding = "unsupported_transfer_coding"
        case badChunk = "bad_chunk"
        case badTrailer = "bad_trailer"
        case bodyTooLarge = "body_too_large"
    }

    private let code: Code
    /// A short message safe for logs and for the client: it never quotes the request.
    package let message: String

    private init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// A stable, payload-free label (`bad_header`, `body_too_large`, ...).
    package var label: String { code.rawValue }

    /// The HTTP status the server answers with.
    package var status: Int {
        switch code {
        case .targetTooLong: 414
        case .headersTooLarge, .tooManyHeaders: 431
        case .bodyTooLarge: 413
        case .unsupportedVersion: 505
        case .unsupportedTransferCoding, .methodNotImplemented: 501
        default: 400
        }
    }

    package var description: String { "\(label): \(message)" }

    static let badRequestLine = Self(.badRequestLine, "malformed request line")
    static let badMethod = Self(.badMethod, "malformed method")
    static let badTarget = Self(.badTarget, "malformed request target")
    static let targetAboveRoot = Self(.badTarget, "request target climbs above the root")
    static let targetTooLong = Self(.targetTooLong, "request target too long")
    static let badVersion = Self(.badVersion, "malformed HTTP version")
    static let unsupportedVersion = Self(.unsupportedVersion, "HTTP version not supported")
    static let badHeader = Self(.badHeader, "malformed header field")
    static let obsFold = Self(.obsFold, "obsolete line folding is not accepted")
    static let headersTooLarge = Self(.headersTooLarge, "header block too large")
    static let tooManyHeaders = Self(.tooManyHeaders, "too many header fields")
    static let missingHost = Self(.missingHost, "missing Host header")
    static let duplicateHost = Self(.duplicateHost, "repeated Host header")
    static let badHost = Self(.badHost, "malformed or empty Host header")
    static let duplicateAuthorization = Self(.duplicateAuthorization, "repeated Authorization header")
    static let methodNotImplemented = Self(.methodNotImplemented, "method not in the HTTP method registry")
    static let badContentLength = Self(.badContentLength, "malformed or repeated Content-Length")
    static let conflictingFraming = Self(.conflictingFraming, "Content-Length together with Transfer-Encoding")
    static let badTransferEncoding = Self(.badTransferEncoding, "malformed Transfer-Encoding")
    static let unsupportedTransferCoding = Self(.unsupportedTransferCoding, "transfer coding not implemented")
    static let badChunk = Self(.badChunk, "malformed chunked body")
    static let badTrailer = Self(.badTrailer, "malformed trailer field")
    static let bodyTooLarge = Self(.bodyTooLarge, "request body too large")
}
