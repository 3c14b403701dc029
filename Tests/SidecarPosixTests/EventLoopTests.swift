import Synchronization
import Testing

@testable import SidecarPosix

/// The reactor alone, with no HTTP: thread confinement and hosted sources' deadlines.
@Suite struct EventLoopTests {
    /// A source that records when it fired, on the loop's thread.
    final class Timer: ReactorSource, @unchecked Sendable {  // touched on the loop's thread; `fired` is a Mutex
        let loop: EventLoop
        var deadline: MonotonicInstant?
        let fired = Mutex<[MonotonicInstant]>([])
        let onLoop = Mutex<Bool>(false)

        init(loop: EventLoop, at deadline: MonotonicInstant) {
            self.loop = loop
            self.deadline = deadline
        }

        func ready(_ token: UInt64, events: UInt32) {}
        func fire(now: MonotonicInstant) {
            onLoop.withLock { $0 = loop.inLoop }
            fired.withLock { $0.append(now) }
            deadline = nil
        }
        func close() {}
    }

    @Test func inLoop_isTrueOnTheLoopsThreadOnly() async throws {
        let loop = try EventLoop()
        loop.start()
        let inside = await withCheckedContinuation { c in loop.execute { c.resume(returning: loop.inLoop) } }
        #expect(inside)
        #expect(!loop.inLoop, "the test's thread is not the loop's")
        loop.stop()
    }

    @Test func hostedSource_firesWhenItsDeadlineComes_onTheLoopsClock() async throws {
        let clock = ManualClock()
        let loop = try EventLoop(clock: clock)
        let timer = Timer(loop: loop, at: clock.now + .seconds(5))
        loop.host(timer)
        loop.start()
        clock.advance(by: .seconds(4))
        await withCheckedContinuation { c in loop.execute { c.resume() } }
        #expect(timer.fired.withLock { $0 }.isEmpty)
        clock.advance(by: .seconds(1))
        await withCheckedContinuation { c in loop.execute { c.resume() } }
        // The round that ran the work above read the clock first, then fired what was due.
        await withCheckedContinuation { c in loop.execute { c.resume() } }
        #expect(timer.fired.withLock { $0 } == [clock.now])
        #expect(timer.onLoop.withLock { $0 })
        loop.stop()
    }
}
