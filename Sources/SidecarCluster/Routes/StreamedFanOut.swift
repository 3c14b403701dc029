import SidecarClient
import SidecarHTTP
import SidecarServer
import Synchronization

/// A fan-out's answer as `application/x-ndjson`: the head at once, then one line per node as it
/// finishes (its entry of the aggregate's `results` or `failures`), then `{"counts": ...}`.
/// The lines go through a `BodyStream`, so the fan-out sends no more nodes while the caller
/// reads slowly and stops when the caller goes. Lines not yet sent count in the fan-outs'
/// `AnswerBudget` (`FANOUT_MAX_BUFFERED_BYTES`), as unstreamed answers do until written.
final class StreamedFanOut: FanOutListener {
    static let mediaType = "application/x-ndjson"

    private let stream = BodyStream()
    private let targets = Mutex<[ServerInfo]>([])
    private let budget: AnswerBudget
    /// Bytes of lines counted in `budget` and not let go yet.
    private let held = Mutex(0)

    init(budget: AnswerBudget) {
        self.budget = budget
        // Lines that left the connection are let go as they leave (what waits unsent stays
        // counted); all of them when the reader goes.
        stream.onProgress { [weak self] unsent in self?.letGo(downTo: unsent) }
        stream.onCancel { [weak self] in self?.letGo() }
    }

    /// The head of the answer, to respond with before the fan-out starts.
    var head: HTTPResponse {
        var r = HTTPResponse(status: 200, fields: HTTPFields([("Content-Type", Self.mediaType)]))
        r.streamed = stream
        return r
    }

    func begin(_ targets: [ServerInfo]) { self.targets.withLock { $0 = targets } }

    func finished(_ index: Int, _ result: Result<ClientResponse, ClientError>) -> Bool {
        let line = targets.withLock { index < $0.count ? FanOutResult.line(FanOut.outcome(result), $0, index) : [] }
        guard !line.isEmpty else { return false }
        held.withLock { $0 += line.count }
        budget.hold(line.count)
        if !stream.write(line) { letGo() }
        return true
    }

    /// Lets go of the lines counted beyond `unsent` bytes (every one by default: the stream
    /// ended or its reader went).
    private func letGo(downTo unsent: Int = 0) {
        let free = held.withLock { h in
            let free = max(0, h - unsent)
            h -= free
            return free
        }
        budget.release(free)
    }

    var isBehind: Bool { stream.isBehind }
    var isCancelled: Bool { stream.isCancelled }
    func whenWritable(_ resume: @escaping @Sendable () -> Void) { stream.whenWritable(resume) }
    func onCancel(_ gone: @escaping @Sendable () -> Void) { stream.onCancel(gone) }

    /// The closing line, from the fan-out's result (with why there was no node, if so); the
    /// body ends.
    func close(_ result: FanOutResult, hint: String? = nil) {
        let results = result.outcomes.reduce(0) { $0 + (FanOutResult.succeeded($1) ? 1 : 0) }
        stream.write(FanOutResult.closingLine(nodes: result.outcomes.count, results: results, hint: hint))
        stream.finish()
        // What the connection still holds is its own from here, as an unstreamed answer's is.
        letGo()
    }

    /// Whether an `Accept` field value asks for this media type (named, with a q above 0).
    static func wanted(by accept: String) -> Bool {
        accept.split(separator: ",").contains { range in
            let parts = range.split(separator: ";").map { $0.trimmingOWS().lowercased() }
            guard parts.first == mediaType else { return false }
            return !parts.dropFirst().contains { $0.hasPrefix("q=") && (Double($0.dropFirst(2)) ?? 1) <= 0 }
        }
    }

    /// Whether an `Accept` field value names nothing but this media type (the proxy keeps it
    /// from the nodes: it was meant for the sidecar).
    static func only(_ accept: String) -> Bool {
        accept.split(separator: ",").allSatisfy { $0.split(separator: ";").first?.trimmingOWS().lowercased() == mediaType }
    }
}
