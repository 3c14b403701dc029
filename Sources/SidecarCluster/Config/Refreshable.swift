import Synchronization

/// A value SIGHUP may replace while requests read it (keys, tokens): each read takes the
/// current one under a short lock; a replacement is seen by every read after it.
public final class Refreshable<Value: Sendable>: Sendable {
    private let state: Mutex<Value>

    public init(_ value: Value) { state = Mutex(value) }

    public var value: Value { state.withLock { $0 } }

    public func replace(with value: Value) { state.withLock { $0 = value } }
}
