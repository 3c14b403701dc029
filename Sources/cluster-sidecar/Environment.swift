import Glibc
import SidecarCluster
import SidecarSettings

/// Process-level helpers: the environment, files, fatal exits.
enum Environment {
    /// The process environment as a dictionary.
    static func current() -> [String: String] {
        var result: [String: String] = [:]
        var cursor = environ
        while let entry = cursor.pointee {
            let pair = String(cString: entry)
            if let eq = pair.firstIndex(of: "=") {
                result[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
            }
            cursor += 1
        }
        return result
    }

    /// The sidecar's settings from `environment` and `flags` (a bad one exits 64 naming it),
    /// and how to read them again (SIGHUP).
    static func resolveSettings(
        environment: [String: String], flags: [String: String]
    ) -> (SidecarConfiguration, @Sendable () throws(ConfigError) -> SidecarConfiguration) {
        let resolve: @Sendable () throws(ConfigError) -> SidecarConfiguration = { () throws(ConfigError) in
            try ConfigResolver(environment: environment, flags: flags).resolve()
        }
        do {
            return (try resolve(), resolve)
        } catch {
            fail(error.description, status: ExitStatus.configuration)
        }
    }

    /// Prints one line on stderr and exits with `status`.
    static func fail(_ line: String, status: Int32) -> Never {
        let text = "cluster-sidecar: \(line)\n"
        _ = text.withCString { write(2, $0, strlen($0)) }
        exit(status)
    }
}
