import CSidecarSystem

/// A moment on the monotonic clock (`CLOCK_MONOTONIC`): nanoseconds since an arbitrary start,
/// never going back. The one instant type of the code base; spans between instants are
/// `Duration`s. Wall-clock time appears only where a moment is shown to people
/// (`SidecarClock.wallTime(of:)`).
package struct MonotonicInstant: InstantProtocol, Hashable, Sendable, CustomStringConvertible {
    /// Nanoseconds since the clock's start.
    package var nanoseconds: UInt64

    /// The instant `nanoseconds` after the clock's start.
    package init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    /// The instant `duration` later (earlier when negative; never before the clock's start).
    package func advanced(by duration: Duration) -> MonotonicInstant {
        let delta = duration.nanoseconds
        if delta >= 0 { return MonotonicInstant(nanoseconds: nanoseconds &+ UInt64(delta)) }
        let back = UInt64(-delta)
        return MonotonicInstant(nanoseconds: back >= nanoseconds ? 0 : nanoseconds - back)
    }

    /// The span from this instant to `other` (negative when `other` is earlier).
    package func duration(to other: MonotonicInstant) -> Duration {
        other.nanoseconds >= nanoseconds
            ? .nanoseconds(Int64(other.nanoseconds - nanoseconds)) : .nanoseconds(-Int64(nanoseconds - other.nanoseconds))
    }

    package static func < (a: MonotonicInstant, b: MonotonicInstant) -> Bool { a.nanoseconds < b.nanoseconds }
    package static func + (a: MonotonicInstant, d: Duration) -> MonotonicInstant { a.advanced(by: d) }
    package static func - (a: MonotonicInstant, d: Duration) -> MonotonicInstant { a.advanced(by: .zero - d) }
    /// The span from `b` to `a`.
    package static func - (a: MonotonicInstant, b: MonotonicInstant) -> Duration { b.duration(to: a) }
    package var description: String { "\(nanoseconds)ns" }
}

extension Duration {
    /// The span in whole nanoseconds (saturating at ±292 years).
    package var nanoseconds: Int64 {
        let (s, a) = components
        let (ns, overflow) = s.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return s < 0 ? .min : .max }
        return ns.addingReportingOverflow(a / 1_000_000_000).overflow ? (s < 0 ? .min : .max) : ns + a / 1_000_000_000
    }

    /// The span in seconds, for display and for the contract's JSON numbers.
    package var seconds: Double {
        let (s, a) = components
        return Double(s) + Double(a) / 1e18
    }

    /// A span of `seconds` (a configuration value); negative and non-finite values give zero.
    package static func seconds(exactly seconds: Double) -> Duration {
        guard seconds.isFinite, seconds > 0 else { return .zero }
        return .nanoseconds(Int64(min(seconds, 9e9) * 1e9))
    }
}

/// Where time comes from: `SystemClock` in production, `ManualClock` in tests. Every component
/// that waits or reads the time (the registrar, the event loops' timers, the health prober, the
/// fan-out backoff, the registry's expiry) takes one, so tests move time instead of sleeping.
package protocol SidecarClock: Clock, Sendable where Instant == MonotonicInstant, Duration == Swift.Duration {
    /// Seconds since the Unix epoch at which `instant` happened (or will), for display only.
    func wallTime(of instant: MonotonicInstant) -> Double
}

/// The real clock: `CLOCK_MONOTONIC` for instants, `CLOCK_REALTIME` for display.
package struct SystemClock: SidecarClock {
    package init() {}

    package var now: MonotonicInstant { MonotonicInstant(nanoseconds: csidecar_monotonic_ns()) }
    package var minimumResolution: Duration { .nanoseconds(1) }

    package func sleep(until deadline: MonotonicInstant, tolerance: Duration?) async throws {
        let delay = now.duration(to: deadline)
        if delay > .zero { try await Task.sleep(for: delay, tolerance: tolerance) }
    }

    package func wallTime(of instant: MonotonicInstant) -> Double {
        WallClock.now() + now.duration(to: instant).seconds
    }
}
