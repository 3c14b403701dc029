import SidecarTestSupport
import Synchronization
import Testing

@testable import SidecarClient
@testable import SidecarCluster
@testable import SidecarHTTP
@testable import SidecarPosix
@testable import SidecarRegistry
@testable import SidecarSettings

@Suite struct ApplicationHealthMachineTests {
    @Test func firstSuccess_isHealthy_threeFailuresUnhealthy_twoSuccessesBack() {
        var m = ApplicationHealthMachine()
        #expect(m.record(success: false) == nil)
        #expect(m.record(success: true) == true)
        #expect(m.record(success: false) == nil)
        #expect(m.record(success: false) == nil)
        #expect(m.record(success: true) == nil)  // the run of failures is broken
        #expect(m.record(success: false) == nil)
        #expect(m.record(success: false) == nil)
        #expect(m.record(success: false) == false)
        #expect(m.record(success: true) == nil)
        #expect(m.record(success: true) == true)
    }
}
