import SidecarHTTP
import SidecarServer

/// `GET /openapi.yaml`, `GET /ui` and `GET /`, which points a browser at `/ui` (local API, no token: neither holds live data; the page
/// asks for `LOCAL_API_TOKEN` when `/status` needs it). Both are built once, from the files
/// the build embeds (`Resources/`, links to `openapi.yaml` and `ui/status.html`).
package enum DocumentRoutes {
    package static func add(to router: inout Router) {
        let document = HTTPResponse(
            status: 200, fields: HTTPFields([("Content-Type", "application/yaml; charset=utf-8"), ("Cache-Control", "no-cache")]),
            body: PackageResources.openapi_yaml)
        router.on("GET", "/openapi.yaml") { _ in document }
        let page = HTTPResponse(
            status: 200,
            fields: HTTPFields([
                ("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-cache"), ("X-Content-Type-Options", "nosniff"),
                // Everything is inline; the page talks to nothing but this sidecar.
                (
                    "Content-Security-Policy",
                    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'"
                ),
            ]),
            body: PackageResources.status_html)
        router.on("GET", "/ui") { _ in page }
        // A browser opened on the local API's root lands on the page; a program reads where to go.
        let root = HTTPResponse.json(
            302, #"{"ui":"/ui","status":"/status","metrics":"/metrics","openapi":"/openapi.yaml"}"#,
            fields: HTTPFields([("Location", "/ui"), ("Cache-Control", "no-cache")]))
        router.on("GET", "/") { _ in root }
    }
}
