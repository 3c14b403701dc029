/// A value that lives on one reactor's thread and may be carried across threads but only
/// touched on its own (swift-nio's `NIOLoopBoundBox`): every access asserts the thread in
/// debug builds, and costs nothing more than a plain property in release builds.
package final class LoopBound<Value>: @unchecked Sendable {  // the value is read and written only on `reactor`'s thread (asserted)
    /// The reactor whose thread owns the value.
    package let reactor: any Reactor
    private var stored: Value

    /// Boxes `value` for `reactor`; call on that reactor's thread (or before it runs).
    package init(_ value: Value, reactor: any Reactor) {
        self.reactor = reactor
        stored = value
        reactor.assertInLoop()
    }

    /// The value; loop thread only.
    package var value: Value {
        get {
            reactor.assertInLoop()
            return stored
        }
        _modify {
            reactor.assertInLoop()
            yield &stored
        }
        set {
            reactor.assertInLoop()
            stored = newValue
        }
    }
}
