import Testing

@testable import SidecarClient
@testable import SidecarCluster
@testable import SidecarHTTP

/// The aggregate's JSON: header names, media types spliced or kept as strings.
@Suite struct FanOutAggregateTests {
    @Test func aggregate_lowerCasesAndMergesHeaderNames_andSplicesOnlyJSONMediaTypes() throws {
        let fields = HTTPFields([("Content-Type", "Application/Problem+JSON"), ("X-Multi", "a"), ("x-multi", "b\"c"), ("Set-Cookie", "s")])
        let json = ClientResponse(status: 200, headers: fields, body: Array(#"{"k":1}"#.utf8), duration: .microseconds(1500))
        let text = ClientResponse(
            status: 200, headers: HTTPFields([("Content-Type", "application/vnd.api+json")]), body: Array("{}".utf8), duration: .zero)
        let plain = ClientResponse(
            status: 200, headers: HTTPFields([("Content-Type", "text/plain")]), body: Array("{}".utf8), duration: .zero)
        let servers = ["a", "b", "c"].map { ServerInfo(id: $0, type: "t", url: "http://\($0)", clusterUrl: "http://\($0)") }
        let out = String(
            decoding: FanOutResult(servers: servers, outcomes: [.answered(json), .answered(text), .answered(plain)]).json(), as: UTF8.self)
        #expect(out.contains(#""headers":{"content-type":"Application/Problem+JSON","x-multi":"a, b\"c","set-cookie":"s"},"data":{"k":1}"#))
        #expect(out.contains(#""data":[{"k":1},{},"{}"]"#), "any media type naming json is spliced; others stay strings")
        #expect(FanOutResult.mentionsJSON("application/JSON") && !FanOutResult.mentionsJSON("text/jso") && !FanOutResult.mentionsJSON(""))
    }
}
