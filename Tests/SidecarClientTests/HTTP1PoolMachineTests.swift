import SidecarPosix
import Testing

@testable import SidecarClient

/// The client's decisions as action sequences, on a manual clock: no socket, no sleep.
@Suite struct HTTP1PoolMachineTests {
    typealias Machine = HTTP1PoolMachine<String, String>

    let clock = ManualClock()

    func machine(perNode: Int = 8, total: Int = 256, connect: Duration = .seconds(1), idle: Duration = .seconds(60)) -> Machine {
        Machine(limits: .init(maxConnections: total, maxConnectionsPerNode: perNode, connectTimeout: connect, idleTimeout: idle))
    }

    /// What the machine asked for since the last call, in words.
    func taken(_ m: Machine) -> [String] {
        var out: [String] = []
        while let a = m.takeAction() {
            switch a {
            case .connect(let id, let r): out.append("connect \(id) \(r.node) \(r.ticket)")
            case .send(let id, let r): out.append("send \(id) \(r.ticket)")
            case .close(let id): out.append("close \(id)")
            case .fail(let r, let error): out.append("fail \(r.ticket) \(error.label)")
            }
        }
        return out
    }

    /// Starts `ticket` for `node` and answers it on the connection it gets (opened or reused).
    func roundTrip(_ m: Machine, _ ticket: String, node: String = "a", reusable: Bool = true) -> [String] {
        m.start(ticket, node: node, timeout: .seconds(10), now: clock.now)
        let first = taken(m)
        let words = first.first?.split(separator: " ") ?? []
        if words.count > 1, let id = Int(words[1]) {
            if words[0] == "connect" { m.connected(id) }
            m.answered(id, reusable: reusable, now: clock.now)
        }
        return first + taken(m)
    }

    @Test func aKeptAliveConnection_isReused_forTheNextRequestToItsNode() {
        let m = machine()
        #expect(roundTrip(m, "r1") == ["connect 0 a r1"])
        #expect(roundTrip(m, "r2") == ["send 0 r2"])
        #expect(roundTrip(m, "r3", node: "b") == ["connect 1 b r3"])
        #expect(m.openConnections == 2)
    }

    @Test func aConnectionTheNodeWillClose_closes_andTheNextRequestOpensAnother() {
        let m = machine()
        #expect(roundTrip(m, "r1", reusable: false) == ["connect 0 a r1", "close 0"])
        #expect(roundTrip(m, "r2") == ["connect 0 a r2"])
    }

    @Test func thePerNodeCap_queues_andTheFreedConnectionTakesTheNextInOrder() {
        let m = machine(perNode: 1)
        m.start("r1", node: "a", timeout: .seconds(10), now: clock.now)
        m.start("r2", node: "a", timeout: .seconds(10), now: clock.now)
        m.start("r3", node: "a", timeout: .seconds(10), now: clock.now)
        #expect(taken(m) == ["connect 0 a r1"])
        m.connected(0)
        m.answered(0, reusable: true, now: clock.now)
        #expect(taken(m) == ["send 0 r2"])
        m.answered(0, reusable: false, now: clock.now)
        #expect(taken(m) == ["close 0", "connect 0 a r3"])
    }

    @Test func theOverallCap_closesAnIdleConnectionOfAnotherNode_toMakeRoom() {
        let m = machine(total: 1)
        #expect(roundTrip(m, "r1", node: "a") == ["connect 0 a r1"])
        m.start("r2", node: "b", timeout: .seconds(10), now: clock.now)
        #expect(taken(m) == ["close 0", "connect 0 b r2"])
    }

    @Test func aStarvedRequest_goesOut_whenAConnectionFreesUp() {
        let m = machine(total: 1)
        m.start("r1", node: "a", timeout: .seconds(10), now: clock.now)
        m.start("r2", node: "b", timeout: .seconds(10), now: clock.now)
        #expect(taken(m) == ["connect 0 a r1"])
        m.connected(0)
        m.answered(0, reusable: true, now: clock.now)
        #expect(taken(m) == ["close 0", "connect 0 b r2"])
    }

    @Test func aStaleKeptAliveConnection_isResentOnce_onANewConnection_thenFails() {
        let m = machine()
        _ = roundTrip(m, "r1")
        m.start("r2", node: "a", timeout: .seconds(10), now: clock.now)
        #expect(taken(m) == ["send 0 r2"])
        m.failed(0, .io, answerBegan: false, now: clock.now)
        #expect(taken(m) == ["close 0", "connect 0 a r2"])
        m.connected(0)
        m.failed(0, .io, answerBegan: false, now: clock.now)
        #expect(taken(m) == ["close 0", "fail r2 io"])
    }

    @Test(arguments: [
        (ClientError.io, true), (ClientError(.badResponse, "bad"), false), (ClientError.tooLarge, false),
    ])
    func aFailureAfterTheAnswerBegan_orNotByIO_isNeverResent(_ error: ClientError, _ began: Bool) {
        let m = machine()
        _ = roundTrip(m, "r1")
        m.start("r2", node: "a", timeout: .seconds(10), now: clock.now)
        _ = taken(m)
        m.failed(0, error, answerBegan: began, now: clock.now)
        #expect(taken(m) == ["close 0", "fail r2 \(error.label)"])
    }

    @Test func aFreshConnectionFailingByIO_isNotResent() {
        let m = machine()
        m.start("r1", node: "a", timeout: .seconds(10), now: clock.now)
        _ = taken(m)
        m.connected(0)
        m.failed(0, .io, answerBegan: false, now: clock.now)
        #expect(taken(m) == ["close 0", "fail r1 io"])
    }

    @Test func theRequestDeadline_failsWithTimeout_andClosesItsConnection() {
        let m = machine()
        m.start("r1", node: "a", timeout: .milliseconds(300), now: clock.now)
        _ = taken(m)
        m.connected(0)
        #expect(m.deadline == clock.now + .milliseconds(300))
        clock.advance(by: .milliseconds(299))
        m.fire(now: clock.now)
        #expect(taken(m) == [])
        clock.advance(by: .milliseconds(1))
        m.fire(now: clock.now)
        #expect(taken(m) == ["close 0", "fail r1 timeout"])
        m.answered(0, reusable: true, now: clock.now)
        #expect(taken(m) == [], "an answer after the deadline is no outcome")
    }

    @Test func theConnectDeadline_failsWithConnect_beforeTheRequestDeadline() {
        let m = machine(connect: .milliseconds(100))
        m.start("r1", node: "a", timeout: .seconds(10), now: clock.now)
        _ = taken(m)
        #expect(m.deadline == clock.now + .milliseconds(100))
        clock.advance(by: .milliseconds(100))
        m.fire(now: clock.now)
        #expect(taken(m) == ["close 0", "fail r1 connect"])
    }

    @Test func aQueuedRequestPastItsDeadline_failsWhereItWaits_andIsNeverSent() {
        let m = machine(perNode: 1)
        m.start("r1", node: "a", timeout: .seconds(10), now: clock.now)
        m.start("r2", node: "a", timeout: .milliseconds(50), now: clock.now)
        _ = taken(m)
        m.connected(0)
        clock.advance(by: .milliseconds(50))
        m.fire(now: clock.now)
        #expect(taken(m) == ["fail r2 timeout"])
        m.answered(0, reusable: true, now: clock.now)
        #expect(taken(m) == [])
    }

    @Test func idleConnections_closeAfterTheIdleTimeout_andTheNodeIsForgotten() {
        let m = machine(idle: .seconds(4))
        _ = roundTrip(m, "r1")
        #expect(m.pooledNodes == 1)
        clock.advance(by: .seconds(3))
        m.fire(now: clock.now)
        #expect(taken(m) == [])
        clock.advance(by: .seconds(1))
        m.fire(now: clock.now)
        #expect(taken(m) == ["close 0"])
        clock.advance(by: .seconds(1))
        m.fire(now: clock.now)
        #expect(m.pooledNodes == 0)
        #expect(m.deadline == nil)
    }

    @Test func anIdleConnectionTheNodeClosed_isNotReused() {
        let m = machine()
        _ = roundTrip(m, "r1")
        m.closedByNode(0, now: clock.now)
        #expect(taken(m) == ["close 0"])
        #expect(roundTrip(m, "r2") == ["connect 0 a r2"])
    }

    @Test func aConnectFailure_failsTheRequest_andLetsTheNextWaitingOneTry() {
        let m = machine(perNode: 1)
        m.start("r1", node: "a", timeout: .seconds(10), now: clock.now)
        m.start("r2", node: "a", timeout: .seconds(10), now: clock.now)
        _ = taken(m)
        m.connectFailed(0, .connect, now: clock.now)
        #expect(taken(m) == ["close 0", "fail r1 connect", "connect 0 a r2"])
    }

    @Test func cancelling_failsWithCancelled_andClosesAConnectionThatCarriesIt() {
        let m = machine(perNode: 1)
        let r1 = m.start("r1", node: "a", timeout: .seconds(10), now: clock.now)
        let r2 = m.start("r2", node: "a", timeout: .seconds(10), now: clock.now)
        _ = taken(m)
        m.cancel(r2, now: clock.now)
        #expect(taken(m) == ["fail r2 cancelled"])
        m.cancel(r1, now: clock.now)
        #expect(taken(m) == ["close 0", "fail r1 cancelled"])
        m.cancel(r1, now: clock.now)
        #expect(taken(m) == [])
    }

    @Test func shutdown_failsEverything_once_andLaterRequestsAtOnce() {
        let m = machine(perNode: 1)
        _ = roundTrip(m, "r0", node: "b")
        m.start("r1", node: "a", timeout: .seconds(10), now: clock.now)
        m.start("r2", node: "a", timeout: .seconds(10), now: clock.now)
        _ = taken(m)
        m.shutdown()
        #expect(taken(m) == ["close 0", "fail r1 shutdown", "close 1", "fail r2 shutdown"])
        m.shutdown()
        m.start("r3", node: "a", timeout: .seconds(10), now: clock.now)
        #expect(taken(m) == ["fail r3 shutdown"])
        #expect(m.openConnections == 0)
    }
}
