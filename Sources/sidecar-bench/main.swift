// sidecar-bench: load drivers for bench/*.sh (not shipped in the image).
//
//   sidecar-bench client URL REQUESTS   sends REQUESTS GETs at once through CurlClient and prints
//                                       "seconds errors connections" on one line.
import Glibc
import SidecarCore

let args = CommandLine.arguments
guard args.count == 4, args[1] == "client", let n = Int(args[3]) else {
    print("usage: sidecar-bench client URL REQUESTS")
    exit(64)
}
let url = args[2]
let client = CurlClient()
let start = MonotonicClock.now()
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
let seconds = MonotonicClock.now() - start
print((seconds * 10000).rounded() / 10000, errors, connections)
