/// A secret value: usable by the code, never printed.
public struct Secret: Sendable, Equatable, CustomStringConvertible {
    /// The secret itself; do not log it.
    public let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { "<redacted>" }
}
