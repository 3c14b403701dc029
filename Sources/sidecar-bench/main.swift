// sidecar-bench: load drivers and stubs for bench/*.sh (not shipped in the image).
//
//   sidecar-bench client URL REQUESTS      sends REQUESTS GETs at once through CurlClient and prints
//                                          "seconds errors connections" on one line.
//   sidecar-bench sequential URL COUNT     GETs one at a time through CurlClient; prints p50 p99 (ms).
//   sidecar-bench stubs FIRST COUNT DELAY  serves COUNT stub nodes on ports FIRST..., each answering
//                                          a small JSON after DELAY ms; prints "ready", runs until killed.
import CSidecarSystem
import Glibc
import Logging
import SidecarClient
import SidecarHTTP
import SidecarPosix
import SidecarServer

let args = CommandLine.arguments
switch (args.count, args.count > 1 ? args[1] : "") {
case (4, "client"):
    guard let n = Int(args[3]) else { exit(64) }
    let url = args[2]
    let client = CurlClient()
    let clock = SystemClock()
    let start = clock.now
    let (errors, connections) = await withTaskGroup(of: (Bool, Int).self) { group in
        for _ in 0..<n {
            group.addTask {
                guard let r = try? await client.execute(ClientRequest(url: url)) else { return (false, 0) }
                return ((200..<300).contains(r.status), r.newConnections)
            }
        }
        var failed = 0
        var opened = 0
        for await (ok, c) in group {
            if !ok { failed += 1 }
            opened += c
        }
        return (failed, opened)
    }
    print(((clock.now - start).seconds * 10000).rounded() / 10000, errors, connections)
case (4, "sequential"):
    // One request at a time through CurlClient: the client's own latency, p50 and p99 in ms.
    guard let n = Int(args[3]) else { exit(64) }
    let client = CurlClient()
    var times: [Double] = []
    let clock = SystemClock()
    for k in 0..<(n + 50) {
        let t = clock.now
        _ = try? await client.execute(ClientRequest(url: args[2]))
        if k >= 50 { times.append((clock.now - t).seconds * 1000) }
    }
    times.sort()
    print(times[times.count / 2], times[min(times.count - 1, times.count * 99 / 100)])
case (5, "stubs"):
    guard let first = UInt16(args[2]), let count = Int(args[3]), let delay = Int(args[4]) else { exit(64) }
    var listeners: [ListenerSpec] = []
    for k in 0..<count {
        var router = Router()
        let body = #"{"node":\#(k),"ok":true}"#
        router.onAsync("GET", "/x") { _ in
            try? await Task.sleep(for: .milliseconds(delay))
            return .json(200, body)
        }
        listeners.append(
            ListenerSpec(name: "stub\(k)", address: SocketAddress(host: "127.0.0.1", port: first + UInt16(k))!, router: router))
    }
    var logger = Logger(label: "stubs")
    logger.logLevel = .critical
    let server = HTTPServer(configuration: ServerConfiguration(loops: 1), listeners: listeners, logger: logger)
    do { try server.start() } catch {
        print("stubs: \(error)")
        exit(1)
    }
    print("ready")
    fflush(nil)
    while true { sleep(3600) }
default:
    print("usage: sidecar-bench client URL REQUESTS | sequential URL COUNT | stubs FIRST COUNT DELAY_MS")
    exit(64)
}
