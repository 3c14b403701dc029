import Foundation
import SidecarCluster
import SidecarRegistry
import SidecarSettings
import SidecarSupervisor
import SidecarTestSupport
import Testing

@Suite struct CommandTests {
    @Test func busyPort_exits98_namingTheAddress() throws {
        let (first, local, _) = try SidecarProcess.listening()
        let second = try SidecarProcess(environment: ["LOCAL_PORT": "\(local)", "CLUSTER_PORT": "0"])
        #expect(second.waitForExit() == 98)
        let message = second.stderrText()
        #expect(message.contains("127.0.0.1:\(local)"))
        #expect(message.contains("LOCAL_PORT"))
        first.signal(SIGTERM)
        #expect(first.waitForExit() == 0)
    }

    @Test func badSetting_exits64_withOneLineNamingTheVariable() throws {
        let p = try SidecarProcess(environment: ["CLUSTER_PORT": "eighty"])
        #expect(p.waitForExit() == 64)
        let lines = p.stderrText().split(separator: "\n")
        #expect(lines.count == 1)
        #expect(lines.first?.contains("CLUSTER_PORT") == true)
    }

    @Test func help_listsEveryVariableAndDefault() throws {
        let p = try SidecarProcess(arguments: ["--help"])
        let raw = String(decoding: (p.process.standardOutput as! Pipe).fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let text = raw.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(p.waitForExit() == 0)
        for variable in [
            "MIT_URL", "SERVER_URL", "CLUSTER_PORT", "LOCAL_API_TOKEN", "DRAIN_TIMEOUT", "HEADER_TIMEOUT", "MAX_CONNECTIONS",
            "JWT_SECRET_FILE",
        ] {
            #expect(text.contains("env \(variable)"), "\(variable) missing from --help")
        }
        #expect(text.contains("default: 8461"))
    }

    /// Flags come from the keys: every subcommand's help lists each key's flag and variable,
    /// and a flag no key declares stops the command with one line (exit 64), before anything starts.
    @Test func everySubcommandsSettings_areFlagsFromTheKeys() throws {
        for (arguments, keys) in [
            ([], ConfigKey.allCases as [any SettingKey]), (["run"], WorkerKey.allCases + ConfigKey.allCases),
            (["registry"], RegistryKey.allCases),
        ] {
            let help = try SidecarProcess.run(arguments + ["--help"], environment: ["COLUMNS": "100"])
            #expect(help.status == 0)
            let words = help.out.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            for key in keys {
                #expect(words.contains("\(key.flag) <\(key.variable)>"), "\(arguments): \(key.flag)")
                if key.hasFileForm { #expect(words.contains("\(key.fileFlag) <\(key.fileVariable)>"), "\(arguments): \(key.fileFlag)") }
            }
            #expect(help.out.split(separator: "\n").allSatisfy { $0.count < 100 }, "\(arguments)")
        }
        for (arguments, line) in [
            (["--local-prot", "0"], "cluster-sidecar: unknown option '--local-prot'; did you mean '--local-port'? (see --help)"),
            (
                ["run", "--app-workers", "--", "true"],
                "cluster-sidecar: missing value for '--app-workers' (use --app-workers=VALUE for a value that starts with --)"
            ),
            (
                ["registry", "--lease-time", "1", "extra"],
                "cluster-sidecar: unexpected argument 'extra' (settings are --flag VALUE; see --help)"
            ),
            (["status", "--port", "1"], "cluster-sidecar: unknown option '--port' (see --help)"),
        ] {
            let r = try SidecarProcess.run(arguments)
            #expect(r.status == 64 && r.err == line + "\n" && r.out.isEmpty, "\(arguments): \(r)")
        }
    }

    @Test func sigterm_finishesTheRequestInFlight_thenExits0() throws {
        let (p, local, _) = try SidecarProcess.listening()
        let client = try RawClient(port: local)
        try client.send("POST /nope HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nab")
        #expect(client.waitUntilServerRead())
        p.signal(SIGTERM)
        #expect(p.waitForLine(containing: #""message":"shutting down""#) != nil)
        #expect(throws: (any Error).self) { _ = try RawClient(port: local).readResponse() }
        try client.send("cde")
        let r = try client.readResponse()
        #expect(r.status == 404)
        #expect(r.field("Connection") == "close")
        #expect(p.waitForExit() == 0)
    }

    @Test func idleSidecar_exits0_atOnceOnSigint() throws {
        let (p, local, _) = try SidecarProcess.listening()
        let client = try RawClient(port: local)
        try client.send("GET /readyz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        #expect(try client.readResponse().status == 200)
        let start = Date()
        p.signal(SIGINT)
        #expect(p.waitForExit() == 0)
        #expect(Date().timeIntervalSince(start) < 1)
    }

    @Test func secondSignal_exitsAtOnce() throws {
        let (p, local, _) = try SidecarProcess.listening(["DRAIN_TIMEOUT": "30"])
        let client = try RawClient(port: local)
        try client.send("POST /nope HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nab")
        #expect(client.waitUntilServerRead())
        p.signal(SIGTERM)
        #expect(p.waitForLine(containing: #""message":"shutting down""#) != nil)
        p.signal(SIGTERM)
        #expect(p.waitForExit(timeout: 2) == 143)
    }

    @Test func drainTimeout_boundsTheShutdown() throws {
        let (p, local, _) = try SidecarProcess.listening(["DRAIN_TIMEOUT": "0.3"])
        let client = try RawClient(port: local)
        try client.send("POST /nope HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nab")
        #expect(client.waitUntilServerRead())
        let start = Date()
        p.signal(SIGTERM)
        #expect(p.waitForExit(timeout: 5) == 0)
        #expect(Date().timeIntervalSince(start) >= 0.25)
    }

    @Test func logs_areOneJSONObjectPerLine_andProbesAnswerOnBothListeners() throws {
        let (p, local, cluster) = try SidecarProcess.listening()
        for port in [local, cluster] {
            let client = try RawClient(port: port)
            for path in ["/healthz", "/readyz", "/ecv"] {
                try client.send("GET \(path) HTTP/1.1\r\nHost: localhost\r\n\r\n")
                #expect(try client.readResponse().status == 200, "\(path) on \(port)")
            }
        }
        let switchOff = try RawClient(port: local)
        try switchOff.send(
            "POST /ecv/disable HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\nGET /ecv HTTP/1.1\r\nHost: localhost\r\n\r\nGET /readyz HTTP/1.1\r\nHost: localhost\r\n\r\n"
        )
        #expect(try switchOff.readResponse().status == 200)
        #expect(try switchOff.readResponse().status == 503)
        #expect(try switchOff.readResponse().status == 503)
        let line = try #require(p.waitForLine(containing: "listening"))
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        #expect(object?["level"] as? String == "info")
        #expect((object?["time"] as? String)?.hasSuffix("Z") == true)
        p.signal(SIGTERM)
        #expect(p.waitForExit() == 0)
    }
}

@Suite struct LocalTokenTests {
    @Test func localAPIToken_guardsTheSwitch_butNotTheProbes() throws {
        let (p, local, _) = try SidecarProcess.listening(["LOCAL_API_TOKEN": "s3cret"])
        let client = try RawClient(port: local)
        try client.send("POST /ecv/disable HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n")
        let refused = try client.readResponse()
        #expect(refused.status == 401)
        #expect(refused.field("WWW-Authenticate") == "Bearer")
        #expect(!refused.bodyText.contains("s3cret"))
        try client.send("POST /ecv/disable HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer wrong\r\nContent-Length: 0\r\n\r\n")
        #expect(try client.readResponse().status == 401)
        try client.send("GET /ecv HTTP/1.1\r\nHost: localhost\r\n\r\n")
        #expect(try client.readResponse().status == 200)
        try client.send("POST /ecv/disable HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer s3cret\r\nContent-Length: 0\r\n\r\n")
        #expect(try client.readResponse().status == 200)
        try client.send("GET /ecv HTTP/1.1\r\nHost: localhost\r\n\r\n")
        #expect(try client.readResponse().status == 503)
        p.signal(SIGTERM)
        #expect(p.waitForExit() == 0)
    }
}
