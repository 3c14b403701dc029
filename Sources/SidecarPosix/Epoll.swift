import CSidecarSystem
import Glibc

/// An epoll instance plus an eventfd to wake it from other threads.
/// Owned by one event loop; only `wake()` may be called from other threads.
package final class Epoll: @unchecked Sendable {  // fds are immutable; wake() is a write(2), safe from any thread
    package let fd: Int32
    package let wakeFD: Int32
    private let events: UnsafeMutablePointer<epoll_event>
    package let capacity: Int

    package static let wakeTag: UInt64 = 1 << 63

    package init(capacity: Int = 256) throws(SystemError) {
        fd = try syscallChecked("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) }
        wakeFD = try syscallChecked("eventfd") { eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC)) }
        self.capacity = capacity
        events = .allocate(capacity: capacity)
        try add(wakeFD, events: EPOLLIN.rawValue, data: Self.wakeTag)
    }

    deinit {
        events.deallocate()
        close(wakeFD)
        close(fd)
    }

    package func add(_ target: Int32, events: UInt32, data: UInt64) throws(SystemError) {
        var ev = csidecar_epoll_event(events, data)
        try syscallChecked("epoll_ctl") { epoll_ctl(fd, EPOLL_CTL_ADD, target, &ev) }
    }

    package func modify(_ target: Int32, events: UInt32, data: UInt64) {
        var ev = csidecar_epoll_event(events, data)
        _ = epoll_ctl(fd, EPOLL_CTL_MOD, target, &ev)
    }

    /// Adds `target` (`isNew`) or changes what it is watched for; falls back to the other
    /// operation when the kernel's view differs (an fd closed and reused behind our back).
    package func watch(_ target: Int32, events: UInt32, data: UInt64, isNew: Bool) {
        var ev = csidecar_epoll_event(events, data)
        if epoll_ctl(fd, isNew ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, target, &ev) != 0 {
            _ = epoll_ctl(fd, isNew ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, target, &ev)
        }
    }

    package func remove(_ target: Int32) {
        _ = epoll_ctl(fd, EPOLL_CTL_DEL, target, nil)
    }

    /// The `wait` timeout for a deadline (monotonic ns; nil: none): -1 without one, else the
    /// milliseconds until it, rounded up and at most a minute.
    package static func timeoutMS(until deadline: UInt64?, now: UInt64) -> Int32 {
        guard let deadline else { return -1 }
        return deadline <= now ? 0 : Int32(min((deadline - now + 999_999) / 1_000_000, 60_000))
    }

    /// Waits up to `timeoutMS` (-1: forever); calls `before` once when anything is ready, then
    /// `body(events, data)` for each ready fd.
    package func wait(timeoutMS: Int32, _ body: (UInt32, UInt64) -> Void, before: () -> Void = {}) {
        let n = epoll_wait(fd, events, Int32(capacity), timeoutMS)
        guard n > 0 else { return }
        before()
        for k in 0..<Int(n) {
            let data = csidecar_epoll_data(events + k)
            if data == Self.wakeTag {
                var counter: UInt64 = 0
                _ = read(wakeFD, &counter, 8)
                continue
            }
            body(events[k].events, data)
        }
    }

    /// Wakes the loop blocked in `wait` (any thread).
    package func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }
}
