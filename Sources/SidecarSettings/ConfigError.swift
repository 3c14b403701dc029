/// A setting that stops start-up: which variable, and why. Never quotes a secret.
package struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The environment variable at fault (`CLUSTER_PORT`, `JWT_SECRET_FILE`, ...).
    package let variable: String
    package let reason: String
    /// The other settings at fault, when several were checked at once.
    package var others: [ConfigError] = []

    package init(_ variable: String, _ reason: String) {
        self.variable = variable
        self.reason = reason
    }

    /// One line for stderr per setting at fault.
    package var description: String {
        ([self] + others).map { "configuration error: \($0.variable): \($0.reason)" }.joined(separator: "\n")
    }
}
