import SidecarPosix

/// How the supervisor runs the application's workers (`cluster-sidecar run`).
public struct SupervisorSettings: Sendable, Equatable {
    /// When a new worker counts as ready.
    public enum Readiness: Sendable, Equatable {
        /// It sends `READY=1` to `NOTIFY_SOCKET`.
        case notify
        /// It is still alive this long after it started.
        case after(Duration)
    }

    /// `APP_WORKERS`.
    public var workers = 1
    /// `APP_READY`.
    public var readiness = Readiness.after(.seconds(1))
    /// `APP_READY_TIMEOUT`: a new worker not ready by then has failed.
    public var readyTimeout: Duration = .seconds(30)
    /// `APP_STOP_TIMEOUT`: SIGTERM, then SIGKILL after this.
    public var stopTimeout: Duration = .seconds(30)
    /// `APP_MAX_MEMORY` in bytes (0: off): a worker above it is replaced, rolling.
    public var maxMemoryBytes = 0
    /// `APP_PID_DIR`: `worker-<id>.pid` files there.
    public var pidDirectory: String?
    /// The respawn delays.
    public var backoff = RespawnBackoff()
    /// Deaths before ready, in a row, from which a worker counts as crash-looping.
    public var crashLoopDeaths = 3

    public init() {}
}

/// The delay before a worker that exited unasked is started again: 100 ms, doubling each time,
/// at most 15 s; back to the first delay once a worker had stayed up 30 s.
public struct RespawnBackoff: Sendable, Equatable {
    public var first: Duration = .milliseconds(100)
    public var limit: Duration = .seconds(15)
    /// Up this long, a worker's next respawn starts from `first` again.
    public var resetAfter: Duration = .seconds(30)

    public init() {}

    /// The delay before respawn number `attempt` (0 for the first since the last reset).
    public func delay(attempt: Int) -> Duration {
        var d = first
        for _ in 0..<min(attempt, 32) {
            d = d * 2
            if d >= limit { return limit }
        }
        return min(d, limit)
    }
}
