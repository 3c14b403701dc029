import Foundation

/// The built `cluster-sidecar` binary, run as a child process with its stdout and stderr captured.
package final class SidecarProcess {
    package let process = Process()
    private let out = Pipe()
    private let err = Pipe()
    private var lines: [String] = []
    private var partial = Data()

    package static var binary: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("cluster-sidecar")
    }

    /// Starts the binary with `environment` (on top of PATH only) and `arguments`.
    package init(environment: [String: String] = [:], arguments: [String] = []) throws {
        process.executableURL = Self.binary
        process.arguments = arguments
        var env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin"]
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.standardOutput = out
        process.standardError = err
        try process.run()
    }

    deinit {
        if process.isRunning {
            process.terminate()
            kill(process.processIdentifier, SIGKILL)
        }
    }

    /// Runs the binary with `arguments` to its end: exit status, stdout, stderr.
    package static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, out: String, err: String)
    {
        let p = try SidecarProcess(environment: environment, arguments: arguments)
        let out = String(decoding: p.out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let err = String(decoding: p.err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.process.waitUntilExit()
        return (p.process.terminationStatus, out, err)
    }

    /// Starts on port 0 for both listeners and waits for the "listening" line.
    package static func listening(_ environment: [String: String] = [:]) throws -> (SidecarProcess, local: UInt16, cluster: UInt16) {
        var env = ["LOCAL_PORT": "0", "CLUSTER_PORT": "0", "CLUSTER_ADDRESS": "127.0.0.1"]
        for (k, v) in environment { env[k] = v }
        let p = try SidecarProcess(environment: env)
        guard let line = p.waitForLine(containing: #""message":"listening""#),
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
            let local = (object["local"] as? String)?.split(separator: ":").last.flatMap({ UInt16($0) }),
            let cluster = (object["cluster"] as? String)?.split(separator: ":").last.flatMap({ UInt16($0) })
        else { throw TestFailure("no listening line; stderr: \(p.stderrText())") }
        return (p, local, cluster)
    }

    /// Starts `cluster-sidecar registry` on port 0 and returns it with its port.
    /// - Parameter clientSecret: the secret of the one client (`test`) it grants tokens to.
    /// - Parameter extra: more arguments (`--tls-cert-file ...`).
    package static func registry(
        leaseTime: Double = 1, port: UInt16 = 0, clientSecret: String = "test-secret", extra: [String] = []
    ) throws -> (SidecarProcess, port: UInt16) {
        let arguments =
            [
                "registry", "--port", "\(port)", "--secret", testSecret, "--lease-time", "\(leaseTime)", "--client-id", "test",
                "--client-secret", clientSecret,
            ] + extra
        let p = try SidecarProcess(environment: [:], arguments: arguments)
        guard let line = p.waitForLine(containing: #""message":"registry listening""#),
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
            let bound = (object["address"] as? String)?.split(separator: ":").last.flatMap({ UInt16($0) })
        else { throw TestFailure("registry did not start; stderr: \(p.stderrText())") }
        return (p, bound)
    }

    package static let testSecret = "0123456789abcdef0123456789abcdef"

    /// The environment of a sidecar registered with the registry on `port`.
    package static func memberEnvironment(registry port: UInt16, type: String = "echo", extra: [String: String] = [:]) -> [String: String] {
        var env = [
            "MIT_URL": "http://127.0.0.1:\(port)", "OAUTH_TOKEN_URL": "http://127.0.0.1:\(port)/oauth/token",
            "OAUTH_CLIENT_ID": "test", "OAUTH_CLIENT_SECRET": "test-secret", "SERVER_TYPE": type,
            "SERVER_URL": "http://127.0.0.1:9/app", "JWT_SECRET": testSecret, "REGISTRATION_RETRY": "0.5",
            "REGISTRATION_CONCURRENT_DELAY": "0.5",
        ]
        for (k, v) in extra { env[k] = v }
        return env
    }

    /// Reads stdout lines until one contains `needle` (or `timeout` passes).
    package func waitForLine(containing needle: String, timeout: Double = 10) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let hit = lines.first(where: { $0.contains(needle) }) { return hit }
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { return lines.first(where: { $0.contains(needle) }) }
            partial.append(chunk)
            while let nl = partial.firstIndex(of: 0x0A) {
                lines.append(String(decoding: partial[partial.startIndex..<nl], as: UTF8.self))
                partial.removeSubrange(partial.startIndex...nl)
            }
        }
        return nil
    }

    package func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// Waits for exit (at most `timeout` seconds); returns the status, or nil if still running.
    package func waitForExit(timeout: Double = 10) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(5000) }
        return process.isRunning ? nil : process.terminationStatus
    }

    package func stderrText() -> String {
        if process.isRunning { return "" }
        return String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }
}
