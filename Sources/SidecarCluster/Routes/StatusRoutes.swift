import Glibc
import SidecarClient
import SidecarHTTP
import SidecarPosix
import SidecarServer
import SidecarSupervisor

/// `GET /status`, `GET /cluster/servers`, `POST /register`, `POST /unregister` (local API).
package enum StatusRoutes {
    /// The body of `GET /cluster/servers`.
    static func clusterBody(_ snapshot: ClusterView.Snapshot) -> StatusBody.Cluster {
        StatusBody.Cluster(servers: snapshot.servers, updatedAt: snapshot.updatedAt > 0 ? WallClock.iso(snapshot.updatedAt) : nil)
    }

    /// The body of `GET /status`. The four upper-case figures keep their original names.
    struct StatusBody: Encodable {
        struct Cluster: Encodable {
            var servers: [ServerInfo]
            var updatedAt: String?
        }
        struct Health: Encodable {
            var inRotation: Bool
            var ready: Bool
            var registered: Bool
            var applicationHealthy: Bool
            var draining: Bool
        }
        var REGISTRATION_STATUS: String
        var CLUSTER_STATUS_SERVERS: Int
        var CLUSTER_STATUS_UPDATED_AT: String?
        var CLUSTER_STATUS_LEASE_TIME: Double
        var registration: RegistrationSnapshot?
        var server: ServerInfo?
        var cluster: Cluster
        var health: Health
        struct Calls: Encodable {
            var ok: Int
            var failed: Int
        }
        struct LeaseRenewals: Encodable {
            var ok: Int
            var failed: Int
            var last: String?
            var nextInSeconds: Double?
        }
        struct Process: Encodable {
            var pid: Int32
            var residentBytes: Int
            var openFDs: Int
            var cpuSeconds: Double
        }
        var uptimeSeconds: Double
        var version: String
        var process: Process
        var traffic: [ListenerStats]
        var fanOut: FanOutStats.Snapshot
        var registrations: Calls
        var leaseRenewals: LeaseRenewals
        /// Under `cluster-sidecar run`: the workers (as `GET /app/workers`).
        var app: WorkersStatus?
    }

    package static func add(to router: inout Router, context: SidecarContext) {
        router.onAsync("GET", "/status") { _ in .json(200, encoding: await status(context), fields: HTTPFields.noStore) }
        WatchRoutes.register(&router, context: context)
        router.onAsync("POST", "/register") { _ in
            guard let registrar = context.registrar else { return noRegistry() }
            let report = await registrar.registerNow()
            return .json(report.serverId == nil ? 502 : 200, encoding: report)
        }
        router.onAsync("POST", "/unregister") { _ in
            guard let registrar = context.registrar else { return noRegistry() }
            return .json(200, encoding: await registrar.unregisterNow())
        }
    }

    /// The fan-out figures, with the nodes ejected now.
    static func fanOutStatus(_ context: SidecarContext) -> FanOutStats.Snapshot {
        var stats = context.metrics.fanOuts.snapshot()
        if let fanOut = context.fanOut {
            let now = fanOut.clock.now
            stats.ejected = fanOut.outliers.ejected(now: now).map {
                FanOutStats.Ejected(url: $0.url, secondsLeft: (now.duration(to: $0.until).seconds * 1000).rounded() / 1000)
            }
        }
        return stats
    }

    static func noRegistry() -> HTTPResponse {
        .error(409, code: "no_registry", message: "MIT_URL is not set: this sidecar runs as a cluster of one")
    }

    static func status(_ context: SidecarContext) async -> StatusBody {
        let registration = await context.registrar?.snapshot()
        let snapshot = context.view.snapshot()
        let h = context.health
        let counts = registration?.counts ?? RegistrationStats()
        let process = ProcessStats.read()
        var app: WorkersStatus?
        if let (supervisor, socket) = context.supervisor { app = await supervisor.status(socketAddress: socket) }
        return StatusBody(
            REGISTRATION_STATUS: registration?.status ?? "disabled",
            CLUSTER_STATUS_SERVERS: snapshot.servers.count,
            CLUSTER_STATUS_UPDATED_AT: snapshot.updatedAt > 0 ? WallClock.iso(snapshot.updatedAt) : nil,
            CLUSTER_STATUS_LEASE_TIME: registration?.leaseTime ?? context.configuration.leaseTimeDefault.seconds,
            registration: registration,
            server: context.me.map { me in
                var m = me
                if let id = registration?.serverId { m.id = id }
                return m
            },
            cluster: .init(servers: snapshot.servers, updatedAt: snapshot.updatedAt > 0 ? WallClock.iso(snapshot.updatedAt) : nil),
            health: .init(
                inRotation: h.inRotation, ready: h.isReady, registered: h.isRegistered, applicationHealthy: h.isApplicationHealthy,
                draining: h.isDraining),
            uptimeSeconds: ((context.clock.now - context.startedAt).seconds * 1000).rounded() / 1000,
            version: SidecarVersion.current,
            process: .init(pid: getpid(), residentBytes: process.residentBytes, openFDs: process.openFDs, cpuSeconds: process.cpuSeconds),
            traffic: context.listenerStats(),
            fanOut: fanOutStatus(context),
            registrations: .init(ok: counts.registrationsOK, failed: counts.registrationsFailed),
            leaseRenewals: .init(
                ok: counts.renewalsOK, failed: counts.renewalsFailed, last: registration?.lastLeasedAt,
                nextInSeconds: registration?.nextLeaseInSeconds),
            app: app)
    }
}
