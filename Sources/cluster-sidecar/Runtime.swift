import CSidecarSystem
import CoreMetrics
import Glibc
import Logging
import Prometheus
import ServiceLifecycle
import SidecarClient
import SidecarCluster
import SidecarHTTP
import SidecarPosix
import SidecarRegistry
import SidecarServer
import SidecarSettings
import SidecarSupervisor
import SidecarTLS

/// Wires the configuration to the server, the registrar and the prober, and runs them as
/// one service group.
struct Runtime {
    let configuration: SidecarConfiguration
    /// Reads the settings again (SIGHUP).
    let resolve: @Sendable () throws(ConfigError) -> SidecarConfiguration
    /// `cluster-sidecar run`: the application's workers.
    var supervision: Supervision? = nil

    /// Builds everything, binds the listeners (a failure exits here, before anything runs),
    /// then runs the services until shutdown. Returns the exit status.
    func run() async -> Int32 {
        let levels = LogLevelSwitch(configuration.logLevel)
        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: levels) }
        let logger = Logger(label: "cluster-sidecar")

        var server = configuration.server
        // Inbound connections, the fan-out engines' connections, and some room for the rest.
        let fileLimit = ProcessLimits.raiseOpenFiles(to: server.maxConnections + FanOut.connectionsPerLoop * server.loopCount + 1024)
        if fileLimit < server.maxConnections + 64 {
            server.maxConnections = max(16, fileLimit - 64)
            logger.warning("open-file limit caps connections", metadata: ["max_connections": "\(server.maxConnections)"])
        }

        let health = HealthState(registered: configuration.mitURL == nil)
        let client = CurlClient(configuration: configuration.outboundTLS.applied(to: ClientConfiguration()))
        let tokens = TokenProvider(source: Verifiers.tokenSource(configuration), client: client)
        if configuration.mitURL != nil, case .none = Verifiers.tokenSource(configuration) {
            logger.warning("no MIT_TOKEN nor OAUTH_* credentials: calls to mIT and peers carry no token")
        }
        let pem: String?
        let verifier: JWTVerifier
        do throws(ConfigError) {
            pem = try Verifiers.readPEM(configuration)
            verifier = try await Verifiers.make(configuration, pem: pem)
        } catch {
            Environment.fail(error.description, status: ExitStatus.configuration)
        }
        let context = SidecarContext(
            configuration: configuration, health: health, view: ClusterView(limits: configuration.view),
            fanOut: FanOut(settings: configuration.fanOut, tokens: tokens, logger: logger),
            verifier: verifier, announcer: Announcer(client: client, tokens: tokens))
        var cluster = ListenerSpec(name: "cluster", address: configuration.clusterAddress, router: SidecarRoutes.cluster(context: context))
        let clusterTLS = configuration.clusterTLS.map { TLSListener($0.context, requiresClientCertificate: $0.clientCAFile != nil) }
        cluster.tls = clusterTLS
        // Kubernetes' HTTPS probes present no client certificate.
        cluster.openPaths = ["/healthz", "/readyz"]
        let refresher = SettingsRefresher(
            configuration: configuration, pem: pem, resolve: resolve, context: context, tokens: tokens, levels: levels,
            clusterTLS: clusterTLS, logger: logger)
        let http = HTTPServer(
            configuration: server,
            listeners: [
                ListenerSpec(name: "local", address: configuration.localAddress, router: SidecarRoutes.local(context: context)), cluster,
            ],
            logger: logger, middleware: level <= .debug ? [AccessLogMiddleware(logger: logger)] : [], observer: context.metrics)
        context.attach(server: http)
        // Libraries that report through swift-metrics land in the same registry as ours.
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: context.metrics.registry))
        let bound: [SocketAddress]
        do {
            bound = try http.start()
        } catch {
            let variables = error.listener == "local" ? "LOCAL_ADDRESS/LOCAL_PORT" : "CLUSTER_ADDRESS/CLUSTER_PORT"
            Environment.fail("\(error) [\(variables)]", status: error.isAddressInUse ? ExitStatus.addressInUse : ExitStatus.startup)
        }
        if let path = configuration.pidFile { PidFile.write(path) }
        let supervisor = supervision.map { startSupervisor($0, context: context, localAPI: bound[0], logger: logger) }
        let clusterURL = configuration.clusterURL ?? HostAddress.url(reaching: bound[1], tls: clusterTLS != nil)
        if configuration.jwtSecret == nil && configuration.jwtPublicKeyFile == nil {
            logger.warning("no JWT_SECRET or JWT_PUBLIC_KEY_FILE: the cluster API refuses every call but health")
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: HTTPServerService(server: http, health: health, logger: logger)),
            .init(service: StartupTrim(clock: SystemClock()), successTerminationBehavior: .ignore),
            // Ends the event streams at the shutdown, before the server drains.
            .init(service: EventStreamKeepAlive(view: context.view)),
        ]
        if let fanOut = context.fanOut { services.append(.init(service: fanOut.prober())) }
        // The workers stop after the registrar has unregistered, and before the server drains.
        if let supervisor { services.append(.init(service: SupervisorService(supervisor))) }
        services += membership(
            context: context, clusterURL: clusterURL, client: client, tokens: tokens, supervisor: supervisor, logger: logger)
        logger.info(
            "listening",
            metadata: [
                "local": "\(bound[0])", "cluster": "\(bound[1])", "cluster_url": "\(clusterURL)",
                "registry": "\(configuration.mitURLs.isEmpty ? "none" : configuration.mitURLs.joined(separator: ","))",
                "pid": "\(getpid())",
            ])
        if let tls = configuration.clusterTLS { watchTLSFiles(tls, refresher: refresher, logger: logger) }
        var reloadWorkers: (@Sendable () async -> Void)?
        if let supervisor { reloadWorkers = { await Self.reload(supervisor, logger) } }
        let signals = SignalService(logger: logger, refreshSettings: { await refresher.refresh() }, reloadWorkers: reloadWorkers) {
            signal in
            logger.info("shutting down", metadata: ["signal": "\(signal)", "open_connections": "\(http.openConnections)"])
            health.beginDraining()
        }
        // Shut down in reverse: stop probing, unregister (peers, then mIT), drain the server.
        let stopTimeout = supervision.map { $0.settings.stopTimeout + .seconds(5) } ?? .zero
        await Lifecycle.run(services, signals: signals, drainTimeout: configuration.drainTimeout + stopTimeout, logger: logger)
        PidFile.remove()
        return ExitStatus.clean
    }

    /// Our server in the view; with a registry, the registrar and (with APP_HEALTH_URL) the
    /// prober, as services (the registrar after the server: it unregisters before the drain).
    private func membership(
        context: SidecarContext, clusterURL: String, client: CurlClient, tokens: TokenProvider, supervisor: Supervisor?, logger: Logger
    ) -> [ServiceGroupConfiguration.ServiceConfiguration] {
        let me = ServerInfo(
            id: configuration.serverID ?? "", type: configuration.serverType ?? "", url: configuration.serverURL ?? "",
            clusterUrl: clusterURL)
        guard !configuration.mitURLs.isEmpty else {
            // A cluster of one: ourselves, as "self" of type "standalone" unless SERVER_ID and
            // SERVER_TYPE say otherwise; in the view (the fan-out's one target) once SERVER_URL
            // names the application. The view is dated from start either way.
            var alone = me
            if alone.id.isEmpty { alone.id = "self" }
            if alone.type.isEmpty { alone.type = "standalone" }
            context.attach(me: alone, registrar: nil)
            context.view.replace(with: configuration.serverURL != nil ? [alone] : [])
            return []
        }
        let announcer = context.announcer
        let registrar = Registrar(
            settings: .init(
                retry: configuration.registrationRetry, concurrentDelay: configuration.registrationConcurrentDelay,
                leaseTimeDefault: configuration.leaseTimeDefault, clusterManagement: configuration.clusterManagement,
                fixedID: configuration.serverID),
            registry: MITClient(endpoints: RegistryEndpoints(configuration.mitURLs), client: client, tokens: tokens, logger: logger),
            me: me, view: context.view, health: context.health, logger: logger,
            announce: { await announcer?.announce($0, to: $1) ?? [] },
            leave: { await announcer?.leave($0, to: $1) ?? [] })
        context.attach(me: me, registrar: registrar)
        // Under `run`, registration waits for the first generation of workers to be ready.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: supervisor.map { AfterWorkersReady(supervisor: $0, inner: registrar) } ?? registrar)
        ]
        if let url = configuration.applicationHealthURL {
            context.health.setApplicationHealthy(false)
            let health = context.health
            services.append(
                .init(
                    service: ApplicationHealthProber(url: url, client: client) { healthy in
                        health.setApplicationHealthy(healthy)
                        logger.info("application health changed", metadata: ["healthy": "\(healthy)"])
                        await registrar.applicationHealth(healthy)
                    }))
        }
        return services
    }
}
