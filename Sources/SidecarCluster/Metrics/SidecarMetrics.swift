import Prometheus
import SidecarHTTP
import SidecarPosix
import SidecarServer
import SidecarSupervisor
import Synchronization

/// The sidecar's Prometheus metrics (exposition 0.0.4), on swift-prometheus's registry.
///
/// Two kinds of figures:
/// - recorded as they happen: request and fan-out durations (histograms), through the
///   server's `RequestObserver` hook and the fan-out routes;
/// - read at scrape time from where they are kept (the server's traffic counters, the view,
///   the registrar, `/proc/self`): `exposition(_:)` brings the registry's gauges and counters
///   up to date, then writes it, plus the standard process families.
///
/// Every label is bounded: listener names, route patterns (`unmatched`, `refused`), the
/// methods of `MethodLabel`, statuses, and typed codes.
package final class SidecarMetrics: RequestObserver, Sendable {
    package let registry = PrometheusCollectorRegistry()
    /// Fan-out figures, shared with `/status`.
    package let fanOuts = FanOutStats()

    static let namespace = "cluster_sidecar"
    /// Bucket bounds in seconds. Request durations use a `Double` histogram: swift-prometheus's
    /// `Duration` one compares 128-bit values through calls, several times the cost per answer.
    static let requestBuckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

    /// One event loop's request histograms, touched only on that loop's thread: a slot per
    /// (listener, route, method), each holding the few statuses that route has answered.
    private final class LoopCache: @unchecked Sendable {  // touched only on its own loop's thread
        var slots: [[(status: Int, histogram: ValueHistogram)]] = []
        var routesPerListener = 0
    }
    private let caches: [LoopCache]
    /// Listener names and route patterns, from `serverStarted`.
    private let listeners = Mutex<[(name: String, routes: [String])]>([])
    /// Serializes scrapes (they update counters by difference) and holds the last values.
    private let scrapeState = Mutex<[String: Int]>([:])

    private let fanOutDuration: ValueHistogram
    private let fanOutNodes: Counter
    private let fanOutFailures: [String: Counter]

    /// - Parameter loops: the server's event loop count (answers from other loops are dropped).
    package init(loops: Int) {
        caches = (0..<max(1, loops)).map { _ in LoopCache() }
        fanOutDuration = registry.makeValueHistogram(
            descriptor: Self.name("fanout_duration", "seconds", "Time from a fan-out's start to its aggregate answer."),
            buckets: Self.requestBuckets)
        fanOutNodes = registry.makeCounter(descriptor: Self.name("fanout_nodes", "total", "Node requests sent by fan-outs."))
        var failures: [String: Counter] = [:]
        let failureName = Self.name("fanout_node_failures", "total", "Fan-out node requests that failed, by code.")
        for code in FanOutStats.codes { failures[code] = registry.makeCounter(descriptor: failureName, labels: [("code", code)]) }
        fanOutFailures = failures
    }

    static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: namespace, metricName: metric, unitName: unit, helpText: help)
    }

    // MARK: recorded as it happens

    package func serverStarted(loops: Int, listeners: [(name: String, routes: [String])]) {
        self.listeners.withLock { $0 = listeners }
        // Each loop sizes its own table on its first answer (the loops may already run).
    }

    package func answered(_ r: AnsweredRequest) {
        guard r.loop < caches.count, r.route >= AnsweredRequest.refused else { return }
        let cache = caches[r.loop]
        if r.route + 1 >= cache.routesPerListener { resize(cache) }  // the first answer on this loop
        // Slot: listener, then route + 1 (0 is `refused`), then method.
        let slot = (r.listener * cache.routesPerListener + r.route + 1) * MethodLabel.count + Int(r.method.rawValue)
        guard r.route + 1 < cache.routesPerListener, slot < cache.slots.count else { return }
        for k in cache.slots[slot].indices where cache.slots[slot][k].status == r.status {
            cache.slots[slot][k].histogram.record(Double(r.nanoseconds) * 1e-9)
            return
        }
        let histogram = makeRequestHistogram(r)
        cache.slots[slot].append((r.status, histogram))
        histogram.record(Double(r.nanoseconds) * 1e-9)
    }

    /// Sizes `cache` for the listeners and routes `serverStarted` gave (on the loop's thread).
    private func resize(_ cache: LoopCache) {
        let shape = listeners.withLock { l in (l.count, (l.map(\.routes.count).max() ?? 0) + 1) }
        guard shape.1 > cache.routesPerListener else { return }
        cache.routesPerListener = shape.1
        cache.slots = Array(repeating: [], count: max(1, shape.0) * shape.1 * MethodLabel.count)
    }

    private func makeRequestHistogram(_ r: AnsweredRequest) -> ValueHistogram {
        let (listener, route) = listeners.withLock { l -> (String, String) in
            guard r.listener < l.count else { return ("unknown", "unmatched") }
            let routes = l[r.listener].routes
            let route = r.route == AnsweredRequest.refused ? "refused" : r.route < routes.count ? routes[r.route] : "unmatched"
            return (l[r.listener].name, route)
        }
        return registry.makeValueHistogram(
            descriptor: Self.name(
                "http_request_duration", "seconds",
                "Time from a complete request head to its answer, by listener, route pattern, method and status."),
            labels: [("listener", listener), ("route", route), ("method", r.method.text), ("status", String(r.status))],
            buckets: Self.requestBuckets)
    }

    /// One fan-out ended after `duration` with `result`.
    package func fanOutFinished(_ result: FanOutResult, duration: Duration) {
        fanOutDuration.record(duration.secondsAsDouble)
        fanOutNodes.increment(by: Int64(result.outcomes.count))
        for code in fanOuts.record(result) { fanOutFailures[code]?.increment() }
    }

    // MARK: read at scrape time

    /// What a scrape reads from the rest of the sidecar.
    package struct Sources: Sendable {
        package var traffic: [ListenerStats]
        package var clusterServers: Int
        /// The registration state (`RegistrationMachine.Status`), or `disabled` without a registry.
        package var registrationState: String
        package var registrations: RegistrationStats
        package var membership: ClusterView.Changes
        package var process: ProcessStats
        /// Fan-out nodes ejected now, and ejections since start.
        package var ejectedNodes = 0
        package var ejections = 0
        /// Moves between `MIT_URL`'s URLs since start.
        package var registryMoves = 0
        /// Blocking queries and event streams open now.
        package var watchers = 0
        /// Under `cluster-sidecar run`: workers by state, restarts, reloads by result.
        package var app: (states: [String: Int], restarts: Int, reloads: [String: Int])?

        package init(
            traffic: [ListenerStats], clusterServers: Int, registrationState: String, registrations: RegistrationStats,
            membership: ClusterView.Changes, process: ProcessStats
        ) {
            self.traffic = traffic
            self.clusterServers = clusterServers
            self.registrationState = registrationState
            self.registrations = registrations
            self.membership = membership
            self.process = process
        }
    }

    /// The registration states the state gauge always lists.
    package static let registrationStates = ["disabled"] + RegistrationMachine.Status.allCases.map(\.rawValue)

    /// Brings the read-at-scrape families up to date and writes every family as Prometheus text.
    package func exposition(_ sources: Sources) -> [UInt8] {
        scrapeState.withLock { last in
            let open = Self.name("connections_open", "", "Open connections, by listener.")
            let total = Self.name("connections", "total", "Connections accepted and kept, by listener.")
            for t in sources.traffic {
                registry.makeGauge(descriptor: open, labels: [("listener", t.listener)]).set(to: Double(t.openConnections))
                sync(
                    registry.makeCounter(descriptor: total, labels: [("listener", t.listener)]), "conn/\(t.listener)", t.totalConnections,
                    &last)
            }
            registry.makeGauge(descriptor: Self.name("cluster_servers", "", "Servers in the cluster view, self included."))
                .set(to: Double(sources.clusterServers))
            let state = Self.name("registration_state", "", "1 for the current registration state, 0 for the others.")
            for s in Self.registrationStates {
                registry.makeGauge(descriptor: state, labels: [("state", s)]).set(to: s == sources.registrationState ? 1.0 : 0.0)
            }
            let registrations = Self.name("registrations", "total", "Registration calls to the registry, by result.")
            let renewals = Self.name("lease_renewals", "total", "Lease renewal calls to the registry, by result.")
            let r = sources.registrations
            sync(registry.makeCounter(descriptor: registrations, labels: [("result", "ok")]), "reg/ok", r.registrationsOK, &last)
            sync(
                registry.makeCounter(descriptor: registrations, labels: [("result", "failed")]), "reg/failed", r.registrationsFailed, &last)
            sync(registry.makeCounter(descriptor: renewals, labels: [("result", "ok")]), "lease/ok", r.renewalsOK, &last)
            sync(registry.makeCounter(descriptor: renewals, labels: [("result", "failed")]), "lease/failed", r.renewalsFailed, &last)
            let changes = Self.name("membership_changes", "total", "Servers that joined or left the cluster view, by kind.")
            sync(registry.makeCounter(descriptor: changes, labels: [("kind", "join")]), "join", sources.membership.joins, &last)
            sync(registry.makeCounter(descriptor: changes, labels: [("kind", "leave")]), "leave", sources.membership.leaves, &last)

            registry.makeGauge(descriptor: Self.name("fanout_ejected_nodes", "", "Fan-out nodes left out now for failing."))
                .set(to: Double(sources.ejectedNodes))
            sync(
                registry.makeCounter(descriptor: Self.name("fanout_ejections", "total", "Fan-out nodes ejected for failing, since start.")),
                "ejections", sources.ejections, &last)

            sync(
                registry.makeCounter(
                    descriptor: Self.name("registry_moves", "total", "Moves from one of MIT_URL's registry URLs to the next, since start.")),
                "registry_moves", sources.registryMoves, &last)
            registry.makeGauge(descriptor: Self.name("watchers", "", "Blocking queries and event streams open now."))
                .set(to: Double(sources.watchers))

            if let app = sources.app { syncApp(app, &last) }

            var out: [UInt8] = []
            out.reserveCapacity(16 * 1024)
            registry.emit(into: &out)
            Self.writeProcess(sources.process, into: &out)
            return out
        }
    }

    /// The supervisor's families: every state listed, 0 when none is in it.
    private func syncApp(_ app: (states: [String: Int], restarts: Int, reloads: [String: Int]), _ last: inout [String: Int]) {
        let workers = Self.name("app_workers", "", "Application worker processes, by state.")
        for state in SupervisorMachine.State.allCases {
            registry.makeGauge(descriptor: workers, labels: [("state", state.rawValue)]).set(to: Double(app.states[state.rawValue] ?? 0))
        }
        let restarts = Self.name("app_worker_restarts", "total", "Workers started to replace one that exited, or on request or for memory.")
        sync(registry.makeCounter(descriptor: restarts), "app/restarts", app.restarts, &last)
        let reloads = Self.name("app_reloads", "total", "Rolling restarts of the application that ended, by result.")
        for (result, count) in app.reloads.sorted(by: { $0.key < $1.key }) {
            sync(registry.makeCounter(descriptor: reloads, labels: [("result", result)]), "app/reload/\(result)", count, &last)
        }
    }

    /// Counters only go up: adds what `value` gained since the last scrape.
    private func sync(_ counter: Counter, _ key: String, _ value: Int, _ last: inout [String: Int]) {
        let delta = value - last[key, default: 0]
        if delta > 0 { counter.increment(by: Int64(delta)) }
        last[key] = max(value, last[key, default: 0])
    }

    /// The standard process collector's families, as other Prometheus clients write them.
    static func writeProcess(_ p: ProcessStats, into out: inout [UInt8]) {
        func family(_ name: String, _ type: String, _ help: String, _ value: String) {
            out.append(contentsOf: "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(value)\n".utf8)
        }
        family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", "\(p.cpuSeconds)")
        family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", "\(p.residentBytes)")
        family("process_open_fds", "gauge", "Number of open file descriptors.", "\(p.openFDs)")
        family("process_max_fds", "gauge", "Maximum number of open file descriptors.", "\(p.maxFDs)")
        family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", "\(p.startTime)")
    }
}

extension Duration {
    /// Seconds as a `Double`, for histograms.
    @inline(__always)
    var secondsAsDouble: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) * 1e-18
    }
}
