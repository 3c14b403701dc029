import Testing

@testable import SidecarPosix
@testable import SidecarSettings
@testable import SidecarSupervisor

/// `cluster-sidecar run`'s settings: defaults, the forms each takes, and one line per refusal.
@Suite struct WorkerConfigurationTests {
    func resolve(_ env: [String: String], flags: [String: String] = [:]) throws(ConfigError) -> WorkerConfiguration {
        try WorkerConfiguration.resolve(
            SettingsReader(
                environment: env, flags: flags, readFile: { _ throws(FileReadError) in throw FileReadError("cannot be opened") }), cores: 6)
    }

    func failure(_ env: [String: String], flags: [String: String] = [:]) -> String? {
        do throws(ConfigError) {
            _ = try resolve(env, flags: flags)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func defaults_oneWorker_noSocket_readyAfter1s_30sTimeouts() throws {
        let c = try resolve([:])
        #expect(c.address == nil && c.supervisor.workers == 1 && c.supervisor.readiness == .after(.seconds(1)))
        #expect(c.supervisor.readyTimeout == .seconds(30) && c.supervisor.stopTimeout == .seconds(30))
        #expect(c.supervisor.maxMemoryBytes == 0 && c.supervisor.pidDirectory == nil)
    }

    @Test func forms_autoWorkers_notify_port_memoryInMiB_flagsWin() throws {
        let c = try resolve(
            ["APP_WORKERS": "auto", "APP_READY": "notify", "APP_PORT": "8080", "APP_MAX_MEMORY": "300", "APP_STOP_TIMEOUT": "0.5"],
            flags: ["APP_ADDRESS": "127.0.0.1"])
        #expect(c.supervisor.workers == 6 && c.supervisor.readiness == .notify && c.address?.description == "127.0.0.1:8080")
        #expect(c.supervisor.maxMemoryBytes == 300 << 20 && c.supervisor.stopTimeout == .milliseconds(500))
        #expect(try resolve(["APP_PORT": "0"]).address?.description == "0.0.0.0:0")
        #expect(try resolve(["APP_READY": "2.5"]).supervisor.readiness == .after(.milliseconds(2500)))
    }

    @Test func refusals_nameTheSetting() {
        #expect(failure(["APP_WORKERS": "0"])?.contains("APP_WORKERS") == true)
        #expect(failure([:], flags: ["APP_WORKERS": "many"])?.contains("--app-workers") == true)
        #expect(failure(["APP_PORT": "70000"])?.contains("APP_PORT") == true)
        #expect(failure(["APP_ADDRESS": "127.0.0.1"])?.contains("needs APP_PORT") == true)
        #expect(failure(["APP_READY": "soon"])?.contains("neither notify nor a number of seconds") == true)
        #expect(failure(["APP_READY": "30"])?.contains("below APP_READY_TIMEOUT") == true)
        #expect(failure(["APP_READY_TIMEOUT": "0"])?.contains("APP_READY_TIMEOUT") == true)
        #expect(failure(["APP_MAX_MEMORY": "-1"])?.contains("APP_MAX_MEMORY") == true)
    }
}
