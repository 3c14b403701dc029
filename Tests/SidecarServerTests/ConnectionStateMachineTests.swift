import SidecarTestSupport
import Testing

@testable import SidecarHTTP
@testable import SidecarServer

/// The connection state machine alone: byte strings in, actions out, no sockets.
@Suite struct ConnectionStateMachineTests {
    typealias Machine = HTTPConnectionStateMachine

    /// A readable trace of what the machine asks for while consuming `bytes` in one piece;
    /// requests are answered at once with `answer` when given. Returns the bytes left over.
    @discardableResult
    static func feed(
        _ m: inout Machine, _ text: String, answer: HTTPResponse? = HTTPResponse(status: 200), draining: Bool = false, trace: inout [String]
    ) -> Int {
        let bytes = Array(text.utf8)
        var off = 0
        while true {
            var used = 0
            let step = bytes.withUnsafeBytes { m.parse(UnsafeRawBufferPointer(rebasing: $0[off...]), used: &used) }
            off += used
            switch step {
            case .needMore:
                return bytes.count - off
            case .discard:
                if used > 0 { trace.append("discard") }
                return bytes.count - off
            case .arm(let kind):
                trace.append("arm \(kind)")
            case .sendContinue:
                trace.append("100")
            case .request(let head, let body):
                trace.append("\(head.method) \(head.path) \(body.count)")
                if let answer {
                    let (pending, then) = m.answer(closeRequested: answer.closeConnection, draining: draining)
                    trace.append("answer keepAlive=\(pending.keepAlive) then=\(then)")
                }
            case .refuse(let error):
                trace.append("refuse \(error.status)")
            }
        }
    }

    static func run(_ text: String, answer: HTTPResponse? = HTTPResponse(status: 200), draining: Bool = false) -> [String] {
        var m = Machine(limits: ParserLimits())
        var trace: [String] = []
        feed(&m, text, answer: answer, draining: draining, trace: &trace)
        return trace
    }

    @Test func keepAliveRequests_areAnswered_andEachNextOneArmsTheHeaderTimer() {
        let trace = Self.run("GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(
            trace == [
                "GET /a 0", "answer keepAlive=true then=keepAlive",
                "arm header", "GET /b 0", "answer keepAlive=true then=keepAlive",
            ])
    }

    @Test func everySplitPoint_givesTheSameRequest_withItsBody() {
        let text = "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
        let bytes = Array(text.utf8)
        for cut in 1..<bytes.count {
            var m = Machine(limits: ParserLimits())
            var trace: [String] = []
            // The shell keeps what the machine did not use and feeds it again with the rest.
            let left = Self.feed(&m, String(decoding: bytes[..<cut], as: UTF8.self), answer: nil, trace: &trace)
            let rest = String(decoding: bytes[(cut - left)...], as: UTF8.self)
            Self.feed(&m, rest, answer: nil, trace: &trace)
            #expect(trace.last == "POST /echo 5", "split at \(cut): \(trace)")
            #expect(m.isAwaiting)
        }
    }

    @Test func whileAwaiting_pipelinedBytesAreHeld_notParsed() {
        var m = Machine(limits: ParserLimits())
        var trace: [String] = []
        let left = Self.feed(&m, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n", answer: nil, trace: &trace)
        #expect(trace == ["GET /slow 0"])
        #expect(left == "GET /next HTTP/1.1\r\nHost: h\r\n\r\n".utf8.count)
        _ = m.answer(closeRequested: false, draining: false)
        #expect(!m.isAwaiting)
    }

    @Test func http10_closeRequested_orDraining_endTheConnection_thenItLingers() {
        #expect(Self.run("GET / HTTP/1.0\r\n\r\n").last == "answer keepAlive=false then=closeAfterwards")
        #expect(Self.run("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").last == "answer keepAlive=false then=closeAfterwards")
        #expect(Self.run("GET / HTTP/1.1\r\nHost: h\r\n\r\n", draining: true).last == "answer keepAlive=false then=closeAfterwards")
        #expect(
            Self.run("GET / HTTP/1.1\r\nHost: h\r\n\r\n", answer: HTTPResponse(status: 200, closeConnection: true)).last
                == "answer keepAlive=false then=closeAfterwards")

        var m = Machine(limits: ParserLimits())
        var trace: [String] = []
        Self.feed(&m, "GET / HTTP/1.0\r\n\r\n", trace: &trace)
        #expect(m.flushed(sendTimerArmed: false, draining: false, inputEmpty: true) == .shutdownAndLinger)
        Self.feed(&m, "more bytes", trace: &trace)
        #expect(trace.last == "discard")
        #expect(m.peerHungUp(outputEmpty: true) == .close)
    }

    @Test func malformedRequest_isRefused_andNothingAfterIsParsed() {
        let trace = Self.run("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(trace == ["refuse 400"])
    }

    @Test func expectContinue_asksForTheBody_onlyWhenNoneCameWithTheHead() {
        let head = "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n"
        #expect(Self.run(head, answer: nil) == ["100"])
        #expect(Self.run(head + "ok", answer: nil) == ["arm body", "POST /echo 2"])
    }

    @Test func timeouts_closeASilentConnection_andAnswer408ToAHalfRequest() {
        var silent = Machine(limits: ParserLimits())
        #expect(silent.timedOut(.header, inputEmpty: true) == .close)
        var partial = Machine(limits: ParserLimits())
        #expect(partial.timedOut(.header, inputEmpty: false) == .refuse)
        #expect(partial.flushed(sendTimerArmed: false, draining: false, inputEmpty: true) == .shutdownAndLinger)
        var idle = Machine(limits: ParserLimits())
        #expect(idle.timedOut(.idle, inputEmpty: true) == .close)
    }

    @Test func peerHangingUp_whileAwaiting_letsTheAnswerGoOut_thenCloses() {
        var m = Machine(limits: ParserLimits())
        var trace: [String] = []
        Self.feed(&m, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", answer: nil, trace: &trace)
        #expect(m.peerHungUp(outputEmpty: true) == .finishAnswer)
        let (pending, then) = m.answer(closeRequested: false, draining: false)
        #expect(!pending.keepAlive && then == .closeAfterwards)
        #expect(m.flushed(sendTimerArmed: false, draining: false, inputEmpty: true) == .close)
    }

    @Test func drainedOutput_closesAnIdleConnectionWhenDraining_orRearmsTheIdleTimer() {
        var m = Machine(limits: ParserLimits())
        var trace: [String] = []
        Self.feed(&m, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", trace: &trace)
        #expect(m.flushed(sendTimerArmed: true, draining: false, inputEmpty: true) == .rearmIdle)
        #expect(m.flushed(sendTimerArmed: false, draining: false, inputEmpty: true) == .none)
        #expect(m.flushed(sendTimerArmed: false, draining: true, inputEmpty: false) == .none)
        #expect(m.flushed(sendTimerArmed: false, draining: true, inputEmpty: true) == .close)
        #expect(m.isIdle(inputEmpty: true, outputEmpty: true))
    }
}

extension ConnectionStateMachineTests {
    @Test func aStreamedAnswer_holdsTheConnection_untilItsEnd_thenKeepsIt() {
        var m = Machine(limits: ParserLimits())
        var trace: [String] = []
        let left = Self.feed(&m, "GET /s HTTP/1.1\r\nHost: h\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n", answer: nil, trace: &trace)
        let pending = m.beginStream(closeRequested: false, draining: false)
        #expect(pending.keepAlive && m.streamsChunked && m.isStreaming && m.holdsRequest)
        var used = 0
        #expect(Array("x".utf8).withUnsafeBytes { if case .needMore = m.parse($0, used: &used) { true } else { false } })
        #expect(used == 0 && left > 0, "what follows waits for the body's end")
        // The reader fell behind and caught up: the send timer stops, the body may take its time.
        #expect(m.flushed(sendTimerArmed: true, draining: false, inputEmpty: false) == .stopSendTimer)
        #expect(m.flushed(sendTimerArmed: false, draining: false, inputEmpty: false) == FlushAction.none)
        #expect(m.endStream(draining: false) == .keepAlive)
        #expect(!m.holdsRequest)
    }

    @Test func aStreamedAnswer_onHTTP10_orWhenTheServerDrains_closesAfterwards() {
        var m = Machine(limits: ParserLimits())
        var trace: [String] = []
        Self.feed(&m, "GET /s HTTP/1.0\r\n\r\n", answer: nil, trace: &trace)
        #expect(!m.beginStream(closeRequested: false, draining: false).keepAlive)
        #expect(!m.streamsChunked, "an HTTP/1.0 body ends with the connection")
        #expect(m.endStream(draining: false) == .closeAfterwards)

        var d = Machine(limits: ParserLimits())
        Self.feed(&d, "GET /s HTTP/1.1\r\nHost: h\r\n\r\n", answer: nil, trace: &trace)
        #expect(d.beginStream(closeRequested: false, draining: false).keepAlive)
        #expect(d.endStream(draining: true) == .closeAfterwards, "a drain that began meanwhile ends the connection")
        #expect(d.flushed(sendTimerArmed: false, draining: true, inputEmpty: true) == .shutdownAndLinger)
    }
}

private typealias FlushAction = HTTPConnectionStateMachine.FlushAction
