import ArgumentParser
import CSidecarSystem
import Glibc
import Logging
import SidecarCluster
import SidecarHTTP
import SidecarPosix
import SidecarServer

/// `cluster-sidecar echo`: the demo's application, a worker for `cluster-sidecar run` that serves
/// the socket it is passed (fd 3, `LISTEN_FDS`) and says `READY=1` when it does: an example of
/// a supervised application, listed in `--help` because the README uses it.
struct EchoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo",
        abstract: "The demo's echo application, an example for `run`: a worker that serves the socket `run` passes it (fd 3).")

    @Option(help: "The node number it reports.")
    var node: Int = 1

    func run() throws {
        csidecar_block_signals()
        let environment = Environment.current()
        guard let fd = SocketActivation.listener(environment: environment) else {
            Environment.fail(
                "echo: no socket passed (LISTEN_FDS, LISTEN_PID): run it as cluster-sidecar run --app-port PORT -- cluster-sidecar echo",
                status: ExitStatus.configuration)
        }
        LoggingSystem.bootstrap { JSONLogHandler(label: $0, level: LogLevelSwitch(.warning)) }
        let logger = Logger(label: "echo")
        let worker = environment["APP_WORKER_ID"] ?? "0"
        let me =
            #""node":\#(node),"worker":\#(Int(worker) ?? 0),"generation":\#(Int(environment["APP_GENERATION"] ?? "") ?? 0),"pid":\#(getpid())"#
        var router = Router()
        router.on("GET", "/health") { _ in .json(200, #"{"status":"ok"}"#) }
        router.on("GET", "/hello/{name}") { request in
            .json(200, #"{\#(me),"hello":\#(JSON.quote(request.pathParameters["name"] ?? ""))}"#)
        }
        let server = HTTPServer(
            configuration: ServerConfiguration(loops: 1), listeners: [ListenerSpec(name: "app", inherited: fd, router: router)],
            logger: logger)
        do { try server.start() } catch { Environment.fail("echo: \(error)", status: ExitStatus.startup) }
        SocketActivation.notify("READY=1\nSTATUS=echo node \(node), worker \(worker)", environment: environment)
        let signals = SignalService(logger: logger) { _ in }
        Signals.run {
            await Lifecycle.run(
                [.init(service: HTTPServerService(server: server, health: nil, logger: logger))], signals: signals,
                drainTimeout: .seconds(10), logger: logger)
            return ExitStatus.clean
        }
    }
}
