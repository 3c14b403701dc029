/// A secret value: usable by the code, never printed.
package struct Secret: Sendable, Equatable, CustomStringConvertible {
    /// The secret itself; do not log it.
    package let value: String
    package init(_ value: String) { self.value = value }
    package var description: String { "<redacted>" }
}
