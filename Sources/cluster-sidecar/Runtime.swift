import CSidecarSystem
import Glibc
import Logging
import SidecarCore

/// Wires the configuration to the server and waits for signals on the main thread.
struct Runtime {
    let configuration: SidecarConfiguration

    func run() -> Never {
        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level) }
        let logger = Logger(label: "cluster-sidecar")

        var server = configuration.server
        let fileLimit = ProcessLimits.raiseOpenFiles(to: server.maxConnections + 1024)
        if fileLimit < server.maxConnections + 64 {
            server.maxConnections = max(16, fileLimit - 64)
            logger.warning("open-file limit caps connections", metadata: ["max_connections": "\(server.maxConnections)"])
        }

        let health = HealthState(registered: configuration.mitURL == nil)
        let http = HTTPServer(
            configuration: server,
            listeners: [
                ListenerSpec(name: "local", address: configuration.localAddress, router: SidecarRoutes.local(configuration: configuration, health: health)),
                ListenerSpec(name: "cluster", address: configuration.clusterAddress, router: SidecarRoutes.cluster(configuration: configuration, health: health)),
            ],
            logger: logger)
        let bound: [SocketAddress]
        do {
            bound = try http.start()
        } catch {
            let variables = error.listener == "local" ? "LOCAL_ADDRESS/LOCAL_PORT" : "CLUSTER_ADDRESS/CLUSTER_PORT"
            Environment.fail("\(error) [\(variables)]", status: error.isAddressInUse ? ExitStatus.addressInUse : ExitStatus.startup)
        }
        let clusterURL = configuration.clusterURL ?? "http://\(HostAddress.primaryIPv4() ?? "127.0.0.1"):\(bound[1].port)"
        if configuration.jwtSecret == nil && configuration.jwtPublicKeyFile == nil {
            logger.warning("no JWT_SECRET or JWT_PUBLIC_KEY_FILE: the cluster API refuses every call but health")
        }
        logger.info("listening", metadata: [
            "local": "\(bound[0])", "cluster": "\(bound[1])", "cluster_url": "\(clusterURL)",
            "pid": "\(getpid())",
        ])
        _ = csidecar_trim_startup_pages()
        waitForShutdown(http: http, health: health, logger: logger)
    }

    /// First signal: leave rotation, drain (at most DRAIN_TIMEOUT), exit 0. A second: exit at once.
    private func waitForShutdown(http: HTTPServer, health: HealthState, logger: Logger) -> Never {
        let signal = csidecar_wait_signal()
        logger.info("shutting down", metadata: ["signal": "\(signal)", "open_connections": "\(http.openConnections)"])
        health.beginDraining()
        http.beginDrain()
        let deadline = csidecar_monotonic_ns() + UInt64(configuration.drainTimeout * 1_000_000_000)
        while true {
            if http.isDrained {
                logger.info("stopped", metadata: ["reason": "drained"])
                exit(ExitStatus.clean)
            }
            if csidecar_monotonic_ns() >= deadline {
                logger.warning("stopped", metadata: ["reason": "drain timeout", "open_connections": "\(http.openConnections)"])
                exit(ExitStatus.clean)
            }
            let second = csidecar_wait_signal_timeout(5)
            if second != 0 {
                logger.warning("stopped", metadata: ["reason": "second signal", "signal": "\(second)"])
                exit(128 + second)
            }
        }
    }
}
