import SidecarClient
import SidecarHTTP
import Synchronization

/// What the answers of the fan-outs in flight hold, in bytes: each node's answer is counted
/// when it arrives (`hold`) and let go once its fan-out's aggregate has been handed to the
/// connection (`release`). The count is what the answer costs until then: the body as it came,
/// its text as a JSON string (where a control byte takes six), and that text twice in the
/// aggregate (`data` and `results`) and twice again in the connection's output buffer, into
/// which the aggregate is copied. What a slow reader leaves in that buffer afterwards is its
/// connection's, outside this count.
///
/// Fan-outs started together are admitted together, before any answer counts: so a new one is
/// admitted only while what is held, plus what the fan-outs in flight will likely add (their
/// number times the recent typical fan-out's count), stays under the limit. One fan-out alone
/// is always admitted.
package final class AnswerBudget: Sendable {
    private let held = Atomic<Int>(0)
    /// A moving average of what one fan-out held, when it was answered.
    private let typical = Atomic<Int>(0)

    package init() {}

    /// Bytes held now.
    package var current: Int { held.load(ordering: .relaxed) }

    /// Whether a new fan-out may start beside `inFlight` others.
    package func admits(limit: Int, inFlight: Int = 0) -> Bool {
        let expected = inFlight.multipliedReportingOverflow(by: typical.load(ordering: .relaxed))
        return expected.overflow ? false : current + expected.partialValue < limit
    }

    func hold(_ bytes: Int) { if bytes > 0 { held.add(bytes, ordering: .relaxed) } }

    func release(_ bytes: Int) { if bytes > 0 { held.subtract(bytes, ordering: .relaxed) } }

    /// Lets go of every answer of `result`, and learns how much one fan-out holds.
    package func release(_ result: FanOutResult) {
        let total = result.outcomes.reduce(0) { $0 + Self.weight($1) }
        release(total)
        // Races between fan-outs ending at once lose one sample at most: an estimate.
        let before = typical.load(ordering: .relaxed)
        typical.store(before - before / 8 + total / 8, ordering: .relaxed)
    }

    static func weight(_ outcome: FanOutResult.Outcome) -> Int {
        if case .answered(let r) = outcome { return weight(r) }
        return 0
    }

    /// An answer's count: its fields (in the aggregate and its copy too) and body as held, and
    /// the body as a JSON string five times (its own text, two in the aggregate, two copied).
    static func weight(_ r: ClientResponse, escaped: Int? = nil) -> Int {
        var fields = 0
        for f in r.headers.storage { fields += f.name.utf8.count + f.value.utf8.count + 8 }
        return 3 * fields + r.body.count + 5 * (escaped ?? escapedLength(r.body))
    }

    /// The length of `bytes` written as a JSON string, as the aggregate writes it.
    static func escapedLength(_ bytes: [UInt8]) -> Int {
        bytes.count + 2 + bytes.withUnsafeBufferPointer(JSONWriter.escapeExtra)
    }
}
