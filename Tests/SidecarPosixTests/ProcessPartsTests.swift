import Glibc
import Testing

@testable import SidecarPosix

/// The supervisor's pure helpers in the Posix layer: notify messages, the kernel's TCP table,
/// wait statuses.
@Suite struct ProcessPartsTests {
    @Test func notifyMessages_areKeyValueLines_othersIgnored() {
        let fields = NotifySocket.parse("READY=1\nSTATUS=warming up: 3/4\n\nnonsense\nEXTEND_TIMEOUT_USEC=5000000")
        #expect(fields.map(\.0) == ["READY", "STATUS", "EXTEND_TIMEOUT_USEC"])
        #expect(fields[1].1 == "warming up: 3/4")
    }

    @Test func established_countsTheServerSideOfThePort_only() {
        let table = """
              sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
               1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1
               2: 0100007F:C350 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1
               3: 0100007F:1F90 0100007F:C351 06 00000000:00000000 03:00000F6D 00000000     0        0 0 3 0
               4: 0100007F:1F90 0100007F:C352 01 00000000:00000000 00:00000000 00000000     0        0 4 1 0 20 4 30 10 -1
               5: 0100007F:11F90 0100007F:C353 01 00000000:00000000 00:00000000 00000000     0        0 5 1 0 20 4 30 10 -1
            """
        // Port 8080 is 1F90: rows 1 and 4 (row 0 listens, 2 is the client's end, 3 is TIME_WAIT).
        #expect(ListenerSocketStats.countEstablished(table, port: 8080) == 2)
        #expect(ListenerSocketStats.countEstablished(table, port: 80) == 0)
    }

    @Test func tcpTableRows_carryPortsStateAndQueues_andSkipWhatCannotBeRead() {
        let table = """
              sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 0100007F:1F90 0100007F:C350 01 0000002A:00000005 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1
               1: 0100007F:11F90 0100007F:C353 01 00000000:00000000 00:00000000 00000000     0        0 5 1 0 20 4 30 10 -1
               2: garbage
            """
        #expect(
            TCPTableRow.rows(table) == [TCPTableRow(localPort: 8080, remotePort: 50000, state: 1, sendQueue: 42, receiveQueue: 5)])
    }

    @Test func exitReasons_fromWaitStatuses() {
        #expect(ExitReason(waitStatus: 3 << 8) == .code(3))
        #expect(ExitReason(waitStatus: 0) == .code(0))
        #expect(ExitReason(waitStatus: SIGKILL) == .signal(SIGKILL))
        #expect(ExitReason(waitStatus: SIGSEGV | 0x80) == .signal(SIGSEGV))  // with a core dump
        #expect("\(ExitReason.signal(SIGKILL))" == "signal 9 (SIGKILL)")
    }

    @Test func socketActivation_onlyForThisProcess() {
        #expect(SocketActivation.listener(environment: ["LISTEN_FDS": "1", "LISTEN_PID": "\(getpid())"]) == 3)
        #expect(SocketActivation.listener(environment: ["LISTEN_FDS": "1", "LISTEN_PID": "\(getpid() + 1)"]) == nil)
        #expect(SocketActivation.listener(environment: ["LISTEN_FDS": "0", "LISTEN_PID": "\(getpid())"]) == nil)
        #expect(SocketActivation.listener(environment: [:]) == nil)
    }

    @Test func procStat_isReadPastACommandNameWithSpacesAndParentheses() {
        let line = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 777 123456789 1500 18446744073709551615"
        let stat = ProcStat(parsing: line)
        #expect(stat.parent == 1 && stat.userTicks == 250 && stat.systemTicks == 50 && stat.startTicks == 777 && stat.residentPages == 1500)
        #expect(ProcStat(parsing: "garbage") == ProcStat())
        #expect(ProcStat.read(pid: getpid())?.residentPages ?? 0 > 0)
    }
}
