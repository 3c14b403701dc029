import SidecarClient
import SidecarPosix
import Testing

@testable import SidecarCluster

/// Outlier ejection as decisions on a manual clock.
@Suite struct OutlierMachineTests {
    let clock = ManualClock()

    /// The machine in a box, so that `#expect` may call its mutating methods.
    final class Box {
        var m: OutlierMachine
        init(_ m: OutlierMachine) { self.m = m }
        @discardableResult
        func record(_ url: String, failure: ClientError.Code?, clusterSize: Int, now: MonotonicInstant) -> OutlierMachine.Change? {
            m.record(url, failure: failure, clusterSize: clusterSize, now: now)
        }
        func isEjected(_ url: String, now: MonotonicInstant) -> Bool { m.isEjected(url, now: now) }
        @discardableResult
        func readmit(_ url: String, now: MonotonicInstant) -> OutlierMachine.Change? { m.readmit(url, now: now) }
        func retain(_ keep: (String) -> Bool) { m.retain(keep) }
        func ejectedUntil(_ url: String) -> MonotonicInstant? { m.ejectedUntil(url) }
        var isEmpty: Bool { m.isEmpty }
        var ejected: [(url: String, until: MonotonicInstant, check: String?)] { m.ejected }
    }

    func machine(after: Int = 3, time: Duration = .seconds(5), percent: Int = 50) -> Box {
        Box(OutlierMachine(policy: .init(ejectAfter: after, ejectTime: time, maxEjectedPercent: percent)))
    }

    @Test(arguments: [ClientError.Code.connect, .timeout])
    func aConnectOrTimeoutFailure_ejectsAtOnce_forTheEjectTime(_ code: ClientError.Code) {
        let m = machine()
        #expect(m.record("a", failure: code, clusterSize: 4, now: clock.now) == .ejected(until: clock.now + .seconds(5)))
        #expect(m.isEjected("a", now: clock.now))
        clock.advance(by: .milliseconds(4999))
        #expect(m.isEjected("a", now: clock.now))
        clock.advance(by: .milliseconds(1))
        #expect(!m.isEjected("a", now: clock.now))
    }

    @Test(arguments: [ClientError.Code.io, .badResponse])
    func ioOrBadResponse_ejectsAfterTheThirdInARow_andAnAnswerResetsTheCount(_ code: ClientError.Code) {
        let m = machine()
        #expect(m.record("a", failure: code, clusterSize: 4, now: clock.now) == nil)
        #expect(m.record("a", failure: code, clusterSize: 4, now: clock.now) == nil)
        #expect(m.record("a", failure: nil, clusterSize: 4, now: clock.now) == nil)
        #expect(m.isEmpty, "a node with nothing to remember has no record")
        #expect(m.record("a", failure: code, clusterSize: 4, now: clock.now) == nil)
        #expect(m.record("a", failure: code, clusterSize: 4, now: clock.now) == nil)
        #expect(m.record("a", failure: code, clusterSize: 4, now: clock.now) == .ejected(until: clock.now + .seconds(5)))
    }

    @Test(arguments: [ClientError.Code.tooLarge, .cancelled, .badRequest, .shutdown, .tls])
    func failuresThatSayNothingOfTheNode_neverEject(_ code: ClientError.Code) {
        let m = machine(after: 1)
        for _ in 0..<5 { #expect(m.record("a", failure: code, clusterSize: 4, now: clock.now) == nil) }
        #expect(m.isEmpty)
    }

    @Test func eachNewEjection_doubles_upTo300Seconds() {
        let m = machine()
        var lengths: [Duration] = []
        for _ in 0..<9 {
            guard case .ejected(let until) = m.record("a", failure: .connect, clusterSize: 4, now: clock.now) else {
                Issue.record("not ejected")
                return
            }
            lengths.append(until - clock.now)
            clock.advance(by: until - clock.now)
            #expect(!m.isEjected("a", now: clock.now))
        }
        #expect(lengths == [5, 10, 20, 40, 80, 160, 300, 300, 300].map { Duration.seconds($0) })
    }

    @Test func theDoublingStartsAgain_afterAnsweringAsLongAsTheLastEjection() {
        let m = machine()
        m.record("a", failure: .connect, clusterSize: 4, now: clock.now)
        clock.advance(by: .seconds(5))
        #expect(!m.isEjected("a", now: clock.now))
        clock.advance(by: .seconds(4))
        m.record("a", failure: nil, clusterSize: 4, now: clock.now)
        #expect(m.record("a", failure: .connect, clusterSize: 4, now: clock.now) == .ejected(until: clock.now + .seconds(10)))
        clock.advance(by: .seconds(10))
        #expect(!m.isEjected("a", now: clock.now))
        clock.advance(by: .seconds(10))
        m.record("a", failure: nil, clusterSize: 4, now: clock.now)
        #expect(m.isEmpty)
        #expect(m.record("a", failure: .connect, clusterSize: 4, now: clock.now) == .ejected(until: clock.now + .seconds(5)))
    }

    @Test func atMostTheEjectedPercent_isEjected_butAlwaysOneNode() {
        let m = machine(percent: 50)
        #expect(m.record("a", failure: .connect, clusterSize: 4, now: clock.now) != nil)
        #expect(m.record("b", failure: .connect, clusterSize: 4, now: clock.now) != nil)
        #expect(m.record("c", failure: .connect, clusterSize: 4, now: clock.now) == nil, "3 of 4 would be 75 %")
        #expect(!m.isEjected("c", now: clock.now))
        let lone = machine(percent: 0)
        #expect(lone.record("a", failure: .timeout, clusterSize: 1, now: clock.now) != nil, "one node always may be")
        #expect(lone.record("b", failure: .timeout, clusterSize: 1, now: clock.now) == nil)
    }

    @Test func aCheckThatAnswers_readmitsBeforeTheTime_andFreesRoomUnderThePercent() {
        let m = machine(percent: 25)
        m.record("a", failure: .connect, clusterSize: 4, now: clock.now)
        #expect(m.record("b", failure: .connect, clusterSize: 4, now: clock.now) == nil)
        #expect(m.readmit("a", now: clock.now) == .readmitted)
        #expect(!m.isEjected("a", now: clock.now))
        #expect(m.readmit("a", now: clock.now) == nil)
        #expect(m.record("b", failure: .connect, clusterSize: 4, now: clock.now) != nil)
        #expect(m.ejected.map(\.url) == ["b"])
    }

    @Test func anEjectedNodesLateFailures_doNotExtendItsEjection() {
        let m = machine()
        m.record("a", failure: .connect, clusterSize: 4, now: clock.now)
        clock.advance(by: .seconds(1))
        #expect(m.record("a", failure: .timeout, clusterSize: 4, now: clock.now) == nil)
        #expect(m.ejectedUntil("a") == clock.now + .seconds(4))
    }

    @Test func nodesThatLeftTheCluster_areForgotten() {
        let m = machine()
        m.record("a", failure: .connect, clusterSize: 4, now: clock.now)
        m.record("b", failure: .io, clusterSize: 4, now: clock.now)
        m.retain { $0 == "b" }
        #expect(m.ejected.isEmpty)
        #expect(m.record("c", failure: .connect, clusterSize: 2, now: clock.now) != nil, "a's ejection no longer counts")
    }
}
