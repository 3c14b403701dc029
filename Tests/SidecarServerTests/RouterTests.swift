import SidecarTestSupport
import Testing

@testable import SidecarHTTP
@testable import SidecarPosix
@testable import SidecarServer

@Suite struct RouterTests {
    func router() -> Router {
        var r = Router()
        r.on("GET", "/a") { _ in HTTPResponse(status: 200) }
        r.on("POST", "/a") { _ in HTTPResponse(status: 201) }
        r.on("DELETE", "/servers/{id}") { _ in HTTPResponse(status: 200) }
        r.on("GET", "/cluster/proxy/{path...}") { _ in HTTPResponse(status: 200) }
        return r
    }

    @Test func exactPath_findsTheMethod_andHeadFallsBackToGet() {
        guard case .found = router().resolve(method: "HEAD", path: "/a") else {
            Issue.record("HEAD not served by GET")
            return
        }
    }

    @Test func wrongMethod_listsAllowed() {
        guard case .methodNotAllowed(let allow) = router().resolve(method: "PUT", path: "/a") else {
            Issue.record("not 405")
            return
        }
        #expect(allow == "GET, HEAD, POST")
    }

    @Test func parameters_andRest_areCaptured() {
        guard case .found(_, let p) = router().resolve(method: "DELETE", path: "/servers/s1") else {
            Issue.record("no match")
            return
        }
        #expect(p == ["id": "s1"])
        guard case .found(_, let q) = router().resolve(method: "GET", path: "/cluster/proxy/a/b/c") else {
            Issue.record("no rest match")
            return
        }
        #expect(q == ["path": "a/b/c"])
    }

    @Test func unknownPaths_areNotFound() {
        for path in ["/", "/b", "/a/", "/servers", "/servers/", "/servers/a/b", "/cluster/proxy"] {
            guard case .notFound = router().resolve(method: "GET", path: path) else {
                Issue.record("\(path) matched")
                continue
            }
        }
    }

    @Test func imfFixdate_formatsKnownInstants() {
        #expect(DateCache.imfFixdate(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(DateCache.imfFixdate(0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(DateCache.imfFixdate(1_795_420_800) == "Mon, 23 Nov 2026 08:00:00 GMT")
    }
}

@Suite struct DotSegmentTests {
    @Test func dotSegments_areRemoved_andClimbingAboveTheRootIsRefused() {
        #expect(DotSegments.remove("/healthz") == "/healthz")
        #expect(DotSegments.remove("/a/./b") == "/a/b")
        #expect(DotSegments.remove("/a/b/../c") == "/a/c")
        #expect(DotSegments.remove("/a/b/..") == "/a/")
        #expect(DotSegments.remove("/a/%2E%2e/b") == "/b")
        #expect(DotSegments.remove("/a/.") == "/a/")
        #expect(DotSegments.remove("/..") == nil)
        #expect(DotSegments.remove("/a/../..") == nil)
        #expect(DotSegments.remove("/a..b/.c/c.") == "/a..b/.c/c.")
    }
}
