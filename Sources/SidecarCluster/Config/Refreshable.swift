import Synchronization

/// A value SIGHUP may replace while requests read it (keys, tokens): each read takes the
/// current one under a short lock; a replacement is seen by every read after it.
package final class Refreshable<Value: Sendable>: Sendable {
    private let state: Mutex<Value>

    package init(_ value: Value) { state = Mutex(value) }

    package var value: Value { state.withLock { $0 } }

    package func replace(with value: Value) { state.withLock { $0 = value } }
}
