import ArgumentParser
import CSidecarSystem
import FoundationEssentials
import Glibc
import Logging
import SidecarClient
import SidecarCluster
import SidecarHTTP
import SidecarPosix
import SidecarRegistry

/// `cluster-sidecar demo`: a registry, three sidecars and three echo applications on loopback.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a local demo cluster: the embedded registry, three sidecars, each running an echo app with two workers.",
        discussion: "Prints the cluster forming as a live table. Ctrl-C stops everything; the sidecars unregister first."
    )

    @Option(help: "Stop by itself after this many seconds (0: run until Ctrl-C).")
    var duration: Double = 0

    @Option(help: "Sidecars (and echo applications) to start.")
    var nodes: Int = 3

    func run() throws {
        csidecar_block_signals()
        var silent = Logger(label: "demo")
        silent.logLevel = .critical
        func randomHex(_ count: Int) -> String { (0..<count).map { _ in String(UInt8.random(in: 0...15), radix: 16) }.joined() }
        let secret = randomHex(32)
        // The one client the demo's registry serves, known to its sidecars alone.
        let clientSecret = randomHex(16)
        let dir = "/tmp/cluster-sidecar-demo-\(getpid())"
        mkdir(dir, 0o755)
        let binary = selfExecutable()

        // Each sidecar runs its echo application itself (`run`): two workers on one shared port.
        let appPorts = (0..<nodes).map { _ in freePort() }

        let registryPort = freePort()
        guard
            let registry = ChildProcess.spawn(
                name: "registry", arguments: [binary, "registry", "--port", "\(registryPort)", "--lease-time", "10"],
                environment: [
                    "REGISTRY_SECRET": secret, "REGISTRY_CLIENT_ID": "demo", "REGISTRY_CLIENT_SECRET": clientSecret,
                    "PATH": "/usr/bin:/bin",
                ], log: "\(dir)/registry.log")
        else { Environment.fail("demo: cannot start the registry", status: ExitStatus.startup) }

        let client = CurlClient()
        let registryURL = "http://127.0.0.1:\(registryPort)"
        guard waitUntil(5, { statusCode(client, registryURL + "/healthz") == 200 }) else {
            registry.signal(SIGKILL)
            Environment.fail("demo: the registry did not start (see \(dir)/registry.log)", status: ExitStatus.startup)
        }
        // The first sidecar takes the local API's usual port when it is free, so that
        // `cluster-sidecar status` and the README's commands find it as they are.
        let locals = (0..<nodes).map { $0 == 0 ? freePort(preferring: 8461) : freePort() }
        let live = isatty(1) != 0
        let banner = """
            cluster-sidecar demo: the registry at \(registryURL) and \(nodes) sidecars on loopback, each running the echo \
            app with two workers (cluster-sidecar run). Logs in \(dir). Ctrl-C stops.

            """
        say(banner)
        let clock = SystemClock()
        let started = clock.now
        var sidecars: [(ChildProcess, local: UInt16)] = []
        var nextStart = clock.now
        var last = ""
        var seen: [String] = []
        var fannedOut: String?
        while true {
            // One sidecar at a time, so that each one's registration shows as it happens.
            if sidecars.count < nodes, clock.now >= nextStart {
                let k = sidecars.count
                // SERVER_URL follows from APP_ADDRESS and APP_PORT.
                let env = [
                    "MIT_URL": registryURL, "OAUTH_TOKEN_URL": registryURL + "/oauth/token", "OAUTH_CLIENT_ID": "demo",
                    "OAUTH_CLIENT_SECRET": clientSecret, "JWT_SECRET": secret, "SERVER_TYPE": "echo",
                    "APP_HEALTH_URL": "http://127.0.0.1:\(appPorts[k])/health", "APP_WORKERS": "2", "APP_ADDRESS": "127.0.0.1",
                    "APP_PORT": "\(appPorts[k])", "APP_READY": "notify", "APP_STOP_TIMEOUT": "5",
                    "LOCAL_PORT": "\(locals[k])", "CLUSTER_PORT": "\(freePort())", "CLUSTER_ADDRESS": "127.0.0.1",
                    "REGISTRATION_RETRY": "1", "REGISTRATION_CONCURRENT_DELAY": "2", "PATH": "/usr/bin:/bin",
                ]
                let arguments = [binary, "run", "--", binary, "echo", "--node", "\(k + 1)"]
                guard
                    let p = ChildProcess.spawn(
                        name: "sidecar\(k + 1)", arguments: arguments, environment: env, log: "\(dir)/sidecar\(k + 1).log")
                else {
                    say("sidecar\(k + 1) could not be started")
                    break
                }
                sidecars.append((p, locals[k]))
                // Said as it is started: its first /status may wait in the listen queue until it has
                // registered, and would skip this line.
                let starting = event(name: p.name, Row(port: locals[k]))
                if !live { say(starting) }
                seen.append(starting)
                nextStart = clock.now + .milliseconds(500)
            }
            let rows = sidecars.map { Row.fetch(client, port: $0.local) }
            if live {
                // Redrawn in place, the banner (and its log folder) with it.
                let table = render(rows)
                if table != last {
                    say("\u{1B}[H\u{1B}[2J" + banner)
                    say(table)
                    if let fannedOut { say(fannedOut) }
                    last = table
                }
            } else {
                // Into a pipe or a file: one line per change of a sidecar.
                for k in rows.indices {
                    let line = event(name: sidecars[k].0.name, rows[k])
                    if line != seen[k] {
                        say(line)
                        seen[k] = line
                    }
                }
            }
            // Once every sidecar sees every other and is ready: one fan-out, then what to try.
            if fannedOut == nil, sidecars.count == nodes, rows.allSatisfy({ $0.servers == nodes && $0.ready }) {
                let text = fanOut(client, local: sidecars[0].local) + "\n" + nextSteps(local: sidecars[0].local)
                fannedOut = text
                say(live ? text : "\n" + text)
                last = render(rows)
            }
            let signal = csidecar_wait_signal_timeout(sidecars.count < nodes ? 200 : 500)
            if signal != 0 || (duration > 0 && clock.now - started >= .seconds(exactly: duration)) { break }
        }

        say("\nstopping: the sidecars unregister, then the registry stops")
        for (p, _) in sidecars { p.signal(SIGTERM) }
        var clean = true
        for (p, _) in sidecars {
            let status = p.wait(timeout: 10)
            say("  \(p.name): \(status.map { "exit \($0)" } ?? "killed")")
            clean = clean && status == 0
        }
        registry.signal(SIGTERM)
        registry.wait(timeout: 5)
        if clean {
            // Nothing to look into: the logs go too.
            for name in ["registry"] + sidecars.map(\.0.name) { unlink("\(dir)/\(name).log") }
            rmdir(dir)
            say("done")
        } else {
            say("done (some sidecars did not stop cleanly; their logs are in \(dir))")
        }
        Glibc.exit(clean ? ExitStatus.clean : ExitStatus.startup)
    }

    /// One sidecar's state as a line (piped output).
    func event(name: String, _ r: Row) -> String {
        guard r.status != "down" else { return "\(name)  127.0.0.1:\(r.port)  starting" }
        var line = "\(name)  127.0.0.1:\(r.port)  \(r.status)"
        if r.id != "-" { line += " as \(r.id)" }
        line += ", sees \(r.servers) of \(nodes), ready \(r.ready ? "yes" : "no"), workers \(r.workers)"
        return line
    }

    /// What to try next against the first sidecar, while the demo runs.
    func nextSteps(local: UInt16) -> String {
        let api = "http://127.0.0.1:\(local)"
        return """
            Try, in another terminal while the demo runs:
              # sidecar1's registration, members, traffic and workers
              ./.build/release/cluster-sidecar status\(local == 8461 ? "" : " --local-port \(local)")
              # one request to every node, every answer back
              curl -s -d '{"url":"/hello/you"}' \(api)/cluster/fanout
              # the same, each node's answer as it comes
              curl -sN -H 'Accept: application/x-ndjson' -d '{"url":"/hello/you"}' \(api)/cluster/fanout
              # the status page, in a browser
              \(api)/ui

            """
    }

    /// One line of the live table.
    struct Row {
        var port: UInt16
        var status = "down"
        var id = "-"
        var servers = 0
        var lease = "-"
        var ready = false
        /// Ready workers of the application the sidecar runs, and their generation.
        var workers = "-"

        static func fetch(_ client: CurlClient, port: UInt16) -> Row {
            var row = Row(port: port)
            guard
                let body = Blocking.run({
                    try? await client.execute(ClientRequest(url: "http://127.0.0.1:\(port)/status", timeout: .seconds(1))).body
                }),
                case .object(let s)? = JSONValue.parse(body)
            else { return row }
            if case .string(let st)? = s["REGISTRATION_STATUS"] { row.status = st }
            if case .number(let n)? = s["CLUSTER_STATUS_SERVERS"] { row.servers = Int(n) }
            if case .object(let r)? = s["registration"] {
                if case .string(let id)? = r["serverId"] { row.id = id }
                if case .number(let next)? = r["nextLeaseInSeconds"] { row.lease = "in \(Int(next.rounded()))s" }
            }
            if case .object(let h)? = s["health"], case .bool(let ready)? = h["ready"] { row.ready = ready }
            if case .object(let app)? = s["app"], case .array(let workers)? = app["workers"] {
                let ready = workers.filter { $0.object?["state"]?.text == "ready" }.count
                row.workers = "\(ready)/\(workers.count) gen \(app["generation"]?.text ?? "-")"
            }
            return row
        }
    }

    /// One fan-out through the first sidecar, and its aggregate.
    func fanOut(_ client: CurlClient, local: UInt16) -> String {
        let body = Array(#"{"url":"/hello/demo","timeout":2000}"#.utf8)
        let request = ClientRequest(
            method: "POST", url: "http://127.0.0.1:\(local)/cluster/fanout", headers: [("Content-Type", "application/json")], body: body,
            timeout: .seconds(5))
        guard let r = Blocking.run({ try? await client.execute(request) }) else { return "fan-out failed: no answer" }
        var out = "fan-out through 127.0.0.1:\(local): POST /cluster/fanout {\"url\":\"/hello/demo\"} -> \(r.status)\n"
        if case .object(let answer)? = JSONValue.parse(r.body) {
            if case .array(let data)? = answer["data"] {
                out += "  data:     \(String(decoding: JSONCoding.encode(JSONValue.array(data)), as: UTF8.self))\n"
            }
            if case .array(let results)? = answer["results"] { out += "  results:  \(results.count) nodes answered\n" }
            if case .array(let failures)? = answer["failures"] { out += "  failures: \(failures.count)\n" }
        }
        return out
    }

    func render(_ rows: [Row]) -> String {
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        var out = pad("local API", 18) + pad("registration", 14) + pad("server id", 26) + pad("sees", 6) + pad("ready", 7)
        out += pad("workers", 14) + "next lease\n"
        for r in rows {
            out +=
                pad("127.0.0.1:\(r.port)", 18) + pad(r.status, 14) + pad(r.id, 26) + pad("\(r.servers)", 6) + pad(r.ready ? "yes" : "no", 7)
            out += pad(r.workers, 14) + r.lease + "\n"
        }
        return out
    }
}

private func statusCode(_ client: CurlClient, _ url: String) -> Int? {
    Blocking.run { try? await client.execute(ClientRequest(url: url, timeout: .seconds(1))).status }
}

private func waitUntil(_ seconds: Double, _ condition: () -> Bool) -> Bool {
    let clock = SystemClock()
    let end = clock.now + .seconds(exactly: seconds)
    while clock.now < end {
        if condition() { return true }
        usleep(50_000)
    }
    return false
}

/// Prints `text` and a newline to stdout; when that fails (a pipe whose reader has gone, as
/// `tee` after Ctrl-C), to stderr, so that the stop lines still reach the terminal. Straight
/// to the descriptors: all the demo's output goes through here, in order.
private func say(_ text: String) {
    let bytes = Array((text + "\n").utf8)
    func put(_ fd: Int32) -> Bool {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            off += n
        }
        return true
    }
    if !put(1) { _ = put(2) }
}
