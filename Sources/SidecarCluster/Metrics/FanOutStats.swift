import SidecarClient
import Synchronization

/// Fan-outs since start: how many, to how many nodes, and the nodes' failures by code. One
/// short lock per fan-out.
package final class FanOutStats: Sendable {
    /// The failure codes, bounded: the client's codes, and `http_status` for a node that
    /// answered outside 2xx.
    package static let codes: [String] = ClientError.Code.allCases.map(\.rawValue) + ["http_status"]

    /// A copy of the figures.
    package struct Snapshot: Sendable, Equatable, Codable {
        package var count = 0
        package var nodes = 0
        /// Node failures by code; every code is present.
        package var failures: [String: Int] = Dictionary(uniqueKeysWithValues: FanOutStats.codes.map { ($0, 0) })
        /// The nodes left out now for failing (filled in by `/status`).
        package var ejected: [Ejected] = []
    }

    /// A node left out for failing, and how long before it is sent to again at the latest.
    package struct Ejected: Sendable, Equatable, Codable {
        package var url: String
        package var secondsLeft: Double
    }

    private let state = Mutex(Snapshot())

    package init() {}

    /// One fan-out ended with `result`; returns its node failures' codes (for metrics).
    @discardableResult
    func record(_ result: FanOutResult) -> [String] {
        var codes: [String] = []
        for outcome in result.outcomes {
            switch outcome {
            case .answered(let r) where !(200..<300).contains(r.status): codes.append("http_status")
            case .failed(let error): codes.append(error.code.rawValue)
            default: break
            }
        }
        state.withLock { s in
            s.count += 1
            s.nodes += result.outcomes.count
            for code in codes { s.failures[code, default: 0] += 1 }
        }
        return codes
    }

    package func snapshot() -> Snapshot { state.withLock { $0 } }
}
