import SidecarPosix
import Synchronization
import Testing

@testable import SidecarClient

/// Node URLs with host names, and the cache that resolves them off the loops.
@Suite struct NodeNameTests {
    @Test(arguments: [
        ("http://node-1.svc.cluster.local:8080/api/", "node-1.svc.cluster.local", 8080, "node-1.svc.cluster.local:8080", "/api"),
        ("HTTP://Peer-A", "peer-a", 80, "Peer-A", ""),
        ("http://a.b:80/x", "a.b", 80, "a.b", "/x"),
        ("https://node-1.svc:8443/", "node-1.svc", 8443, "node-1.svc:8443", ""),
        ("HTTPS://Peer-B", "peer-b", 443, "Peer-B", ""),
    ])
    func namedURLs_parse(_ url: String, _ name: String, _ port: Int, _ host: String, _ base: String) throws {
        let n = try #require(NodeName(url))
        #expect(n.name == name && Int(n.port) == port && n.hostField == host && n.basePath == base)
        #expect(NodeAddress(url) == nil)
        let at = n.at(try #require(SocketAddress(host: "10.0.0.1", port: 0)))
        #expect(at.address.description == "10.0.0.1:\(port)" && at.host == host && at.basePath == base)
        // Over TLS, the certificate must name the node: the name, not the address it resolved to.
        #expect(at.serverName == (url.lowercased().hasPrefix("https") ? name : nil))
    }

    @Test(arguments: [
        "http://127.0.0.1:1", "http://localhost:1", "http://[::1]:1", "https://[::1]:1", "ftp://node:1", "http://no_underscore:1",
        "http://-lead:1",
        "http://.lead:1", "http://a..b%41:1", "http://user@node:1", "http://node:0", "http://",
    ])
    func addressesAndOtherURLs_areNoNames(_ url: String) {
        #expect(NodeName(url) == nil)
    }

    @Test func aName_isResolvedOnce_forEveryoneAskingMeanwhile_andKeptForTheTTL() async throws {
        let calls = Mutex(0)
        let cache = NameCache(ttl: .seconds(30)) { name in
            calls.withLock { $0 += 1 }
            return name == "good" ? .success([SocketAddress(host: "10.1.2.3", port: 0)!]) : .failure(.init(message: "no such name"))
        }
        let now = SystemClock().now.nanoseconds
        #expect(cache.lookup("good", now: now) == .unknown)
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let left = Mutex(2)
            let one: @Sendable () -> Void = {
                if left.withLock({
                    $0 -= 1
                    return $0
                }) == 0 {
                    c.resume()
                }
            }
            cache.resolve(["good", "bad"], then: one)
            cache.resolve(["good"], then: one)
        }
        #expect(calls.withLock { $0 } == 2, "good once, bad once")
        #expect(cache.lookup("good", now: now) == .addresses([SocketAddress(host: "10.1.2.3", port: 0)!]))
        #expect(cache.lookup("bad", now: now) == .failed("no such name"))
        #expect(cache.lookup("good", now: now + 31_000_000_000) == .unknown, "past its TTL")
        #expect(cache.lookup("bad", now: now + 3_100_000_000) == .unknown, "a failure lives a tenth")
    }

    @Test func theSystemResolver_readsTheHostsFile() {
        guard case .success(let addresses) = HostResolver.resolve("localhost") else {
            Issue.record("localhost did not resolve")
            return
        }
        #expect(addresses.contains { $0.isLoopback })
        guard case .failure(let e) = HostResolver.resolve("no-such-host.invalid") else {
            Issue.record("an .invalid name resolved")
            return
        }
        #expect(e.message.contains("no-such-host.invalid"))
    }
}
