import SidecarClient
import SidecarHTTP
import SidecarPosix

/// One round of a fan-out on an event loop: each node whose URL our own client serves (`http`
/// to an address) goes through the loop's `HTTP1Engine`, any other (`https`, host names)
/// through the loop's `CurlEngine`; at most `concurrency` at once, in cluster order; the
/// results come back in that order, on the loop.
///
/// With a quorum, the round ends once that many nodes answered 2xx or once so many no longer
/// can: requests still running are cancelled and nodes not yet sent to are left out, both
/// `cancelled`. With a deadline, no node request outlives it (a node reached after it fails
/// with `timeout` at once). With a listener (a streamed answer), each result goes to it as it
/// comes, sending pauses while its reader is behind, and the round stops as for a quorum when
/// its reader goes.
final class LoopFanOut: HTTP1Sink {
    typealias Results = [Result<ClientResponse, ClientError>]

    /// How a round ends early and when it must end.
    struct Limits {
        /// 2xx answers that end the round (nil: every node is waited for).
        var quorum: Int?
        /// No node request runs past it.
        var deadline: MonotonicInstant?
    }

    /// Where host names of `http://` nodes are resolved for our own client (nil: libcurl
    /// serves them), and the loop to come back to.
    struct Names {
        let cache: NameCache
        let reactor: any Reactor
    }

    /// Where each result goes as it comes: `listener`, as node `indices[k]` for `urls[k]`;
    /// `reactor` is the loop the round runs on, to come back to after a pause.
    struct Report {
        let listener: any FanOutListener
        let indices: [Int]
        let reactor: any Reactor
    }

    /// A node request in flight, to cancel it.
    private enum Running {
        case http1(HTTP1Engine.Handle)
        case curl(UInt64)
    }

    private let urls: [String]
    private let request: FanOutRequest
    private let headers: [(String, String)]
    private let http1: HTTP1Engine
    private let budget: AnswerBudget
    /// The per-node cap (`FanOut.counted`).
    private let maxResponseBytes: Int
    private let curl: () -> CurlEngine
    private let concurrency: Int
    private let limits: Limits
    private let names: Names?
    private let report: Report?
    private let done: (Results) -> Void
    /// The shared part of every request on our own client (nil: its fields cannot be sent).
    private let batch: HTTP1Batch?
    private var results: [Result<ClientResponse, ClientError>?]
    /// How each node is served, read once per fan-out.
    private var routes: [HTTP1Engine.Route] = []
    /// Requests in flight, kept only when a quorum may cancel them.
    private var running: [Running?] = []
    private var next = 0
    private var inFlight = 0
    private var remaining: Int
    private var succeeded = 0
    private var launching = false
    private var stopping = false
    /// Why the round stops early (for the nodes cancelled or never sent to).
    private var stopReason = ""
    /// Sending waits for the listener's reader.
    private var paused = false

    private init(
        urls: [String], request: FanOutRequest, headers: [(String, String)], http1: HTTP1Engine, budget: AnswerBudget,
        maxResponseBytes: Int, curl: @escaping () -> CurlEngine, concurrency: Int, limits: Limits, names: Names?, report: Report?,
        done: @escaping (Results) -> Void
    ) {
        self.names = names
        self.report = report
        self.budget = budget
        self.maxResponseBytes = maxResponseBytes
        self.urls = urls
        self.request = request
        self.headers = headers
        self.http1 = http1
        self.curl = curl
        self.concurrency = max(1, concurrency)
        self.limits = limits
        self.done = done
        batch = HTTP1Batch(method: request.method, path: request.path, headers: headers, body: request.body, timeout: request.timeout)
        results = Array(repeating: nil, count: urls.count)
        if limits.quorum != nil || report != nil { running = Array(repeating: nil, count: urls.count) }
        remaining = urls.count
    }

    /// Sends `request` with `headers` to each of `urls` (nodes' base URLs); `done` gets the
    /// results in the order of `urls`, on the loop (at once when there is no node). Each answer
    /// is counted in `budget` as it arrives (none with a `report`: the listener writes it away).
    static func start(
        urls: [String], request: FanOutRequest, headers: [(String, String)], http1: HTTP1Engine, budget: AnswerBudget,
        maxResponseBytes: Int, curl: @escaping () -> CurlEngine, concurrency: Int, limits: Limits = Limits(), names: Names? = nil,
        report: Report? = nil, done: @escaping (Results) -> Void
    ) {
        guard !urls.isEmpty else { return done([]) }
        if let q = limits.quorum, q <= 0 || q > urls.count {
            let reason = q <= 0 ? "the quorum was reached" : "the quorum is more nodes than the cluster has"
            let results: Results = urls.map { _ in .failure(ClientError(.cancelled, "not sent: \(reason)")) }
            if let report { for (k, r) in results.enumerated() { _ = report.listener.finished(report.indices[k], r) } }
            return done(results)
        }
        let round = LoopFanOut(
            urls: urls, request: request, headers: headers, http1: http1, budget: budget, maxResponseBytes: maxResponseBytes, curl: curl,
            concurrency: concurrency, limits: limits, names: names, report: report, done: done)
        if let report {
            let reactor = report.reactor
            nonisolated(unsafe) let fanOut = round  // used again only on `reactor`'s thread
            report.listener.onCancel { reactor.execute { fanOut.readerGone() } }
        }
        round.resolveThenLaunch()
    }

    /// Resolves the names no one has resolved lately (off the loop), then launches; at once
    /// when every name is known (or none is used).
    private func resolveThenLaunch() {
        routes = urls.map(http1.route)
        guard let names, http1.namedRoutes > 0 else { return launch() }
        let now = monotonicNow()
        var unknown: Set<String> = []
        for route in routes {
            if case .name(let n) = route, !unknown.contains(n.name), names.cache.lookup(n.name, now: now) == .unknown {
                unknown.insert(n.name)
            }
        }
        guard !unknown.isEmpty else { return launch() }
        let reactor = names.reactor
        nonisolated(unsafe) let fanOut = self  // used again only on `reactor`'s thread
        names.cache.resolve(Array(unknown)) { reactor.execute { fanOut.launch() } }
    }

    /// Starts nodes while fewer than `concurrency` run.
    private func launch() {
        guard !launching else { return }
        launching = true
        while !stopping && inFlight < concurrency && next < urls.count {
            if let report, report.listener.isBehind {
                pause(report)
                break
            }
            let k = next
            next += 1
            inFlight += 1
            var timeout = request.timeout
            if let deadline = limits.deadline {
                let left = deadline.nanoseconds &- monotonicNow()
                guard Int64(bitPattern: left) > 0 else {
                    finished(k, .failure(ClientError(.timeout, "the fan-out's deadline passed before this node was sent to")))
                    continue
                }
                timeout = min(timeout, .nanoseconds(Int64(left)))
            }
            var node: NodeAddress?
            switch routes[k] {
            case .address(let n): node = n
            case .name(let n):
                guard let names else { break }
                switch names.cache.lookup(n.name, now: monotonicNow()) {
                case .addresses(let a): node = n.at(a[0])
                case .failed(let why):
                    finished(k, .failure(ClientError(.dns, why)))
                    continue
                case .unknown: break  // expired since: libcurl resolves it
                }
            case .curl: break
            }
            if let node {
                guard let batch else {
                    finished(k, .failure(ClientError(.badRequest, "a header field cannot be sent as given")))
                    continue
                }
                let handle = http1.start(batch, index: k, node: node, sink: self, timeout: timeout)
                if !running.isEmpty && results[k] == nil { running[k] = .http1(handle) }
            } else {
                let engine = curl()
                let id = engine.makeID()
                var r = FanOut.clientRequest(request, url: urls[k], headers)
                r.timeout = timeout
                if !running.isEmpty { running[k] = .curl(id) }
                engine.start(r, id: id) { [self] result in finished(k, result) }
            }
        }
        launching = false
        if remaining == 0 { finish() } else if stopping { stop() }
    }

    func finished(_ index: Int, _ result: Result<ClientResponse, ClientError>) {
        guard results[index] == nil else { return }
        let counted = FanOut.counted(result, maxResponseBytes: maxResponseBytes, in: report == nil ? budget : nil)
        results[index] = counted
        if let report, report.listener.finished(report.indices[index], counted), case .success(let r) = counted {
            results[index] = .success(r.spent)
        }
        if !running.isEmpty { running[index] = nil }
        inFlight -= 1
        remaining -= 1
        if let quorum = limits.quorum, !stopping {
            if case .success(let r) = counted, (200..<300).contains(r.status) { succeeded += 1 }
            // Reached, or out of reach: the nodes still to answer cannot change the outcome.
            if succeeded >= quorum {
                stopping = true
                stopReason = "the quorum was reached"
            } else if succeeded + remaining < quorum {
                stopping = true
                stopReason = "the quorum could no longer be reached"
            }
        }
        if launching { return }
        if remaining == 0 { return finish() }
        if stopping { return stop() }
        launch()
    }

    /// Sending waits until the listener's reader catches up (or goes).
    private func pause(_ report: Report) {
        guard !paused else { return }
        paused = true
        let reactor = report.reactor
        nonisolated(unsafe) let fanOut = self  // used again only on `reactor`'s thread
        report.listener.whenWritable {
            reactor.execute {
                fanOut.paused = false
                if fanOut.report?.listener.isCancelled == true { return fanOut.readerGone() }
                fanOut.launch()
            }
        }
    }

    /// The listener's reader went: the round stops as for a quorum.
    private func readerGone() {
        guard !stopping, remaining > 0 else { return }
        stopping = true
        stopReason = "the caller went away"
        stop()
    }

    /// The outcome is decided: cancels what runs, and leaves out the nodes not sent to.
    private func stop() {
        guard !launching else { return }
        launching = true
        let reason = stopReason
        while next < urls.count {
            let left = ClientError(.cancelled, "not sent: \(reason)")
            results[next] = .failure(left)
            if let report { _ = report.listener.finished(report.indices[next], .failure(left)) }
            next += 1
            remaining -= 1
        }
        for k in running.indices {
            guard let r = running[k] else { continue }
            // The result first: the engine's own `cancelled` that follows is then ignored.
            finished(k, .failure(ClientError(.cancelled, "cancelled: \(reason)")))
            switch r {
            case .http1(let handle): http1.cancel(handle)
            case .curl(let id): curl().cancel(id)
            }
        }
        launching = false
        if remaining == 0 { finish() }
    }

    private func finish() {
        guard remaining == 0, next == urls.count else { return }
        remaining = -1
        done(results.map { $0! })
    }
}

/// The monotonic clock in nanoseconds (the fan-out's deadlines are on it, as the engines' are).
@inline(__always) private func monotonicNow() -> UInt64 { SystemClock().now.nanoseconds }
