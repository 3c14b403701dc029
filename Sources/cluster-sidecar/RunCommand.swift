import ArgumentParser
import CSidecarSystem
import Glibc
import SidecarCluster
import SidecarHTTP
import SidecarPosix
import SidecarSettings
import SidecarSupervisor

/// `cluster-sidecar run [options] -- COMMAND [ARGS...]`: the sidecar, plus the application's
/// workers on one shared socket.
struct RunCommand: ParsableCommand {
    static let configuration: CommandConfiguration = {
        CommandConfiguration(
            commandName: "run",
            abstract: "Run the application's workers under the sidecar: one shared socket, respawns, rolling restarts.",
            usage: "cluster-sidecar run \(CommandSettings.usage) -- <command> [<argument> ...]",
            discussion: """
                Everything the sidecar does, plus APP_WORKERS processes of COMMAND. With APP_PORT the sidecar \
                binds the application's socket itself (a taken port exits 98 before any worker starts) and \
                gives it to every worker as fd 3, the systemd way: LISTEN_FDS=1, LISTEN_PID=<the worker's \
                pid>, LISTEN_FDNAMES=app. Workers also get APP_WORKER_ID (0..N-1), APP_GENERATION, \
                CLUSTER_SIDECAR_URL and, with APP_READY=notify, NOTIFY_SOCKET.

                A worker that exits unasked is started again after 100 ms, doubling to 15 s (reset after \
                30 s up). SIGUSR2, POST /app/reload or `cluster-sidecar reload` start a rolling restart: \
                a whole new generation, and the old one is stopped only once every new worker is ready; \
                a new worker that exits or is not ready in APP_READY_TIMEOUT rolls it back. A second \
                reload while one runs is refused (409).

                SIGTERM or SIGINT: out of rotation, unregister, SIGTERM to every worker, SIGKILL after \
                APP_STOP_TIMEOUT, exit 0. Workers die with the sidecar, even when it is killed.

                \(CommandSettings.workers.help(title: "WORKER SETTINGS:", width: CommandSettings.helpWidth))

                \(CommandSettings.sidecar.help(title: "SIDECAR SETTINGS (as without run):", width: CommandSettings.helpWidth))
                """)
    }()

    @OptionGroup var settings: SettingArguments

    func run() throws {
        csidecar_block_signals()
        let (flagValues, command) = settings.valuesAndCommand(CommandSettings.run)
        guard !command.isEmpty else {
            Environment.fail(
                "run needs the application's command after --, e.g. cluster-sidecar run -- node server.js", status: ExitStatus.configuration
            )
        }
        let environment = Environment.current()
        let appConfiguration: WorkerConfiguration
        do throws(ConfigError) {
            let reader = SettingsReader(environment: environment, flags: flagValues)
            appConfiguration = try WorkerConfiguration.resolve(reader, cores: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        } catch {
            Environment.fail(error.description, status: ExitStatus.configuration)
        }
        // The application's socket first: a taken port stops everything before any worker starts.
        var listener: (fd: Int32, address: SocketAddress)?
        if let address = appConfiguration.address {
            do throws(SystemError) {
                let (fd, port) = try Socket.listenShared(on: address)
                listener = (fd, SocketAddress(host: address.host, port: port)!)
            } catch {
                Environment.fail(
                    "application socket \(address): \(error) [APP_ADDRESS/APP_PORT]",
                    status: error.isAddressInUse ? ExitStatus.addressInUse : ExitStatus.startup)
            }
        }
        var flags = flagValues
        if let listener, flags[ConfigKey.serverURL.rawValue] == nil, (environment[ConfigKey.serverURL.rawValue] ?? "").isEmpty {
            flags[ConfigKey.serverURL.rawValue] = HostAddress.httpURL(reaching: listener.address)
        }
        let (configuration, resolve) = Environment.resolveSettings(environment: environment, flags: flags)
        let supervision = Supervision(
            settings: appConfiguration.supervisor, command: command, environment: environment, listener: listener?.fd,
            address: listener?.address, socketAddress: listener.map { "\($0.address)" })
        let runtime = Runtime(configuration: configuration, resolve: resolve, supervision: supervision)
        Signals.run { await runtime.run() }
    }
}

/// What `run` adds to the runtime.
struct Supervision: Sendable {
    var settings: SupervisorSettings
    var command: [String]
    var environment: [String: String]
    var listener: Int32?
    /// Where `listener` is bound (with its port): later generations get sockets of their own there.
    var address: SocketAddress?
    var socketAddress: String?
}
