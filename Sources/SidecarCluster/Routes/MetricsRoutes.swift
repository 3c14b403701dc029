import SidecarHTTP

/// `GET /metrics` (local API): Prometheus text, exposition format 0.0.4.
public enum MetricsRoutes {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public static func add(to router: inout Router, context: SidecarContext) {
        router.onAsync("GET", "/metrics") { _ in
            let registration = await context.registrar?.snapshot()
            let view = context.view.snapshot()
            let body = context.metrics.exposition(.init(
                traffic: context.traffic(), clusterServers: view.servers.count, registrationState: registration?.status ?? "disabled",
                registrations: registration?.counts ?? RegistrationCounts(), membership: view.changes, process: ProcessStats.read()))
            return HTTPResponse(status: 200, fields: HTTPFields([("Content-Type", contentType), ("Cache-Control", "no-store")]), body: body)
        }
    }
}
