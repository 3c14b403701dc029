import Glibc
import SidecarPosix
import SidecarTestCertificates
import Testing

@testable import SidecarTLS

/// Both ends of a TLS connection in one thread, over a non-blocking socket pair: the handshake
/// and the bytes go through the same calls the server's and the client's shells make.
@Suite struct TLSSessionTests {
    let certs = TestCertificates.shared

    final class Pair {
        let fds: (Int32, Int32)
        let server: TLSSession
        let client: TLSSession

        init(fds: (Int32, Int32), server: TLSSession, client: TLSSession) {
            self.fds = fds
            self.server = server
            self.client = client
        }

        deinit {
            close(fds.0)
            close(fds.1)
        }
    }

    func pair(server context: TLSContext, requiresClient: Bool = false, client: TLSContext, host: String = "localhost") throws -> Pair {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        let listener = TLSListener(context, requiresClientCertificate: requiresClient)
        let s = try #require(listener.session(fd: fds[0]))
        let c = try #require(client.connecting(fd: fds[1], host: host))
        return Pair(fds: (fds[0], fds[1]), server: s, client: c)
    }

    /// Runs both handshakes to their end (a few rounds of would-block): nil, or the side that failed.
    func handshake(_ p: Pair) -> String? {
        var clientDone = false
        var serverDone = false
        for _ in 0..<20 where !(clientDone && serverDone) {
            do {
                if !clientDone, case .done = try p.client.handshake() { clientDone = true }
            } catch {
                return "client: \(p.client.failureReason)"
            }
            do {
                if !serverDone, case .done = try p.server.handshake() { serverDone = true }
            } catch {
                return "server: \(p.server.failureReason)"
            }
        }
        return clientDone && serverDone ? nil : "unfinished"
    }

    func server(clientCA: String? = nil, sans: [String] = [], minimum: TLSVersion = .v1_2) throws -> TLSContext {
        try TLSContext.server(
            certificate: certs.serverCertificate, key: certs.serverKey, clientCA: clientCA, allowedSANs: sans, minimum: minimum)
    }

    func client(certificate: String? = nil, key: String? = nil, minimum: TLSVersion = .v1_2) throws -> TLSContext {
        try TLSContext.client(trustedCA: certs.caFile, certificate: certificate, key: key, minimum: minimum)
    }

    func read(_ session: TLSSession, _ count: Int) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        let r = try buffer.withUnsafeMutableBytes { b throws(SystemError) in try session.read(into: b) }
        guard case .done(let n) = r else { return [] }
        return Array(buffer[0..<n])
    }

    @Test func bytesCross_bothWays_afterTheHandshake_andAGatheredWriteSkipsWhatWasSent() throws {
        let p = try pair(server: try server(), client: try client())
        #expect(handshake(p) == nil)
        let request = Array("GET /healthz HTTP/1.1\r\n\r\n".utf8)
        _ = try request.withUnsafeBytes { b throws(SystemError) in try Transport.tls(p.client).write(p.fds.1, b) }
        #expect(try read(p.server, 64) == request)
        let (a, b, c) = (Array("HTTP/1.1 ".utf8), Array("200 OK\r\n".utf8), Array("\r\nbody".utf8))
        let transport = Transport.tls(p.server)
        let fd = p.fds.0
        let written = try a.withUnsafeBytes { a in
            try b.withUnsafeBytes { b in
                try c.withUnsafeBytes { c in try transport.write(fd, gathering: (a, b, c), skipping: 5) }
            }
        }
        guard case .done(let n) = written else { throw SystemError("write", errno: EAGAIN) }
        #expect(n == a.count + b.count + c.count - 5)
        #expect(try read(p.client, 64) == Array((a + b + c).dropFirst(5)))
        #expect(!p.server.peerVerified)
    }

    @Test func aClientCertificate_fromTheCA_withAnAllowedSAN_isVerified() throws {
        let p = try pair(
            server: try server(clientCA: certs.caFile, sans: ["spiffe://cluster/peer-a", "10.0.0.1"]), requiresClient: true,
            client: try client(certificate: certs.clientCertificate, key: certs.clientKey))
        #expect(handshake(p) == nil)
        #expect(p.server.peerVerified)
    }

    @Test func aClientCertificate_withAnotherSAN_orFromAnotherCA_isRefusedInTheHandshake() throws {
        let context = try server(clientCA: certs.caFile, sans: ["spiffe://cluster/peer-a"])
        let otherSAN = try pair(server: context, client: try client(certificate: certs.otherSANCertificate, key: certs.otherSANKey))
        #expect(handshake(otherSAN)?.hasPrefix("server: ") == true)
        let stranger = try pair(server: context, client: try client(certificate: certs.strangerCertificate, key: certs.strangerKey))
        #expect(handshake(stranger)?.contains("certificate verify failed") == true)
    }

    @Test func theServersCertificate_mustNameTheHostTheClientAsked_andVersionsBelowTheMinimumAreRefused() throws {
        #expect(handshake(try pair(server: try server(), client: try client(), host: "127.0.0.1")) == nil)
        #expect(handshake(try pair(server: try server(), client: try client(), host: "example.com"))?.hasPrefix("client: ") == true)
        let untrusted = try TLSContext.client(trustedCA: certs.otherCAFile, certificate: nil, key: nil, minimum: .v1_2)
        #expect(handshake(try pair(server: try server(), client: untrusted))?.hasPrefix("client: ") == true)
        // A client that speaks 1.2 at most cannot reach a 1.3-only server: a 1.3 client can.
        #expect(handshake(try pair(server: try server(minimum: .v1_3), client: try client(minimum: .v1_3))) == nil)
    }

    @Test func aContext_namesThePartAtFault() {
        func part(_ make: () throws(TLSFailure) -> TLSContext) -> TLSFailure.Part? {
            do {
                _ = try make()
                return nil
            } catch {
                return error.part
            }
        }
        let c = certs
        #expect(
            part { () throws(TLSFailure) in
                try .server(certificate: c.serverCertificate, key: c.unmatchedKey, clientCA: nil, allowedSANs: [], minimum: .v1_2)
            } == .key)
        #expect(
            part { () throws(TLSFailure) in
                try .server(certificate: c.expiredCertificate, key: c.expiredKey, clientCA: nil, allowedSANs: [], minimum: .v1_2)
            } == .certificate)
        #expect(
            part { () throws(TLSFailure) in
                try .server(certificate: c.path("none.pem"), key: c.serverKey, clientCA: nil, allowedSANs: [], minimum: .v1_2)
            } == .certificate)
        #expect(
            part { () throws(TLSFailure) in
                try .server(certificate: c.serverCertificate, key: c.serverKey, clientCA: c.serverKey, allowedSANs: [], minimum: .v1_2)
            } == .clientCA)
        #expect(
            part { () throws(TLSFailure) in try .client(trustedCA: c.serverKey, certificate: nil, key: nil, minimum: .v1_2) } == .trustedCA)
        #expect(
            part { () throws(TLSFailure) in
                try .server(
                    certificate: c.serverCertificate, key: c.serverKey, clientCA: c.caFile,
                    allowedSANs: [String(repeating: "a", count: 300)], minimum: .v1_2)
            } == .allowedSANs)
        #expect(
            part { () throws(TLSFailure) in
                try .server(certificate: c.serverCertificate, key: c.serverKey, clientCA: c.caFile, allowedSANs: ["a"], minimum: .v1_3)
            } == nil)
    }
}

extension TLSSessionTests {
    /// A client keeps a session for its next connection to a node, even once the connection
    /// it came from is gone.
    @Test func aSession_resumesTheNextConnection_afterItsOwnClosed() throws {
        let s = try server()
        let c = try client()
        var kept: TLSResumption?
        do {
            let first = try pair(server: s, client: c, host: "127.0.0.1")
            #expect(handshake(first) == nil)
            let message = Array("hello".utf8)
            _ = try message.withUnsafeBytes { b throws(SystemError) in try first.server.write(b) }
            #expect(try read(first.client, 64) == message)
            kept = first.client.resumable()
        }
        let second = try pair(server: s, client: c, host: "127.0.0.1")
        second.client.resume(try #require(kept))
        #expect(handshake(second) == nil)
        #expect(second.client.resumed && second.server.resumed)
    }
}
