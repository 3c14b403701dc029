import SidecarClient
import Synchronization

/// Fan-outs since start: how many, to how many nodes, and the nodes' failures by code. One
/// short lock per fan-out.
public final class FanOutStats: Sendable {
    /// The failure codes, bounded: the client's codes, and `http_status` for a node that
    /// answered outside 2xx.
    public static let codes: [String] = ClientError.Code.allCases.map(\.rawValue) + ["http_status"]

    /// A copy of the figures.
    public struct Snapshot: Sendable, Equatable, Codable {
        public var count = 0
        public var nodes = 0
        /// Node failures by code; every code is present.
        public var failures: [String: Int] = Dictionary(uniqueKeysWithValues: FanOutStats.codes.map { ($0, 0) })
    }

    private let state = Mutex(Snapshot())

    public init() {}

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

    public func snapshot() -> Snapshot { state.withLock { $0 } }
}
