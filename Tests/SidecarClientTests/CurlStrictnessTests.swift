import Glibc
import SidecarTestSupport
import Testing

@testable import SidecarClient
@testable import SidecarHTTP
@testable import SidecarPosix

/// The libcurl path (host names, `https://`, mIT) reads answers as strictly as our own client:
/// heads libcurl would let pass are `bad_response`, heads over our limits `too_large`, each
/// refused as soon as its head is read, never after seconds of work.
@Suite(.serialized) struct CurlStrictnessTests {
    /// The failure (or the answer) for a node that answers `raw` to any request.
    func outcome(_ raw: String) async throws -> Result<ClientResponse, ClientError> {
        let server = try StubServer { fd in
            StubServer.readHead(fd)
            StubServer.send(fd, raw)
        }
        let client = CurlClient(
            configuration: ClientConfiguration(connectTimeout: .seconds(2), requestTimeout: .seconds(5), maxResponseBytes: 1 << 20))
        defer { client.shutdown() }
        do throws(ClientError) {
            return .success(try await client.execute(ClientRequest(url: "http://127.0.0.1:\(server.port)/")))
        } catch {
            return .failure(error)
        }
    }

    func code(_ raw: String) async throws -> String {
        switch try await outcome(raw) {
        case .success(let r): "answered \(r.status)"
        case .failure(let e): e.code.rawValue
        }
    }

    static let refused: [(String, String)] = [
        ("bare LF lines", "HTTP/1.1 200 OK\nContent-Length: 2\nSet-Cookie: a=b\n\nok"),
        ("a bare LF line among CRLF ones", "HTTP/1.1 200 OK\r\nX-A: 1\nSet-Cookie: a=b\r\nContent-Length: 2\r\n\r\nok"),
        ("a bare CR in a value", "HTTP/1.1 200 OK\r\nX-A: 1\r2\r\nContent-Length: 2\r\n\r\nok"),
        (
            "Content-Length with Transfer-Encoding",
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
        ),
        ("status 999", "HTTP/1.1 999 Odd\r\nContent-Length: 2\r\n\r\nok"),
        ("obs-fold", "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 2\r\n\r\nok"),
        ("conflicting lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok"),
    ]

    @Test(arguments: refused)
    func lenientHeads_areBadResponses(_ name: String, _ raw: String) async throws {
        #expect(try await code(raw) == "bad_response", "\(name)")
    }

    @Test func strictHeads_stillPass_interimAnswersIncluded() async throws {
        let r = try await outcome("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 2\r\n\r\nok")
        guard case .success(let answer) = r else {
            Issue.record("refused: \(r)")
            return
        }
        #expect(answer.status == 200 && answer.body == Array("ok".utf8))
        #expect(answer.headers.values("x-a") == ["1", "2"])
    }

    @Test func manyFields_areTooLarge_atOnce() async throws {
        // 20,000 fields once cost 7.5 s of CPU on the loop; now the head stops at 100 fields.
        let fields = (0..<20_000).map { "X-\($0): v\r\n" }.joined()
        let started = ContinuousClock.now
        #expect(try await code("HTTP/1.1 200 OK\r\n" + fields + "Content-Length: 0\r\n\r\n") == "too_large")
        #expect(ContinuousClock.now - started < .seconds(1))
    }

    @Test func aHugeHead_isTooLarge() async throws {
        let value = String(repeating: "v", count: 70_000)
        #expect(try await code("HTTP/1.1 200 OK\r\nX-Big: \(value)\r\nContent-Length: 0\r\n\r\n") == "too_large")
    }
}
