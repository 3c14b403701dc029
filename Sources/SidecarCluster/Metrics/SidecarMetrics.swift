import Prometheus
import SidecarHTTP
import SidecarPosix
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
public final class SidecarMetrics: RequestObserver, Sendable {
    public let registry = PrometheusCollectorRegistry()
    /// Fan-out figures, shared with `/status`.
    public let fanOuts = FanOutStats()

    static let namespace = "cluster_sidecar"
    static let requestBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500),
        .seconds(5), .seconds(10), .seconds(30),
    ]

    /// Each event loop's histograms by packed key, touched only on that loop's thread.
    private final class LoopCache: @unchecked Sendable {
        var histograms: [UInt64: DurationHistogram] = [:]
    }
    private let caches: [LoopCache]
    /// Listener names and route patterns, from `serverStarted`.
    private let listeners = Mutex<[(name: String, routes: [String])]>([])
    /// Serializes scrapes (they update counters by difference) and holds the last values.
    private let scrapeState = Mutex<[String: Int]>([:])

    private let fanOutDuration: DurationHistogram
    private let fanOutNodes: Counter
    private let fanOutFailures: [String: Counter]

    /// - Parameter loops: the server's event loop count (answers from other loops are dropped).
    public init(loops: Int) {
        caches = (0..<max(1, loops)).map { _ in LoopCache() }
        fanOutDuration = registry.makeDurationHistogram(
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

    public func serverStarted(loops: Int, listeners: [(name: String, routes: [String])]) {
        self.listeners.withLock { $0 = listeners }
    }

    public func answered(_ r: AnsweredRequest) {
        guard r.loop < caches.count else { return }
        let cache = caches[r.loop]
        // listener (8 bits) | route + 1 (24) | method (8) | status (16)
        let key = UInt64(r.listener & 0xFF) << 48 | UInt64((r.route + 1) & 0xFF_FFFF) << 24 | UInt64(r.method.rawValue) << 16
            | UInt64(r.status & 0xFFFF)
        if let histogram = cache.histograms[key] {
            histogram.record(r.duration)
            return
        }
        let histogram = makeRequestHistogram(r)
        cache.histograms[key] = histogram
        histogram.record(r.duration)
    }

    private func makeRequestHistogram(_ r: AnsweredRequest) -> DurationHistogram {
        let (listener, route) = listeners.withLock { l -> (String, String) in
            guard r.listener < l.count else { return ("unknown", "unmatched") }
            let routes = l[r.listener].routes
            let route = r.route == AnsweredRequest.refused ? "refused" : r.route < routes.count ? routes[r.route] : "unmatched"
            return (l[r.listener].name, route)
        }
        return registry.makeDurationHistogram(
            descriptor: Self.name("http_request_duration", "seconds", "Time from a complete request head to its answer, by listener, route pattern, method and status."),
            labels: [("listener", listener), ("route", route), ("method", r.method.text), ("status", String(r.status))],
            buckets: Self.requestBuckets)
    }

    /// One fan-out ended after `duration` with `result`.
    public func fanOutFinished(_ result: FanOutResult, duration: Duration) {
        fanOutDuration.record(duration)
        fanOutNodes.increment(by: Int64(result.outcomes.count))
        for code in fanOuts.record(result) { fanOutFailures[code]?.increment() }
    }

    // MARK: read at scrape time

    /// What a scrape reads from the rest of the sidecar.
    public struct Sources: Sendable {
        public var traffic: [ListenerTraffic]
        public var clusterServers: Int
        /// The registration state (`RegistrationMachine.Status`), or `disabled` without a registry.
        public var registrationState: String
        public var registrations: RegistrationCounts
        public var membership: ClusterView.Changes
        public var process: ProcessStats

        public init(
            traffic: [ListenerTraffic], clusterServers: Int, registrationState: String, registrations: RegistrationCounts,
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
    public static let registrationStates = ["disabled"] + RegistrationMachine.Status.allCases.map(\.rawValue)

    /// Brings the read-at-scrape families up to date and writes every family as Prometheus text.
    public func exposition(_ sources: Sources) -> [UInt8] {
        scrapeState.withLock { last in
            let open = Self.name("connections_open", "", "Open connections, by listener.")
            let total = Self.name("connections", "total", "Connections accepted and kept, by listener.")
            for t in sources.traffic {
                registry.makeGauge(descriptor: open, labels: [("listener", t.listener)]).set(to: Double(t.openConnections))
                sync(registry.makeCounter(descriptor: total, labels: [("listener", t.listener)]), "conn/\(t.listener)", t.totalConnections, &last)
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
            sync(registry.makeCounter(descriptor: registrations, labels: [("result", "failed")]), "reg/failed", r.registrationsFailed, &last)
            sync(registry.makeCounter(descriptor: renewals, labels: [("result", "ok")]), "lease/ok", r.renewalsOK, &last)
            sync(registry.makeCounter(descriptor: renewals, labels: [("result", "failed")]), "lease/failed", r.renewalsFailed, &last)
            let changes = Self.name("membership_changes", "total", "Servers that joined or left the cluster view, by kind.")
            sync(registry.makeCounter(descriptor: changes, labels: [("kind", "join")]), "join", sources.membership.joins, &last)
            sync(registry.makeCounter(descriptor: changes, labels: [("kind", "leave")]), "leave", sources.membership.leaves, &last)

            var out: [UInt8] = []
            out.reserveCapacity(16 * 1024)
            registry.emit(into: &out)
            Self.writeProcess(sources.process, into: &out)
            return out
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
