import SidecarTestSupport
import Synchronization
import Testing

@testable import SidecarClient
@testable import SidecarCluster
@testable import SidecarHTTP
@testable import SidecarPosix
@testable import SidecarRegistry
@testable import SidecarSettings

@Suite(.serialized) struct TokenProviderTests {
    /// A token endpoint that counts grants and answers after `delay`.
    func endpoint(expiresIn: Double, delay: Int = 0) throws -> (TestServer, Counter) {
        let grants = Counter()
        let server = try TestServer { [grants] router in
            router.onAsync("POST", "/token") { request in
                let n = grants.add()
                if delay > 0 { try? await Task.sleep(for: .milliseconds(delay)) }
                let form = FormEncoding.parse(String(decoding: request.body, as: UTF8.self))
                guard form["grant_type"] == "client_credentials", form["client_secret"] == "s e&c" else {
                    return .json(401, #"{"error":"invalid_client"}"#)
                }
                return .json(200, #"{"access_token":"tok-\#(n)-\#(form["cluster"] ?? "plain")","expires_in":\#(expiresIn)}"#)
            }
        }
        return (server, grants)
    }

    @Test func token_isCachedUntilShortlyBeforeExpiry() async throws {
        let (server, grants) = try endpoint(expiresIn: 100)
        let clock = ManualClock()
        let p = TokenProvider(
            source: .clientCredentials(urls: ["http://127.0.0.1:\(server.port)/token"], clientID: "c", secret: Secret("s e&c")),
            client: TestClients.shared, clock: clock)
        #expect(try await p.token()?.value == "tok-1-plain")
        clock.advance(by: .seconds(89))
        #expect(try await p.token()?.value == "tok-1-plain")
        clock.advance(by: .milliseconds(1500))
        #expect(try await p.token()?.value == "tok-2-plain")
        #expect(grants.value == 2)
    }

    @Test func clusterToken_isCachedApart() async throws {
        let (server, _) = try endpoint(expiresIn: 100)
        let p = TokenProvider(
            source: .clientCredentials(urls: ["http://127.0.0.1:\(server.port)/token"], clientID: "c", secret: Secret("s e&c")),
            client: TestClients.shared)
        let plain = try await p.token()?.value
        let cluster = try await p.token(cluster: true)?.value
        #expect(plain != cluster)
        #expect(cluster?.hasSuffix("true") == true)
    }

    @Test func concurrentCallers_shareOneRefresh() async throws {
        let (server, grants) = try endpoint(expiresIn: 100, delay: 100)
        let p = TokenProvider(
            source: .clientCredentials(urls: ["http://127.0.0.1:\(server.port)/token"], clientID: "c", secret: Secret("s e&c")),
            client: TestClients.shared)
        let tokens = try await withThrowingTaskGroup(of: String?.self) { group in
            for _ in 0..<20 { group.addTask { try await p.token()?.value } }
            return try await group.reduce(into: Set<String?>()) { $0.insert($1) }
        }
        #expect(tokens == ["tok-1-plain"])
        #expect(grants.value == 1)
    }

    @Test func rejectedGrant_isATypedError_withoutTheSecret() async throws {
        let (server, _) = try endpoint(expiresIn: 100)
        let p = TokenProvider(
            source: .clientCredentials(urls: ["http://127.0.0.1:\(server.port)/token"], clientID: "c", secret: Secret("wrong-secret")),
            client: TestClients.shared)
        do {
            _ = try await p.token()
            Issue.record("no error")
        } catch {
            #expect(error.label == "token_rejected")
            #expect(!"\(error)".contains("wrong-secret"))
        }
    }

    @Test func staticToken_andNone() async throws {
        #expect(try await TokenProvider(source: .fixed(Secret("abc")), client: TestClients.shared).token()?.value == "abc")
        #expect(try await TokenProvider(source: .none, client: TestClients.shared).token() == nil)
    }
}
