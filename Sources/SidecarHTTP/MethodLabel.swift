/// A request method as a bounded label: the registered methods a client is likely to send,
/// and `other` for every other token, so that a metric never grows a series per made-up method.
package enum MethodLabel: UInt8, Sendable, CaseIterable {
    case get, head, post, put, delete, patch, options, trace, connect, other

    /// How many labels there are (`allCases.count` without building the array).
    package static let count = 10

    /// The label of `method` (case-sensitive, as methods are).
    @inline(__always)
    package init(_ method: String) {
        switch method {
        case "GET": self = .get
        case "HEAD": self = .head
        case "POST": self = .post
        case "PUT": self = .put
        case "DELETE": self = .delete
        case "PATCH": self = .patch
        case "OPTIONS": self = .options
        case "TRACE": self = .trace
        case "CONNECT": self = .connect
        default: self = .other
        }
    }

    /// The label's text: the method itself, or `other`.
    package var text: String {
        switch self {
        case .other: "other"
        default: String(describing: self).uppercased()
        }
    }
}
