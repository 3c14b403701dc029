import SidecarPosix

/// How the supervisor runs the application's workers (`cluster-sidecar run`).
package struct SupervisorSettings: Sendable, Equatable {
    /// When a new worker counts as ready.
    package enum Readiness: Sendable, Equatable {
        /// It sends `READY=1` to `NOTIFY_SOCKET`.
        case notify
        /// It is still alive this long after it started.
        case after(Duration)
    }

    /// `APP_WORKERS`.
    package var workers = 1
    /// `APP_READY`.
    package var readiness = Readiness.after(.seconds(1))
    /// `APP_READY_TIMEOUT`: a new worker not ready by then has failed.
    package var readyTimeout: Duration = .seconds(30)
    /// `APP_STOP_TIMEOUT`: SIGTERM, then SIGKILL after this.
    package var stopTimeout: Duration = .seconds(30)
    /// `APP_MAX_MEMORY` in bytes (0: off): a worker above it is replaced, rolling.
    package var maxMemoryBytes = 0
    /// `APP_PID_DIR`: `worker-<id>.pid` files there.
    package var pidDirectory: String?
    /// The respawn delays.
    package var backoff = RespawnBackoff()
    /// Deaths before ready, in a row, from which a worker counts as crash-looping.
    package var crashLoopDeaths = 3

    package init() {}
}

/// The delay before a worker that exited unasked is started again: 100 ms, doubling each time,
/// at most 15 s; back to the first delay once a worker had stayed up 30 s.
package struct RespawnBackoff: Sendable, Equatable {
    package var first: Duration = .milliseconds(100)
    package var limit: Duration = .seconds(15)
    /// Up this long, a worker's next respawn starts from `first` again.
    package var resetAfter: Duration = .seconds(30)

    package init() {}

    /// The delay before respawn number `attempt` (0 for the first since the last reset).
    package func delay(attempt: Int) -> Duration {
        var d = first
        for _ in 0..<min(attempt, 32) {
            d = d * 2
            if d >= limit { return limit }
        }
        return min(d, limit)
    }
}
