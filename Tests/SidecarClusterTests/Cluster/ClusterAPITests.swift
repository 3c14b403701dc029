import Foundation
import SidecarTestSupport
import Testing

@testable import SidecarClient
@testable import SidecarCluster
@testable import SidecarHTTP
@testable import SidecarPosix
@testable import SidecarRegistry
@testable import SidecarSettings

/// createItResource and deleteServer over real sockets, behind the JWT gate.
@Suite struct ClusterAPITests {
    func clusterAPI(verifierSecret: Secret? = JWTVerifierTests.secret) async throws -> (TestServer, SidecarContext) {
        let verifier = try await JWTVerifier.make(secret: verifierSecret, publicKeyPEM: nil, issuer: nil, audience: nil)
        let context = SidecarContext(configuration: SidecarConfiguration(), health: HealthState(registered: true), verifier: verifier)
        let me = ServerInfo(id: "me", type: "echo", url: "http://127.0.0.1:1/app", clusterUrl: "http://127.0.0.1:2")
        context.view.replace(with: [me])
        context.attach(me: me, registrar: nil)
        return (try TestServer(router: SidecarRoutes.cluster(context: context)), context)
    }

    func call(_ server: TestServer, _ method: String, _ path: String, body: String = "", token: String?) throws -> RawResponse {
        let client = try server.client()
        var head =
            "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
        if let token { head += "Authorization: Bearer \(token)\r\n" }
        try client.send(head + "\r\n" + body)
        return try client.readResponse()
    }

    static let peer = #"{"id":"p1","type":"echo","url":"http://10.0.0.5:8025/mss/v1","clusterUrl":"http://10.0.0.5:8460"}"#

    @Test func createItResource_upserts_201Then200_keepingOrder() async throws {
        let (server, context) = try await clusterAPI()
        let token = try await JWTVerifierTests.hs256(JWTVerifierTests.claims(exp: Date().timeIntervalSince1970 + 300))
        let first = try call(server, "POST", "/itResources", body: Self.peer, token: token)
        #expect(first.status == 201)
        #expect(first.bodyText == #"{"nbServers":2}"#)
        let again = try call(server, "POST", "/itResources", body: Self.peer.replacingOccurrences(of: "8025", with: "9025"), token: token)
        #expect(again.status == 200)
        #expect(context.view.snapshot().servers.map(\.id) == ["me", "p1"])
        #expect(context.view.snapshot().servers[1].url == "http://10.0.0.5:9025/mss/v1")
    }

    @Test(arguments: [
        #"{"type":"echo","url":"http://a","clusterUrl":"http://b"}"#, #"{"id":"x","type":"echo","url":"ftp://a","clusterUrl":"http://b"}"#,
        #"{"id":"x","type":"echo","url":"http://a","clusterUrl":"b"}"#,
        #"{"id":"","type":"echo","url":"http://a","clusterUrl":"http://b"}"#,
        "[]", "nope",
    ])
    func createItResource_refusesWhatIsNotAServer(body: String) async throws {
        let (server, _) = try await clusterAPI()
        let token = try await JWTVerifierTests.hs256(JWTVerifierTests.claims(exp: Date().timeIntervalSince1970 + 300))
        #expect(try call(server, "POST", "/itResources", body: body, token: token).status == 400)
    }

    @Test(arguments: [
        (#""metadata":"AAA""#, "metadata must be an object"), (#""metadata":[1,2]"#, "metadata must be an object"),
        (#""metadata":5"#, "metadata must be an object"), (#""updatedAt":42"#, "updatedAt must be a string"),
        (#""id":7"#, "id must be a string"),
    ])
    func createItResource_namesTheFieldOfTheWrongType(field: String, message: String) async throws {
        let (server, context) = try await clusterAPI()
        let token = try await JWTVerifierTests.hs256(JWTVerifierTests.claims(exp: Date().timeIntervalSince1970 + 300))
        let id = field.hasPrefix(#""id""#) ? "" : #""id":"x","#
        let r = try call(
            server, "POST", "/itResources", body: #"{\#(id)"type":"echo","url":"http://a","clusterUrl":"http://b","# + field + "}",
            token: token)
        #expect(r.status == 400)
        #expect(r.bodyText.contains("not a server: \(message)"), "\(r.bodyText)")
        #expect(context.view.count == 1)
    }

    @Test func createItResource_keepsAnObjectMetadata_andServesItBack() async throws {
        let (server, context) = try await clusterAPI()
        let token = try await JWTVerifierTests.hs256(JWTVerifierTests.claims(exp: Date().timeIntervalSince1970 + 300))
        let body = #"{"id":"m","type":"echo","url":"http://a","clusterUrl":"http://b","metadata":{"zone":"a"},"updatedAt":null}"#
        #expect(try call(server, "POST", "/itResources", body: body, token: token).status == 201)
        #expect(context.view.snapshot().servers.last?.metadata == .object(["zone": .string("a")]))
    }

    @Test func bearer_takesAnyCaseAndSeveralSpaces() async throws {
        let (server, _) = try await clusterAPI()
        let token = try await JWTVerifierTests.hs256(JWTVerifierTests.claims(exp: Date().timeIntervalSince1970 + 300))
        for scheme in ["Bearer   ", "bearer ", "BEARER\u{20}\u{20}"] {
            let client = try server.client()
            try client.send("DELETE /servers/nobody HTTP/1.1\r\nHost: localhost\r\nAuthorization: \(scheme)\(token)\r\n\r\n")
            #expect(try client.readResponse().status == 404, "\(scheme.debugDescription)")
        }
        let client = try server.client()
        try client.send("DELETE /servers/nobody HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer\(token)\r\n\r\n")
        #expect(try client.readResponse().status == 401)
    }

    @Test func expectContinue_withoutAToken_is401AtOnce_neverContinue() async throws {
        let (server, context) = try await clusterAPI()
        let client = try server.client()
        try client.send(
            "POST /itResources HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: \(Self.peer.utf8.count)\r\n\r\n")
        let answer = try client.readResponse()
        #expect(answer.status == 401 && answer.field("WWW-Authenticate") != nil)
        #expect(context.view.count == 1)
        // With a token, the body is asked for.
        let token = try await JWTVerifierTests.hs256(JWTVerifierTests.claims(exp: Date().timeIntervalSince1970 + 300))
        let other = try server.client()
        try other.send(
            "POST /itResources HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \(token)\r\nExpect: 100-continue\r\nContent-Length: \(Self.peer.utf8.count)\r\n\r\n"
        )
        #expect(try other.readResponse().status == 100)
        try other.send(Self.peer)
        #expect(try other.readResponse().status == 201)
    }

    @Test func createItResource_ofAnotherType_is409() async throws {
        let (server, _) = try await clusterAPI()
        let token = try await JWTVerifierTests.hs256(JWTVerifierTests.claims(exp: Date().timeIntervalSince1970 + 300))
        #expect(
            try call(server, "POST", "/itResources", body: Self.peer.replacingOccurrences(of: "\"echo\"", with: "\"other\""), token: token)
                .status == 409)
    }

    @Test func deleteServer_removes_or404() async throws {
        let (server, context) = try await clusterAPI()
        let token = try await JWTVerifierTests.hs256(JWTVerifierTests.claims(exp: Date().timeIntervalSince1970 + 300))
        _ = try call(server, "POST", "/itResources", body: Self.peer, token: token)
        let gone = try call(server, "DELETE", "/servers/p1", token: token)
        #expect(gone.status == 200)
        #expect(gone.bodyText == #"{"nbServers":1,"serverId":"p1"}"#)
        #expect(try call(server, "DELETE", "/servers/p1", token: token).status == 404)
        #expect(context.view.count == 1)
        #expect(try call(server, "DELETE", "/servers/me", token: token).status == 200, "our own id: we register again")
    }

    @Test func everyBadToken_is401WithInvalidToken_andChangesNothing() async throws {
        let (server, context) = try await clusterAPI()
        let now = Date().timeIntervalSince1970
        let tokens: [String?] = [
            nil, "garbage", try await JWTVerifierTests.hs256(JWTVerifierTests.claims(exp: now - 120)),
            try await JWTVerifierTests.hs256(JWTVerifierTests.claims(exp: now + 300), secret: String(repeating: "z", count: 32)),
            "eyJhbGciOiJub25lIn0.eyJleHAiOjk5OTk5OTk5OTl9.",
        ]
        for token in tokens {
            let r = try call(server, "POST", "/itResources", body: Self.peer, token: token)
            #expect(r.status == 401)
            #expect(r.field("WWW-Authenticate") == #"Bearer error="invalid_token""#)
            #expect(!r.bodyText.contains(token ?? "\u{0}"))
        }
        #expect(context.view.count == 1)
        // Health needs no token.
        #expect(try call(server, "GET", "/healthz", token: nil).status == 200)
    }

    @Test func noKeysConfigured_refusesEveryCallButHealth() async throws {
        let (server, _) = try await clusterAPI(verifierSecret: nil)
        let token = try await JWTVerifierTests.hs256(JWTVerifierTests.claims(exp: Date().timeIntervalSince1970 + 300))
        let r = try call(server, "POST", "/itResources", body: Self.peer, token: token)
        #expect(r.status == 401)
        #expect(r.bodyText.contains("no JWT_SECRET"))
        #expect(try call(server, "GET", "/readyz", token: nil).status == 200)
    }
}

/// The contract's cluster token and the view's limits on the cluster API.
@Suite struct ClusterTokenAndLimitTests {
    let api = ClusterAPITests()

    @Test func aValidTokenWithoutTheClusterClaim_isRefused() async throws {
        let (server, context) = try await api.clusterAPI()
        var claims = JWTVerifierTests.claims(exp: Date().timeIntervalSince1970 + 300)
        claims.cluster = nil
        let plain = try await JWTVerifierTests.hs256(claims)
        let r = try api.call(server, "POST", "/itResources", body: ClusterAPITests.peer, token: plain)
        #expect(r.status == 401 && r.bodyText.contains("not_a_cluster_token"))
        let deleted = try api.call(server, "DELETE", "/servers/me", token: plain)
        #expect(deleted.status == 401, "no forced re-registration with a plain token")
        claims.cluster = false
        #expect(
            try api.call(server, "POST", "/itResources", body: ClusterAPITests.peer, token: try await JWTVerifierTests.hs256(claims)).status
                == 401)
        #expect(context.view.count == 1)
    }

    @Test func metadataOverTheCap_is413_aFullView507() async throws {
        let verifier = try await JWTVerifier.make(secret: JWTVerifierTests.secret, publicKeyPEM: nil, issuer: nil, audience: nil)
        let context = SidecarContext(
            configuration: SidecarConfiguration(), health: HealthState(registered: true),
            view: ClusterView(limits: .init(maxServers: 2, maxMetadataBytes: 64)),
            verifier: verifier)
        let server = try TestServer(router: SidecarRoutes.cluster(context: context))
        let token = try await JWTVerifierTests.hs256(JWTVerifierTests.claims(exp: Date().timeIntervalSince1970 + 300))
        let fat =
            #"{"id":"f","type":"echo","url":"http://a","clusterUrl":"http://b","metadata":{"k":"\#(String(repeating: "x", count: 100))"}}"#
        let tooLarge = try api.call(server, "POST", "/itResources", body: fat, token: token)
        #expect(tooLarge.status == 413 && tooLarge.bodyText.contains("server_too_large"))
        for id in ["a", "b"] {
            #expect(
                try api.call(
                    server, "POST", "/itResources", body: #"{"id":"\#(id)","type":"echo","url":"http://a","clusterUrl":"http://b"}"#,
                    token: token
                ).status == 201)
        }
        let full = try api.call(
            server, "POST", "/itResources", body: #"{"id":"c","type":"echo","url":"http://a","clusterUrl":"http://b"}"#, token: token)
        #expect(full.status == 507 && full.bodyText.contains("view_full"))
        #expect(
            try api.call(
                server, "POST", "/itResources", body: #"{"id":"a","type":"echo","url":"http://z","clusterUrl":"http://b"}"#, token: token
            ).status == 200)
        #expect(context.view.snapshot().servers.map(\.id) == ["a", "b"])
    }
}
