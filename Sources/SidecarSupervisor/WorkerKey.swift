import SidecarPosix
import SidecarSettings

/// The settings of `cluster-sidecar run` (supervisor mode), read like the sidecar's own.
package enum WorkerKey: String, CaseIterable, SettingKey {
    case workers = "APP_WORKERS"
    case address = "APP_ADDRESS"
    case port = "APP_PORT"
    case ready = "APP_READY"
    case readyTimeout = "APP_READY_TIMEOUT"
    case stopTimeout = "APP_STOP_TIMEOUT"
    case maxMemory = "APP_MAX_MEMORY"
    case pidDirectory = "APP_PID_DIR"

    package var variable: String { rawValue }

    package var meaning: String {
        switch self {
        case .workers: "Worker processes; auto: one per core."
        case .address: "The application's shared listening address."
        case .port: "The application's shared listening port, fd 3 of every worker; 0: any free port."
        case .ready: "When a new worker is ready: notify (it sends READY=1 to NOTIFY_SOCKET) or seconds alive."
        case .readyTimeout: "Seconds a new worker has to become ready."
        case .stopTimeout: "Seconds between SIGTERM and SIGKILL when a worker is stopped."
        case .maxMemory: "MiB of resident memory above which a worker is replaced, rolling; 0: off."
        case .pidDirectory: "Directory for worker-<id>.pid files."
        }
    }

    package var defaultText: String {
        switch self {
        case .workers: "1"
        case .address: "0.0.0.0"
        case .port: "unset, workers get no socket"
        case .ready: "1"
        case .readyTimeout: "30"
        case .stopTimeout: "30"
        case .maxMemory: "0"
        case .pidDirectory: "none"
        }
    }
}

/// `cluster-sidecar run`'s checked settings: the supervisor's, and the shared socket's address.
package struct WorkerConfiguration: Sendable {
    package var supervisor = SupervisorSettings()
    /// nil: workers get no socket.
    package var address: SocketAddress?

    /// Resolves every `WorkerKey`; `cores` is what `auto` means.
    package static func resolve(_ reader: SettingsReader, cores: Int) throws(ConfigError) -> WorkerConfiguration {
        var c = WorkerConfiguration()
        if reader.raw(WorkerKey.workers)?.lowercased() == "auto" {
            c.supervisor.workers = max(1, cores)
        } else {
            c.supervisor.workers = try reader.integer(WorkerKey.workers, 1...1024) ?? 1
        }
        if reader.raw(WorkerKey.port) != nil {
            c.address = try reader.address(WorkerKey.address, WorkerKey.port, default: SocketAddress(host: "0.0.0.0", port: 0)!)
        } else if reader.raw(WorkerKey.address) != nil {
            throw ConfigError(reader.name(WorkerKey.address), "needs APP_PORT too")
        }
        if let ready = reader.raw(WorkerKey.ready) {
            if ready.lowercased() == "notify" {
                c.supervisor.readiness = .notify
            } else {
                guard let d = try? reader.duration(WorkerKey.ready) else {
                    throw ConfigError(reader.name(WorkerKey.ready), "'\(ready)' is neither notify nor a number of seconds")
                }
                c.supervisor.readiness = .after(d)
            }
        }
        c.supervisor.readyTimeout = try reader.duration(WorkerKey.readyTimeout, positive: true) ?? c.supervisor.readyTimeout
        c.supervisor.stopTimeout = try reader.duration(WorkerKey.stopTimeout) ?? c.supervisor.stopTimeout
        c.supervisor.maxMemoryBytes = (try reader.integer(WorkerKey.maxMemory, 0...1 << 30) ?? 0) << 20
        c.supervisor.pidDirectory = try reader.text(WorkerKey.pidDirectory)
        if case .after(let d) = c.supervisor.readiness, d >= c.supervisor.readyTimeout {
            throw ConfigError(reader.name(WorkerKey.ready), "must be below APP_READY_TIMEOUT (\(c.supervisor.readyTimeout.secondsText))")
        }
        return c
    }
}
