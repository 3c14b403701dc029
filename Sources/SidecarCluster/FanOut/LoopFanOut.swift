import SidecarClient
import SidecarHTTP
import SidecarPosix

/// One round of a fan-out on an event loop: each node whose URL our own client serves (`http`
/// to an address) goes through the loop's `HTTP1Engine`, any other (`https`, host names)
/// through the loop's `CurlEngine`; at most `concurrency` at once, in cluster order; the
/// results come back in that order, on the loop.
final class LoopFanOut: HTTP1Sink {
    typealias Results = [Result<ClientResponse, ClientError>]

    private let urls: [String]
    private let request: FanOutRequest
    private let headers: [(String, String)]
    private let http1: HTTP1Engine
    private let budget: AnswerBudget
    /// The per-node cap (`FanOut.counted`).
    private let maxResponseBytes: Int
    private let curl: () -> CurlEngine
    private let concurrency: Int
    private let done: (Results) -> Void
    /// The shared part of every request on our own client (nil: its fields cannot be sent).
    private let batch: HTTP1Batch?
    private var results: [Result<ClientResponse, ClientError>?]
    private var next = 0
    private var inFlight = 0
    private var remaining: Int
    private var launching = false

    private init(
        urls: [String], request: FanOutRequest, headers: [(String, String)], http1: HTTP1Engine, budget: AnswerBudget,
        maxResponseBytes: Int,
        curl: @escaping () -> CurlEngine, concurrency: Int, done: @escaping (Results) -> Void
    ) {
        self.budget = budget
        self.maxResponseBytes = maxResponseBytes
        self.urls = urls
        self.request = request
        self.headers = headers
        self.http1 = http1
        self.curl = curl
        self.concurrency = max(1, concurrency)
        self.done = done
        batch = HTTP1Batch(method: request.method, path: request.path, headers: headers, body: request.body, timeout: request.timeout)
        results = Array(repeating: nil, count: urls.count)
        remaining = urls.count
    }

    /// Sends `request` with `headers` to each of `urls` (nodes' base URLs); `done` gets the
    /// results in the order of `urls`, on the loop (at once when there is no node). Each answer
    /// is counted in `budget` as it arrives.
    static func start(
        urls: [String], request: FanOutRequest, headers: [(String, String)], http1: HTTP1Engine, budget: AnswerBudget,
        maxResponseBytes: Int, curl: @escaping () -> CurlEngine, concurrency: Int, done: @escaping (Results) -> Void
    ) {
        guard !urls.isEmpty else { return done([]) }
        LoopFanOut(
            urls: urls, request: request, headers: headers, http1: http1, budget: budget, maxResponseBytes: maxResponseBytes, curl: curl,
            concurrency: concurrency, done: done
        ).launch()
    }

    /// Starts nodes while fewer than `concurrency` run.
    private func launch() {
        guard !launching else { return }
        launching = true
        while inFlight < concurrency && next < urls.count {
            let k = next
            next += 1
            inFlight += 1
            if let node = http1.node(urls[k]) {
                guard let batch else {
                    finished(k, .failure(ClientError(.badRequest, "a header field cannot be sent as given")))
                    continue
                }
                http1.start(batch, index: k, node: node, sink: self)
            } else {
                let engine = curl()
                engine.start(FanOut.clientRequest(request, url: urls[k], headers), id: engine.makeID()) { [self] result in
                    finished(k, result)
                }
            }
        }
        launching = false
        if remaining == 0 { finish() }
    }

    func finished(_ index: Int, _ result: Result<ClientResponse, ClientError>) {
        guard results[index] == nil else { return }
        results[index] = FanOut.counted(result, maxResponseBytes: maxResponseBytes, in: budget)
        inFlight -= 1
        remaining -= 1
        if launching { return }
        if remaining == 0 { return finish() }
        launch()
    }

    private func finish() {
        guard remaining == 0, next == urls.count else { return }
        remaining = -1
        done(results.map { $0! })
    }
}
