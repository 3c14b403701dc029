import Glibc
import SidecarTLS
import SidecarTestCertificates
import SidecarTestSupport
import Synchronization
import Testing

@testable import SidecarClient
@testable import SidecarPosix

/// Our own client to `https://` nodes: handshakes, verification, keep-alive, resumption, the
/// client certificate. The nodes are stub servers speaking TLS on blocking sockets.
@Suite(.serialized) struct HTTP1EngineTLSTests {
    let certs = TestCertificates.shared

    /// What a TLS stub saw of its connections.
    final class Seen: Sendable {
        let resumed = Mutex<[Bool]>([])
        let verifiedClient = Mutex<[Bool]>([])
    }

    /// A node answering every request of each connection with 200 "ok" over TLS, at most
    /// `closeAfter` per connection.
    func tlsNode(
        certificate: String? = nil, key: String? = nil, clientCA: String? = nil, closeAfter: Int = .max, seen: Seen = Seen()
    ) throws -> StubServer {
        let context = try TLSContext.server(
            certificate: certificate ?? certs.serverCertificate, key: key ?? certs.serverKey, clientCA: clientCA, allowedSANs: [],
            minimum: .v1_2)
        let listener = TLSListener(context, requiresClientCertificate: clientCA != nil)
        return try StubServer { fd in
            guard let session = listener.session(fd: fd) else { return }
            var served = 0
            var buffer = [UInt8](repeating: 0, count: 4096)
            var pending: [UInt8] = []
            while served < closeAfter {
                while !pending.containsHeadEnd {
                    let r = try? buffer.withUnsafeMutableBytes { b throws(SystemError) in try session.read(into: b) }
                    guard case .done(let n)? = r, n > 0 else { return }
                    pending += buffer[0..<n]
                }
                pending = Array(pending.afterHeadEnd)
                if served == 0 {
                    seen.resumed.withLock { $0.append(session.resumed) }
                    seen.verifiedClient.withLock { $0.append(session.peerVerified) }
                }
                let answer = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".utf8)
                _ = try? answer.withUnsafeBytes { b throws(SystemError) in try session.write(b) }
                served += 1
            }
            session.shutdown()
        }
    }

    func harness(certificate: String? = nil, key: String? = nil, trusting ca: String? = nil) throws -> HTTP1EngineTests.Harness {
        var configuration = ClientConfiguration(connectTimeout: .seconds(2), requestTimeout: .seconds(3), maxResponseBytes: 1024)
        configuration.tls = TLSClientContext(
            try TLSContext.client(trustedCA: ca ?? certs.caFile, certificate: certificate, key: key, minimum: .v1_2))
        return try HTTP1EngineTests.Harness(configuration)
    }

    func code(_ outcome: HTTP1EngineTests.Outcome?) -> String { HTTP1EngineTests().code(outcome) }

    @Test func anHTTPSNode_isServedOnOneKeptConnection_byAddressOrName() throws {
        let node = try tlsNode()
        let h = try harness()
        for (k, url) in ["https://127.0.0.1:\(node.port)", "https://127.0.0.1:\(node.port)/", "https://localhost:\(node.port)"].enumerated()
        {
            guard case .success(let r) = h.send(url, index: k) else {
                Issue.record("\(url): \(code(h.wait(k)))")
                continue
            }
            #expect(r.status == 200 && r.body == Array("ok".utf8))
        }
        // 127.0.0.1 twice on one connection; localhost is another name, so another pool.
        #expect(node.accepted.load(ordering: .relaxed) == 2)
    }

    @Test func theContextMadeOnFirstUse_isMadeOnce_andOnlyWhenAnHTTPSNodeIsCalled() throws {
        let made = Atomic<Int>(0)
        let ca = certs.caFile
        var configuration = ClientConfiguration(connectTimeout: .seconds(2), requestTimeout: .seconds(3), maxResponseBytes: 1024)
        configuration.tls = TLSClientContext(makingOnFirstUse: { () throws(TLSFailure) in
            made.add(1, ordering: .relaxed)
            return try TLSContext.client(trustedCA: ca, certificate: nil, key: nil, minimum: .v1_2)
        })
        let h = try HTTP1EngineTests.Harness(configuration)
        #expect(made.load(ordering: .relaxed) == 0, "nothing is loaded before an https:// node is called")
        let node = try tlsNode(closeAfter: 1)
        for k in 0..<2 {
            guard case .success(let r) = h.send("https://127.0.0.1:\(node.port)", index: k) else {
                Issue.record("\(code(h.wait(k)))")
                continue
            }
            #expect(r.status == 200)
        }
        #expect(node.accepted.load(ordering: .relaxed) == 2 && made.load(ordering: .relaxed) == 1, "two connections, one context")
        let failing = TLSClientContext(makingOnFirstUse: { () throws(TLSFailure) in throw TLSFailure(.trustedCA, "no such file") })
        #expect(failing.connecting(fd: -1, host: "x") == nil, "a context that cannot be made fails the connection")
    }

    @Test func aNewConnection_resumesTheNodesLastSession() throws {
        let seen = Seen()
        let node = try tlsNode(closeAfter: 1, seen: seen)
        let h = try harness()
        for k in 0..<3 { #expect(code(h.send("https://127.0.0.1:\(node.port)", index: k)) == "200") }
        #expect(seen.resumed.withLock { $0 } == [false, true, true])
    }

    @Test func aNodeWhoseCertificateDoesNotVerify_failsWithCodeTLS_andTheReason() throws {
        let untrusted = try tlsNode(certificate: certs.rotatedCertificate, key: certs.rotatedKey)
        let h = try harness()
        guard case .failure(let error)? = h.send("https://127.0.0.1:\(untrusted.port)", index: 0) else {
            Issue.record("an untrusted node answered")
            return
        }
        #expect(error.label == "tls")
        #expect(error.message.contains("certificate verify failed"), "\(error.message)")
        let node = try tlsNode()
        #expect(code(h.send("https://[::1]:\(node.port)", index: 1)) != "200", "the certificate names 127.0.0.1 and localhost only")
    }

    @Test func theClientCertificate_isPresented_whenTheNodeAsks() throws {
        let seen = Seen()
        let node = try tlsNode(clientCA: certs.caFile, seen: seen)
        let h = try harness(certificate: certs.clientCertificate, key: certs.clientKey)
        #expect(code(h.send("https://127.0.0.1:\(node.port)", index: 0)) == "200")
        #expect(seen.verifiedClient.withLock { $0 } == [true])
    }

    @Test func withoutItsTLS_theEngineLeavesHTTPSNodesToLibcurl() throws {
        let loop = try EventLoop()
        var tls = ClientConfiguration()
        tls.tls = TLSClientContext(try TLSContext.client(trustedCA: certs.caFile, certificate: nil, key: nil, minimum: .v1_2))
        var routes: [String] = []
        // Routing is pure: asked here, off the (unstarted) loop.
        for configuration in [ClientConfiguration(), tls] {
            let engine = HTTP1Engine(configuration: configuration, reactor: loop)
            for url in ["https://127.0.0.1:8443", "https://node.internal:8443"] {
                switch engine.route(url) {
                case .address: routes.append("address")
                case .name: routes.append("name")
                case .curl: routes.append("curl")
                }
            }
        }
        #expect(routes == ["curl", "curl", "address", "name"])
        #expect(NodeAddress("https://127.0.0.1:8443")?.serverName == "127.0.0.1")
        #expect(NodeAddress("https://[::1]/")?.address.description == "[::1]:443")
        #expect(NodeAddress("https://localhost")?.host == "localhost")
    }
}

extension Array where Element == UInt8 {
    fileprivate var headEnd: Int? {
        guard count >= 4 else { return nil }
        for i in 0...(count - 4) where self[i] == 13 && self[i + 1] == 10 && self[i + 2] == 13 && self[i + 3] == 10 { return i + 4 }
        return nil
    }
    fileprivate var containsHeadEnd: Bool { headEnd != nil }
    fileprivate var afterHeadEnd: ArraySlice<UInt8> { self[(headEnd ?? count)...] }
}
