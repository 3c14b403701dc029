/// A setting that stops start-up: which variable, and why. Never quotes a secret.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The environment variable at fault (`CLUSTER_PORT`, `JWT_SECRET_FILE`, ...).
    public let variable: String
    public let reason: String

    public init(_ variable: String, _ reason: String) {
        self.variable = variable
        self.reason = reason
    }

    /// One line for stderr.
    public var description: String { "configuration error: \(variable): \(reason)" }
}
