/// A setting that stops start-up: which variable, and why. Never quotes a secret.
package struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The environment variable at fault (`CLUSTER_PORT`, `JWT_SECRET_FILE`, ...).
    package let variable: String
    package let reason: String

    package init(_ variable: String, _ reason: String) {
        self.variable = variable
        self.reason = reason
    }

    /// One line for stderr.
    package var description: String { "configuration error: \(variable): \(reason)" }
}
