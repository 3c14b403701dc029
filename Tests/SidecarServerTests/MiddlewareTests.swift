import SidecarTestSupport
import Synchronization
import Testing

@testable import SidecarHTTP
@testable import SidecarServer

/// Middleware around handlers, without a server: the router's prepared handlers called directly.
@Suite struct MiddlewareTests {
    /// Calls `router`'s handler for `method path` and returns the answer, now or later.
    static func call(_ router: Router, _ method: String, _ path: String, fields: [(String, String)] = []) async -> HTTPResponse {
        let head = RequestHeadParser.parse(
            Array("\(method) \(path) HTTP/1.1\r\nHost: h\r\n\(fields.map { "\($0.0): \($0.1)\r\n" }.joined())\r\n".utf8))
        guard case .complete(let parsed, _) = head else { preconditionFailure("bad test request") }
        let (handler, parameters) = router.handler(method: method, path: path)
        var request = HTTPRequest(head: parsed, body: [], made: .make())
        request.pathParameters = parameters
        return await withCheckedContinuation { c in
            let responder = Responder { c.resume(returning: $0) }
            if case .now(let r) = handler(request, responder) { c.resume(returning: r) }
        }
    }

    @Test func routePatterns_areNumberedWhenPrepared_unmatchedFirst() {
        var router = Router()
        router.on("GET", "/servers/{id}") { _ in HTTPResponse(status: 200) }
        router.on("GET", "/healthz") { _ in HTTPResponse(status: 200) }
        router.on("DELETE", "/servers/{id}") { _ in HTTPResponse(status: 204) }
        let prepared = router.prepared()
        #expect(prepared.routePatterns == ["unmatched", "/healthz", "/servers/{id}"])
        #expect(prepared.route(method: "DELETE", path: "/servers/x").2 == 2)
        #expect(prepared.route(method: "PUT", path: "/healthz").2 == 1)
        #expect(prepared.route(method: "GET", path: "/nowhere").2 == 0)
    }

    @Test func correlationID_isTakenOrMade_andPutOnAnswersNowAndLater() async {
        var router = Router()
        router.on("GET", "/now") { request in .json(200, "\"\(request.correlationID)\"") }
        router.onAsync("GET", "/later") { request in .json(200, "\"\(request.correlationID)\"") }
        let prepared = router.prepared(outer: [CorrelationMiddleware()])
        for path in ["/now", "/later"] {
            let given = await Self.call(prepared, "GET", path, fields: [("x-correlation-id", "abc-123")])
            #expect(given.correlationID?.description == "abc-123")
            #expect(String(decoding: given.body, as: UTF8.self) == "\"abc-123\"")
            let made = await Self.call(prepared, "GET", path)
            #expect(made.correlationID?.description.count == 36)
        }
        let missing = await Self.call(prepared, "GET", "/missing")
        #expect(missing.status == 404 && missing.correlationID != nil)
    }

    @Test func groupMiddleware_wrapsOnlyItsRoutes_insideTheGlobalOnes() async {
        struct Tag: Middleware {
            let name: String
            func wrap(_ next: @escaping HTTPHandler, route: RouteInfo) -> HTTPHandler {
                { request, responder in
                    .passing(request, responder, through: next) { r in
                        var out = r
                        out.fields.append("x-tag", name)
                        return out
                    }
                }
            }
        }
        var router = Router()
        router.on("GET", "/open") { _ in HTTPResponse(status: 200) }
        router.group(Tag(name: "inner")) { r in r.on("GET", "/guarded") { _ in HTTPResponse(status: 200) } }
        router.use(Tag(name: "outer"))
        let prepared = router.prepared()
        #expect(await Self.call(prepared, "GET", "/open").fields.storage.map(\.value) == ["outer"])
        #expect(await Self.call(prepared, "GET", "/guarded").fields.storage.map(\.value) == ["inner", "outer"])
    }
}

@Test func methodLabelCount_isTheNumberOfLabels() {
    #expect(MethodLabel.count == MethodLabel.allCases.count)
}
