import ServiceLifecycle
import SidecarHTTP
import SidecarServer
import Synchronization

/// Keeps the event streams alive (a comment every `interval`, which proxies and clients that
/// time out idle streams need), and ends them all at the graceful shutdown, before the server
/// drains.
package struct EventStreamKeepAlive: Service {
    let view: ClusterView
    let interval: Duration

    package init(view: ClusterView, interval: Duration = .seconds(15)) {
        self.view = view
        self.interval = interval
    }

    package func run() async {
        // The graceful shutdown cancels the loop; then every stream ends.
        _ = try? await cancelWhenGracefulShutdown { [view, interval] in
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                view.ping()
            }
        }
        view.endAll()
    }
}

/// How many blocking queries and event streams are open, at most `max` at once.
package final class WatcherGate: Sendable {
    private let open = Atomic<Int>(0)
    package let max: Int

    package init(max: Int) { self.max = max }

    /// Takes a place; false when every place is taken.
    package func enter() -> Bool {
        if open.add(1, ordering: .relaxed).newValue <= max { return true }
        open.subtract(1, ordering: .relaxed)
        return false
    }

    package func leave() { open.subtract(1, ordering: .relaxed) }

    package var count: Int { open.load(ordering: .relaxed) }
}

/// The application hears of changes without polling (local API): `GET /cluster/servers` as a
/// blocking query (`?index=N&wait=30s`, as Consul's), and `GET /cluster/events`, a stream of
/// Server-Sent Events. Both carry the view's index: `X-Cluster-Index`, the events' ids.
package enum WatchRoutes {
    /// The longest `wait`, and the one without a `wait` (Consul's).
    static let longestWait: Duration = .seconds(600)
    static let defaultWait: Duration = .seconds(300)
    /// An event stream whose reader is this far behind is dropped.
    static let streamBehind = 256 * 1024
    static let mediaType = "text/event-stream"

    /// What a `GET /cluster/servers` asks.
    enum Query: Equatable {
        /// The view now.
        case now
        /// The view once its index is not `index` (at once when it is not already), or after `wait`.
        case blocking(index: UInt64, wait: Duration)
        /// An index or a wait that does not read.
        case bad
    }

    /// The query's `index` and `wait` (`wait` as `30s`, `500ms`, `5m` or seconds).
    static func query(_ text: String?) -> Query {
        var index: UInt64?
        var wait: Duration?
        for pair in (text ?? "").split(separator: "&") {
            // `index=` and a bare `index` name the parameter without a value: refused, not ignored.
            var parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            if parts.count == 1 { parts.append("") }
            switch parts[0] {
            case "index":
                // At most 2^53 - 1, as JavaScript's numbers hold it exactly (and the contract says).
                guard let n = UInt64(parts[1]), n <= 9_007_199_254_740_991 else { return .bad }
                index = n
            case "wait":
                guard let d = duration(parts[1]) else { return .bad }
                wait = min(d, longestWait)
            default: continue
            }
        }
        guard let index else { return .now }
        return .blocking(index: index, wait: wait ?? defaultWait)
    }

    /// `30s`, `500ms`, `5m`, or a number of seconds.
    static func duration(_ text: String) -> Duration? {
        let (digits, factor): (Substring, Double) =
            if text.hasSuffix("ms") { (text.dropLast(2), 0.001) } else if text.hasSuffix("s") {
                (text.dropLast(), 1)
            } else if text.hasSuffix("m") {
                (text.dropLast(), 60)
            } else { (text[...], 1) }
        guard let n = Double(digits), n.isFinite, n >= 0, digits.first != "+" else { return nil }
        return .milliseconds(Int64((n * factor * 1000).rounded()))
    }

    static func register(_ router: inout Router, context: SidecarContext) {
        router.onAsync("GET", "/cluster/servers") { request in
            let snapshot: ClusterView.Snapshot
            switch query(request.query) {
            case .bad:
                return .error(400, code: "bad_query", message: "index must be a whole number, wait a duration such as 30s or 500ms")
            case .blocking(let index, let wait):
                guard context.watchers.enter() else { return busy() }
                await context.view.waitForChange(from: index, timeout: wait)
                context.watchers.leave()
                snapshot = context.view.snapshot()
            case .now:
                snapshot = context.view.snapshot()
            }
            var fields = HTTPFields.noStore
            fields.append("X-Cluster-Index", "\(snapshot.index)")
            return .json(200, encoding: StatusRoutes.clusterBody(snapshot), fields: fields)
        }
        router.on("GET", "/cluster/events") { request in
            guard context.watchers.enter() else { return busy() }
            let resume = request.fields["last-event-id"].flatMap { UInt64($0.trimmingOWS()) }
            return stream(context, resumingAfter: resume)
        }
    }

    private static func busy() -> HTTPResponse {
        .error(
            503, code: "too_many_watchers", message: "MAX_WATCHERS blocking queries and event streams are open",
            fields: HTTPFields([("Retry-After", "1")]))
    }

    /// An event stream: the start (the whole view, or what came after `resume`), then each
    /// change as it happens; dropped when its reader falls `streamBehind` bytes behind.
    private static func stream(_ context: SidecarContext, resumingAfter resume: UInt64?) -> HTTPResponse {
        let body = BodyStream(highWater: streamBehind, lowWater: streamBehind / 4)
        let view = context.view
        let id = view.subscribe(
            after: resume,
            start: { start in
                switch start {
                case .snapshot(let snapshot): _ = body.write(EventText.snapshot(snapshot))
                case .events(let events): _ = body.write(EventText.events(events))
                }
            },
            deliver: { events in
                // A reader this far behind is dropped (`ended` finishes the body), not buffered for.
                guard !body.isCancelled, !body.isBehind else { return false }
                return body.write(events.isEmpty ? EventText.ping : EventText.events(events))
            },
            ended: {
                body.finish()
                context.watchers.leave()
            })
        body.onCancel { view.unsubscribe(id) }
        var fields = HTTPFields([("Content-Type", mediaType), ("Cache-Control", "no-store")])
        fields.append("X-Cluster-Index", "\(view.snapshot().index)")
        var response = HTTPResponse(status: 200, fields: fields)
        response.streamed = body
        return response
    }
}

/// Server-Sent Events text for the view's changes.
enum EventText {
    static let ping = Array(": ping\n\n".utf8)

    static func snapshot(_ s: ClusterView.Snapshot) -> [UInt8] {
        struct Body: Encodable {
            var index: UInt64
            var servers: [ServerInfo]
            var registration: String
        }
        return event(
            id: s.index, name: "snapshot", data: JSONCoding.encode(Body(index: s.index, servers: s.servers, registration: s.registration)))
    }

    static func events(_ events: [ClusterView.Event]) -> [UInt8] {
        struct Change: Encodable {
            var index: UInt64
            var server: ServerInfo?
            var status: String?
        }
        var out: [UInt8] = []
        for e in events {
            out += event(
                id: e.index, name: e.kind.rawValue,
                data: JSONCoding.encode(Change(index: e.index, server: e.server, status: e.registration)))
        }
        return out
    }

    private static func event(id: UInt64, name: String, data: [UInt8]) -> [UInt8] {
        Array("id: \(id)\nevent: \(name)\ndata: ".utf8) + data + Array("\n\n".utf8)
    }
}
