import ArgumentParser
import CSidecarSystem
import Glibc
import Logging
import ServiceLifecycle
import SidecarClient
import SidecarCluster
import SidecarHTTP
import SidecarPosix
import SidecarRegistry
import SidecarServer
import SidecarSettings
import SidecarTLS

/// `cluster-sidecar registry`: the embedded development registry (the mIT side of the contract).
struct RegistryCommand: ParsableCommand {
    static let configuration: CommandConfiguration = {
        CommandConfiguration(
            commandName: "registry",
            abstract: "Run the embedded registry (mIT's side of the contract, in memory or on etcd) with a token endpoint.",
            usage: "cluster-sidecar registry \(CommandSettings.usage)",
            discussion: """
                Serves POST/GET /servers, PUT /servers/{id}/lease, DELETE /servers/{id} (bearer token \
                required) and POST /oauth/token (client-credentials grant, HS256 tokens signed with the \
                registry secret: give the sidecars the same secret as JWT_SECRET). A server that misses \
                three lease intervals is dropped and its peers are told (DELETE /servers/{id}); peers are \
                told of a join (POST /itResources). With --store etcd the servers live in etcd, each key \
                bound to a lease: any number of replicas serve the same registry, and one of them at a \
                time pushes joins and leaves from a watch (GET /status says which). Each setting is a flag and an environment variable; \
                the flag wins.

                \(CommandSettings.registry.help(title: "SETTINGS:", width: CommandSettings.helpWidth))
                """
        )
    }()

    @OptionGroup var settings: SettingArguments

    func run() throws {
        csidecar_block_signals()
        let configuration: RegistryConfiguration
        do {
            configuration = try RegistryConfiguration.resolve(
                SettingsReader(environment: Environment.current(), flags: settings.values(CommandSettings.registry)))
        } catch {
            Environment.fail(error.description, status: ExitStatus.configuration)
        }
        let level = configuration.logLevel
        LoggingSystem.bootstrap { JSONLogHandler(label: $0, level: level) }
        Signals.run { await Self.serve(configuration) }
    }

    /// Binds the listener (a taken port exits 98 here), then runs the server and the lease
    /// expiry as one service group until a signal.
    private static func serve(_ configuration: RegistryConfiguration) async -> Int32 {
        let logger = Logger(label: "registry")
        let keys = await HS256Keys.make(secret: configuration.settings.secret)
        var outbound = ClientConfiguration()
        outbound.caBundle = configuration.caFile
        outbound.clientCertificate = configuration.certificateFile
        outbound.clientKey = configuration.keyFile
        var store = RegistryService.Store.memory
        if case .etcd(let endpoints, let prefix, let caFile, let certificate, let key) = configuration.store {
            var toEtcd = ClientConfiguration(connectTimeout: .seconds(1), environmentProxies: false)
            toEtcd.keepAliveProbes = .seconds(10)
            toEtcd.caBundle = caFile
            toEtcd.clientCertificate = certificate
            toEtcd.clientKey = key
            store = .etcd(EtcdClient(urls: endpoints, client: CurlClient(configuration: toEtcd), logger: logger), EtcdKeys(prefix: prefix))
        }
        let service = RegistryService(
            settings: configuration.settings, store: store, client: CurlClient(configuration: outbound), keys: keys, logger: logger)
        var listener = ListenerSpec(name: "registry", address: configuration.address, router: service.router())
        listener.tls = configuration.tls.map { TLSListener($0, requiresClientCertificate: false) }
        let http = HTTPServer(configuration: ServerConfiguration(), listeners: [listener], logger: logger)
        let bound: [SocketAddress]
        do {
            bound = try http.start()
        } catch {
            Environment.fail(
                "\(error) [REGISTRY_ADDRESS/REGISTRY_PORT]", status: error.isAddressInUse ? ExitStatus.addressInUse : ExitStatus.startup)
        }
        logger.info(
            "registry listening",
            metadata: [
                "address": "\(bound[0])", "lease_time": "\(configuration.settings.leaseTime.seconds)", "pid": "\(getpid())",
                "tls": "\(configuration.tls != nil)", "store": "\(service.storeName)",
            ])
        // SIGHUP stops nothing here either: the registry has nothing to read again.
        let signals = SignalService(logger: logger, refreshSettings: { logger.notice("SIGHUP: the registry has no settings to refresh") }) {
            signal in
            logger.info("registry stopping", metadata: ["signal": "\(signal)"])
        }
        await Lifecycle.run(
            [
                .init(service: HTTPServerService(server: http, health: nil, logger: logger)), .init(service: service),
                // Start-up's pages back to the page cache, as the sidecar does.
                .init(service: StartupTrim(clock: SystemClock()), successTerminationBehavior: .ignore),
            ], signals: signals,
            drainTimeout: .seconds(5), logger: logger)
        return ExitStatus.clean
    }
}
