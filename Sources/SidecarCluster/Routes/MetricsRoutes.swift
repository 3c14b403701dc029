import SidecarHTTP
import SidecarServer

/// `GET /metrics` (local API): Prometheus text, exposition format 0.0.4.
package enum MetricsRoutes {
    /// The exposition format's content type (the registry's `/metrics` answers with it too).
    package static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    package static func add(to router: inout Router, context: SidecarContext) {
        router.onAsync("GET", "/metrics") { _ in
            let registration = await context.registrar?.snapshot()
            let view = context.view.snapshot()
            var sources = SidecarMetrics.Sources(
                traffic: context.listenerStats(), clusterServers: view.servers.count, registrationState: registration?.status ?? "disabled",
                registrations: registration?.counts ?? RegistrationStats(), membership: view.changes, process: ProcessStats.read())
            if let (supervisor, _) = context.supervisor { sources.app = await supervisor.stats() }
            sources.registryMoves = registration?.registryMoves ?? 0
            sources.watchers = context.watchers.count
            if let fanOut = context.fanOut {
                sources.ejectedNodes = fanOut.outliers.ejected(now: fanOut.clock.now).count
                sources.ejections = fanOut.outliers.ejectionCount
            }
            let body = context.metrics.exposition(sources)
            return HTTPResponse(
                status: 200, fields: HTTPFields([("Content-Type", contentType), ("Cache-Control", "no-store")]), body: body)
        }
    }
}
