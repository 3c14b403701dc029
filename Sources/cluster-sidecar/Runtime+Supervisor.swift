import Glibc
import Logging
import SidecarCluster
import SidecarPosix
import SidecarRegistry
import SidecarSettings
import SidecarSupervisor

extension Runtime {
    /// Starts the supervisor and its first generation of workers (a failure exits 1).
    func startSupervisor(_ s: Supervision, context: SidecarContext, localAPI: SocketAddress, logger: Logger) -> Supervisor {
        let launch = Supervisor.Launch(
            command: s.command, environment: s.environment, listener: s.listener, address: s.address,
            sidecarURL: LocalAPIOptions.baseURL(localAPI),
            withheld: Self.withheldFromWorkers)
        do throws(SystemError) {
            let supervisor = try Supervisor(
                settings: s.settings, launch: launch, workersReady: { [health = context.health] in health.setWorkersReady($0) },
                logger: logger)
            try supervisor.start()
            context.attach(supervisor: supervisor, socket: s.socketAddress)
            logger.info(
                "supervising",
                metadata: [
                    "command": .array(s.command.map { .string($0) }), "workers": "\(s.settings.workers)",
                    "socket": "\(s.socketAddress ?? "none")",
                ])
            return supervisor
        } catch {
            Environment.fail("cannot start the supervisor: \(error)", status: ExitStatus.startup)
        }
    }

    /// Never passed to a worker: the sidecar's credentials, and the embedded registry's secrets
    /// (the same environment may serve both), each with its `_FILE` form.
    static let withheldFromWorkers: Set<String> = {
        let keys: [any SettingKey] = ConfigKey.withheldFromWorkers + RegistryKey.allCases.filter(\.isSecret)
        return Set(keys.flatMap(\.variables))
    }()

    /// SIGUSR2: a rolling restart, or one log line saying why not.
    static func reload(_ supervisor: Supervisor, _ logger: Logger) async {
        if case .failure(let refusal) = await supervisor.reload() {
            logger.warning("SIGUSR2: reload refused", metadata: ["reason": "\(refusal)"])
        }
    }
}
