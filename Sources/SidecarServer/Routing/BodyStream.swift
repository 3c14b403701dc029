import SidecarHTTP
import Synchronization

/// A response body written piece by piece after its head: the handler answers at once with
/// `HTTPResponse.streamed` set to a stream, then writes to it from any thread and finishes it.
/// The server sends each piece as it comes (a chunk on HTTP/1.1; up to the close on HTTP/1.0).
///
/// Memory stays bounded when the reader is slow: `isBehind` says when the bytes written but not
/// yet sent (here and in the connection's output) pass `highWater`; a producer that stops
/// then and waits for `whenWritable` (called once they fall under `lowWater`) holds at most
/// `highWater` plus its last piece. A stream whose connection closed is cancelled: writes are
/// dropped and the waiters are called, so the producer can stop its work.
package final class BodyStream: StreamedBody {
    /// Above this many unsent bytes the producer should wait.
    package let highWater: Int
    /// `whenWritable` waiters run once the unsent bytes fall under this.
    package let lowWater: Int

    private struct State {
        /// Written, not yet taken by the connection.
        var queued: [UInt8] = []
        var finished = false
        var cancelled = false
        /// The connection's output not yet sent, as it last said.
        var unsent = 0
        /// The most ever unsent at once (here and in the connection), for tests and figures.
        var peak = 0
        /// How the connection is told there is something to take (nil until it takes the stream).
        var wake: (@Sendable () -> Void)?
        /// A wake is on its way: later writes ride with it.
        var woken = false
        var writable: [@Sendable () -> Void] = []
        var onCancel: [@Sendable () -> Void] = []
        var progress: (@Sendable (Int) -> Void)?

        var backlog: Int { queued.count + unsent }

        /// The wake to call for new bytes, unless one is already on its way.
        mutating func takeWake() -> (@Sendable () -> Void)? {
            guard let wake, !woken else { return nil }
            woken = true
            return wake
        }
    }

    private let state = Mutex(State())

    /// A stream whose producer is asked to wait above `highWater` unsent bytes.
    package init(highWater: Int = 256 * 1024, lowWater: Int = 64 * 1024) {
        self.highWater = highWater
        self.lowWater = min(lowWater, highWater)
    }

    // MARK: the producer's side (any thread)

    /// Queues `bytes` to send; false once the stream was cancelled or finished (the bytes are
    /// dropped).
    @discardableResult
    package func write(_ bytes: some Collection<UInt8>) -> Bool {
        let (taken, wake): (Bool, (@Sendable () -> Void)?) = state.withLock { s in
            guard !s.cancelled, !s.finished else { return (false, nil) }
            s.queued.append(contentsOf: bytes)
            s.peak = max(s.peak, s.backlog)
            return (true, s.takeWake())
        }
        wake?()
        return taken
    }

    /// Ends the body after what was written (the waiters are let go: the producer is done).
    package func finish() {
        let wake: (@Sendable () -> Void)? = state.withLock { s in
            guard !s.cancelled, !s.finished else { return nil }
            s.finished = true
            s.writable = []
            s.onCancel = []
            s.progress = nil
            return s.takeWake()
        }
        wake?()
    }

    /// Whether the reader is behind: the producer should wait for `whenWritable`.
    package var isBehind: Bool { state.withLock { $0.backlog > highWater } }

    /// Whether the connection has gone (or never took the stream and was closed).
    package var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// The most bytes that were ever written and not yet sent at once.
    package var peakBacklog: Int { state.withLock { $0.peak } }

    /// Calls `resume` once the unsent bytes are under `lowWater` (at once when they are) or
    /// the stream is cancelled; on the connection's loop or the caller's thread.
    package func whenWritable(_ resume: @escaping @Sendable () -> Void) {
        let now = state.withLock { s in
            if s.cancelled || s.backlog < lowWater { return true }
            s.writable.append(resume)
            return false
        }
        if now { resume() }
    }

    /// Calls `cancelled` when the connection goes before the body is sent (at once if it has).
    package func onCancel(_ cancelled: @escaping @Sendable () -> Void) {
        let now = state.withLock { s in
            if s.cancelled { return true }
            s.onCancel.append(cancelled)
            return false
        }
        if now { cancelled() }
    }

    /// Calls `sent` with the bytes still unsent each time the connection sent some (until the
    /// stream finishes or is cancelled): how a producer lets go of what it counted.
    package func onProgress(_ sent: @escaping @Sendable (Int) -> Void) {
        state.withLock { $0.progress = sent }
    }

    // MARK: the connection's side (its loop)

    /// The connection takes the stream: `wake` is called (from the producer's thread) when there
    /// is something to `take`, once until the next `take`.
    func attach(wake: @escaping @Sendable () -> Void) {
        let now: (@Sendable () -> Void)? = state.withLock { s in
            s.wake = wake
            return s.queued.isEmpty && !s.finished ? nil : s.takeWake()
        }
        now?()
    }

    /// What was written since the last take, and whether the body has ended.
    func take() -> (bytes: [UInt8], finished: Bool) {
        state.withLock { s in
            s.woken = false
            let bytes = s.queued
            s.queued = []
            s.unsent += bytes.count
            return (bytes, s.finished)
        }
    }

    /// The connection's output holds `unsent` bytes now; waiters run when that is low enough.
    func sent(unsent: Int) {
        let (waiters, progress, backlog): ([@Sendable () -> Void], (@Sendable (Int) -> Void)?, Int) = state.withLock { s in
            s.unsent = unsent
            guard s.backlog < lowWater, !s.writable.isEmpty else { return ([], s.progress, s.backlog) }
            defer { s.writable = [] }
            return (s.writable, s.progress, s.backlog)
        }
        progress?(backlog)
        for w in waiters { w() }
    }

    /// The connection closed before the end: later writes are dropped, waiters run.
    func cancel() {
        let waiters: [@Sendable () -> Void] = state.withLock { s in
            guard !s.cancelled else { return [] }
            s.cancelled = true
            s.queued = []
            s.wake = nil
            s.progress = nil
            defer {
                s.writable = []
                s.onCancel = []
            }
            return s.writable + s.onCancel
        }
        for w in waiters { w() }
    }
}
