import ArgumentParser
import CSidecarSystem
import Glibc
import Logging
import SidecarCluster
import SidecarClient
import SidecarHTTP
import SidecarPosix
import SidecarRegistry

/// `cluster-sidecar registry`: the embedded development registry (the mIT side of the contract).
struct RegistryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "registry",
        abstract: "Run the embedded registry (mIT's side of the contract, in memory) with a token endpoint.",
        discussion: """
            Serves POST/GET /servers, PUT /servers/{id}/lease, DELETE /servers/{id} (bearer token \
            required) and POST /oauth/token (client-credentials grant, HS256 tokens signed with the \
            registry secret: give the sidecars the same secret as JWT_SECRET). A server that misses \
            three lease intervals is dropped and its peers are told (DELETE /servers/{id}); peers are \
            told of a join (POST /itResources). Each option is also an environment variable.
            """
    )

    @Option(help: "Listen address (env REGISTRY_ADDRESS; default: 127.0.0.1).")
    var address: String?
    @Option(help: "Listen port, 0 for any (env REGISTRY_PORT; default: 8400).")
    var port: String?
    @Option(name: .customLong("lease-time"), help: "Lease time handed out, in seconds (env REGISTRY_LEASE_TIME; default: 60).")
    var leaseTime: String?
    @Option(help: "HS256 secret for tokens (env REGISTRY_SECRET or REGISTRY_SECRET_FILE; required).")
    var secret: String?
    @Option(name: .customLong("client-id"), help: "Accepted OAuth client id (env REGISTRY_CLIENT_ID; default: any).")
    var clientID: String?
    @Option(name: .customLong("client-secret"), help: "Accepted OAuth client secret (env REGISTRY_CLIENT_SECRET; default: any).")
    var clientSecret: String?
    @Option(name: .customLong("log-level"), help: "Log level (env LOG_LEVEL; default: info).")
    var logLevel: String?

    func run() throws {
        csidecar_block_signals()
        let env = Environment.current()
        func value(_ flag: String?, _ variable: String) -> String? { flag ?? env[variable].flatMap { $0.isEmpty ? nil : $0 } }
        let host = value(address, "REGISTRY_ADDRESS") ?? "127.0.0.1"
        let portText = value(port, "REGISTRY_PORT") ?? "8400"
        guard let portNumber = UInt16(portText) else { Environment.fail("configuration error: REGISTRY_PORT: '\(portText)' is not a port (0-65535)", status: ExitStatus.configuration) }
        guard let bind = SocketAddress(host: host, port: portNumber) else {
            Environment.fail("configuration error: REGISTRY_ADDRESS: '\(host)' is not a numeric IPv4 or IPv6 address", status: ExitStatus.configuration)
        }
        let leaseText = value(leaseTime, "REGISTRY_LEASE_TIME") ?? "60"
        guard let lease = Double(leaseText), lease > 0, lease.isFinite else {
            Environment.fail("configuration error: REGISTRY_LEASE_TIME: '\(leaseText)' is not a duration in seconds above 0", status: ExitStatus.configuration)
        }
        var secretValue = value(secret, "REGISTRY_SECRET")
        if secretValue == nil, let file = env["REGISTRY_SECRET_FILE"], !file.isEmpty {
            guard let text = Environment.readFile(file) else { Environment.fail("configuration error: REGISTRY_SECRET_FILE: cannot read '\(file)'", status: ExitStatus.configuration) }
            secretValue = String(text.reversed().drop(while: \.isNewline).reversed())
        }
        guard let secretValue, !secretValue.isEmpty else {
            Environment.fail("configuration error: REGISTRY_SECRET: is required (the HS256 secret shared with the sidecars)", status: ExitStatus.configuration)
        }
        guard secretValue.utf8.count >= HS256Keys.minimumSecretBytes else {
            Environment.fail("configuration error: REGISTRY_SECRET: must be at least \(HS256Keys.minimumSecretBytes) bytes (HS256)", status: ExitStatus.configuration)
        }
        let level = Logger.Level(rawValue: (value(logLevel, "LOG_LEVEL") ?? "info").lowercased()) ?? .info
        LoggingSystem.bootstrap { JSONLogHandler(label: $0, level: level) }
        let logger = Logger(label: "registry")

        let settings = RegistryService.Settings(
            leaseTime: lease, secret: Secret(secretValue), clientID: value(clientID, "REGISTRY_CLIENT_ID"),
            clientSecret: value(clientSecret, "REGISTRY_CLIENT_SECRET").map(Secret.init))
        let keys = Blocking.run { await HS256Keys.make(secret: settings.secret) }
        let service = RegistryService(settings: settings, client: CurlClient(), keys: keys, logger: logger)
        let http = HTTPServer(configuration: ServerConfiguration(), listeners: [ListenerSpec(name: "registry", address: bind, router: service.router())], logger: logger)
        let bound: [SocketAddress]
        do {
            bound = try http.start()
        } catch {
            Environment.fail("\(error) [REGISTRY_ADDRESS/REGISTRY_PORT]", status: error.isAddressInUse ? ExitStatus.addressInUse : ExitStatus.startup)
        }
        Task { await service.runExpiry() }
        logger.info("registry listening", metadata: ["address": "\(bound[0])", "lease_time": "\(lease)", "pid": "\(getpid())"])
        let signal = csidecar_wait_signal()
        logger.info("registry stopped", metadata: ["signal": "\(signal)"])
        Glibc.exit(ExitStatus.clean)
    }
}

/// Runs async set-up code from the synchronous command and waits for it.
enum Blocking {
    static func run<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
        let box = ResultBox<T>()
        let done = DispatchlessSemaphore()
        Task {
            box.value = await body()
            done.signal()
        }
        done.wait()
        return box.value!
    }

    private final class ResultBox<T>: @unchecked Sendable {  // written once before signal, read after wait
        var value: T?
    }
}

/// A one-shot semaphore on a pthread mutex and condition (no Dispatch, no Foundation).
final class DispatchlessSemaphore: @unchecked Sendable {  // all state behind the mutex
    private var mutex = pthread_mutex_t()
    private var cond = pthread_cond_t()
    private var signalled = false

    init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&cond, nil)
    }

    func signal() {
        pthread_mutex_lock(&mutex)
        signalled = true
        pthread_cond_signal(&cond)
        pthread_mutex_unlock(&mutex)
    }

    func wait() {
        pthread_mutex_lock(&mutex)
        while !signalled { pthread_cond_wait(&cond, &mutex) }
        pthread_mutex_unlock(&mutex)
    }
}
