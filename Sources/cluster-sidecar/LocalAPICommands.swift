import ArgumentParser
import Glibc
import SidecarClient
import SidecarCluster
import SidecarHTTP
import SidecarPosix
import SidecarSettings

/// Where a running sidecar's local API is, read like the sidecar reads it: the same flags and
/// variables (`LOCAL_ADDRESS`, `LOCAL_PORT`, `LOCAL_API_TOKEN` or `LOCAL_API_TOKEN_FILE`).
/// Shown in the subcommands' help as these, not as the sidecar's whole list.
struct LocalAPIOptions: ParsableArguments {
    /// The sidecar's own settings: `--local-address`, `--local-port`, `--local-api-token(-file)`
    /// are read from here, so that the subcommands take exactly the sidecar's spelling of them
    /// (the others are accepted and ignored).
    @OptionGroup var settings: SettingArguments

    @Option(help: "Seconds to wait for the answer.")
    var timeout: Double = 2

    /// The base URL and token, or a configuration error (exit 64).
    func resolve() -> (baseURL: String, token: Secret?) {
        let reader = SettingsReader(environment: Environment.current(), flags: settings.values(CommandSettings.sidecar))
        do throws(ConfigError) {
            let address = try reader.address(ConfigKey.localAddress, ConfigKey.localPort, default: SidecarConfiguration().localAddress)
            return (Self.baseURL(address), try reader.bearerToken(ConfigKey.localAPIToken))
        } catch {
            Environment.fail(error.description, status: ExitStatus.configuration)
        }
    }

    /// `http://host:port`, reaching a wildcard listener through loopback.
    static func baseURL(_ address: SocketAddress) -> String {
        let host = address.host == "0.0.0.0" ? "127.0.0.1" : address.host == "::" ? "::1" : address.host
        return host.contains(":") ? "http://[\(host)]:\(address.port)" : "http://\(host):\(address.port)"
    }

    /// GET `path` on the local API.
    func get(_ path: String) -> Result<ClientResponse, ClientError> { call("GET", path) }

    /// `method` `path` on the local API.
    func call(_ method: String, _ path: String) -> Result<ClientResponse, ClientError> {
        let (base, token) = resolve()
        let client = CurlClient()
        defer { client.shutdown() }
        var headers: [(String, String)] = []
        if let token { headers.append(("Authorization", "Bearer \(token.value)")) }
        let request = ClientRequest(method: method, url: base + path, headers: headers, timeout: .seconds(exactly: max(0.1, timeout)))
        return Blocking.run {
            do throws(ClientError) {
                return .success(try await client.execute(request))
            } catch {
                return .failure(error)
            }
        }
    }
}

/// `cluster-sidecar health`: a container health check against the local API.
struct HealthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Probe a running sidecar's local /healthz (or /readyz): exit 0, or 1 with one line saying why.",
        discussion: """
            For HEALTHCHECK and exec probes. Finds the sidecar as the sidecar itself reads its settings: \
            --local-address and --local-port, or LOCAL_ADDRESS and LOCAL_PORT (a wildcard address is \
            reached through loopback).
            """)

    @OptionGroup var api: LocalAPIOptions

    @Flag(help: "Probe readiness (/readyz: registered, switched on, application healthy) instead of liveness.")
    var ready = false

    func run() throws {
        let path = ready ? "/readyz" : "/healthz"
        switch api.get(path) {
        case .success(let r) where r.status == 200:
            throw ExitCode.success
        case .success(let r):
            var reason = "answered \(r.status)"
            if case .object(let o)? = JSONValue.parse(r.body), case .object(let e)? = o["error"], case .string(let m)? = e["message"] {
                reason += ": \(m)"
            }
            Environment.fail("\(path) \(reason)", status: 1)
        case .failure(let error):
            Environment.fail("\(path) unreachable at \(api.resolve().baseURL): \(error)", status: 1)
        }
    }
}

/// `cluster-sidecar status`: the local `/status` as tables, or as JSON.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a running sidecar's registration, cluster members and traffic (from its local /status).",
        discussion: """
            Finds the sidecar as the sidecar itself reads its settings: --local-address, --local-port and \
            --local-api-token or --local-api-token-file, or LOCAL_ADDRESS, LOCAL_PORT, LOCAL_API_TOKEN and \
            LOCAL_API_TOKEN_FILE. Exit 0, or 1 with one line saying why.
            """)

    @OptionGroup var api: LocalAPIOptions

    @Flag(help: "Print /status as JSON, for scripts.")
    var json = false

    func run() throws {
        switch api.get("/status") {
        case .success(let r) where r.status == 200:
            if json {
                print(String(decoding: r.body, as: UTF8.self))
            } else if case .object(let status)? = JSONValue.parse(r.body) {
                print(StatusTables.render(status), terminator: "")
            } else {
                Environment.fail("/status answered something that is not a JSON object", status: 1)
            }
        case .success(let r):
            Environment.fail(
                "/status answered \(r.status)\(r.status == 401 ? " (set LOCAL_API_TOKEN or --local-api-token)" : "")", status: 1)
        case .failure(let error):
            Environment.fail("/status unreachable at \(api.resolve().baseURL): \(error)", status: 1)
        }
    }
}

/// `cluster-sidecar reload`: a rolling restart of the workers of a sidecar under `run`
/// (`POST /app/reload`), followed until it ends.
struct ReloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Start a rolling restart of a running `cluster-sidecar run`'s workers and wait until it ends.",
        discussion: """
            Exit 0 when the new generation serves; 1 when it was rolled back (the old one still serves),             refused (another reload runs), or the sidecar cannot be reached, with one line saying why.             Finds the sidecar like `status` does.
            """)

    @OptionGroup var api: LocalAPIOptions

    @Option(help: "Seconds to wait for the reload to end (0: do not wait).")
    var wait: Double = 120

    func run() throws {
        let started: [String: JSONValue]
        switch api.call("POST", "/app/reload") {
        case .success(let r) where r.status == 202:
            started = JSONValue.parse(r.body)?.object ?? [:]
        case .success(let r):
            let message = JSONValue.parse(r.body)?.object?["error"]?.object?["message"]?.text ?? "answered \(r.status)"
            Environment.fail("reload refused: \(message)", status: 1)
        case .failure(let error):
            Environment.fail("/app/reload unreachable at \(api.resolve().baseURL): \(error)", status: 1)
        }
        let generation = started["generation"]?.text ?? "-"
        print("reload to generation \(generation) started")
        guard wait > 0 else { return }
        let end = SystemClock().now + .seconds(exactly: wait)
        while SystemClock().now < end {
            usleep(200_000)
            guard case .success(let r) = api.get("/app/workers"), r.status == 200, let status = JSONValue.parse(r.body)?.object,
                let last = status["lastReload"]?.object, last["generation"]?.text == generation, last["kind"]?.text == "reload"
            else { continue }
            switch last["result"]?.text {
            case "succeeded":
                print("generation \(generation) serves")
                return
            case let result?:
                Environment.fail("reload \(result): \(last["error"]?.text ?? "-")", status: 1)
            case nil:
                continue
            }
        }
        Environment.fail("reload to generation \(generation) still running after \(wait)s (see GET /app/workers)", status: 1)
    }
}
