import Foundation
import SidecarTestSupport
import Testing

@testable import SidecarClient
@testable import SidecarCluster
@testable import SidecarHTTP
@testable import SidecarPosix
@testable import SidecarRegistry
@testable import SidecarSettings
@testable import SidecarSupervisor

@Suite struct ConfigResolverTests {
    func resolve(_ env: [String: String], flags: [String: String] = [:], files: [String: String] = [:]) throws(ConfigError)
        -> SidecarConfiguration
    {
        try ConfigResolver(
            environment: env, flags: flags,
            readFile: { path throws(FileReadError) in
                guard let text = files[path] else { throw FileReadError("cannot be opened: No such file or directory") }
                return text
            }
        ).resolve()
    }

    func error(_ env: [String: String], files: [String: String] = [:]) -> ConfigError? {
        do {
            _ = try resolve(env, files: files)
            return nil
        } catch {
            return error
        }
    }

    @Test func defaults_matchTheContract() throws {
        let c = try resolve([:])
        #expect(c.localAddress.description == "127.0.0.1:8461")
        #expect(c.clusterAddress.description == "0.0.0.0:8460")
        #expect(
            c.registrationRetry == .seconds(10) && c.registrationConcurrentDelay == .seconds(60) && c.leaseTimeDefault == .seconds(7200))
        #expect(c.drainTimeout == .seconds(30) && c.clusterManagement && c.mitURL == nil)
        #expect(c.server.headerTimeout == .seconds(10) && c.server.keepAliveTimeout == .seconds(30) && c.server.bodyTimeout == .seconds(30))
        #expect(c.server.limits == ParserLimits(maxTargetBytes: 8192, maxHeaderBytes: 16384, maxHeaderFields: 100, maxBodyBytes: 1 << 20))
        #expect(c.server.maxConnections == 10_000)
    }

    @Test func aBadFlag_isNamedAsTyped_aBadVariableAsSet() {
        func failure(_ env: [String: String], _ flags: [String: String], _ files: [String: String] = [:]) -> String? {
            do throws(ConfigError) {
                _ = try resolve(env, flags: flags, files: files)
                return nil
            } catch {
                return error.description
            }
        }
        #expect(failure([:], ["LOCAL_PORT": "abc"]) == "configuration error: --local-port: 'abc' is not a port (0-65535)")
        #expect(failure(["LOCAL_PORT": "abc"], [:]) == "configuration error: LOCAL_PORT: 'abc' is not a port (0-65535)")
        #expect(failure([:], ["KEEPALIVE_TIMEOUT": "x"])?.hasPrefix("configuration error: --keepalive-timeout:") == true)
        #expect(
            failure([:], ["JWT_SECRET_FILE": "/none"])
                == "configuration error: --jwt-secret-file: '/none' cannot be opened: No such file or directory")
        #expect(
            failure([:], ["JWT_SECRET": "short"]) == "configuration error: --jwt-secret: must be at least 32 bytes (HS256, RFC 7518 §3.2)")
        #expect(
            failure(["LOCAL_ADDRESS": "example.com"], [:])
                == "configuration error: LOCAL_ADDRESS: 'example.com' is not an IPv4 or IPv6 address (or localhost)")
        #expect(try! resolve(["LOCAL_ADDRESS": "localhost"]).localAddress.host == "127.0.0.1")
        #expect(RegistryKey.leaseTime.flag == "--lease-time" && ConfigKey.fanoutMaxResponseBytes.flag == "--fanout-max-response-bytes")
    }

    @Test func flags_winOverEnvironment() throws {
        let c = try resolve(["LOCAL_PORT": "1000", "DRAIN_TIMEOUT": "5"], flags: ["LOCAL_PORT": "2000"])
        #expect(c.localAddress.port == 2000)
        #expect(c.drainTimeout == .seconds(5))
    }

    @Test func durations_takeDecimals() throws {
        #expect(try resolve(["REGISTRATION_RETRY": "0.2"]).registrationRetry == .milliseconds(200))
    }

    @Test(arguments: [
        ("LOCAL_PORT", "abc"), ("CLUSTER_PORT", "70000"), ("LOCAL_ADDRESS", "not-an-ip"),
        ("REGISTRATION_RETRY", "0"), ("DRAIN_TIMEOUT", "-1"), ("HEADER_TIMEOUT", "ten"),
        ("CLUSTER_MANAGEMENT", "maybe"), ("LOG_LEVEL", "loud"), ("MIT_URL", "ftp://x"),
        ("SERVER_URL", "http://"), ("MAX_CONNECTIONS", "0"), ("MAX_BODY_BYTES", "1.5"), ("WORKERS", "-2"),
    ])
    func badValue_namesItsVariable(variable: String, value: String) {
        #expect(error([variable: value])?.variable == variable)
    }

    @Test func mitURL_requiresTypeAndURL() {
        #expect(error(["MIT_URL": "http://mit"])?.variable == "SERVER_TYPE")
        #expect(error(["MIT_URL": "http://mit", "SERVER_TYPE": "t"])?.variable == "SERVER_URL")
    }

    @Test func secrets_comeFromFiles_andAreNeverQuoted() throws {
        let long = String(repeating: "k", count: 32)
        let c = try resolve(["JWT_SECRET_FILE": "/s"], files: ["/s": long + "\r\n"])
        #expect(c.jwtSecret?.value == long)
        #expect(error(["JWT_SECRET": "short"])?.variable == "JWT_SECRET")
        #expect("\(c.jwtSecret!)" == "<redacted>")
        #expect(error(["JWT_SECRET": "a", "JWT_SECRET_FILE": "/s"], files: ["/s": "b"])?.variable == "JWT_SECRET")
        let missing = error(["MIT_TOKEN_FILE": "/nope"])
        #expect(missing?.variable == "MIT_TOKEN_FILE")
        #expect(error(["LOCAL_API_TOKEN_FILE": "/e"], files: ["/e": "\n"])?.variable == "LOCAL_API_TOKEN_FILE")
    }

    @Test func everyKey_hasAFlagAndHelpNamingItsVariable() {
        for key in ConfigKey.allCases {
            #expect(key.help.contains("env \(key.rawValue)"))
            #expect(key.flag == "--" + key.rawValue.lowercased().replacingOccurrences(of: "_", with: "-"))
        }
    }
}

@Suite struct SettingKeyShapeTests {
    /// The sidecar's, the supervisor's and the registry's settings: one shape of help line, built
    /// from each key's declaration (meaning, variable, default, secret).
    @Test func everyKey_hasOneHelpShape() {
        let keys: [any SettingKey] = ConfigKey.allCases + WorkerKey.allCases + RegistryKey.allCases
        for key in keys {
            #expect(key.help.hasPrefix(key.meaning + " (env \(key.variable)"), "\(key.variable)")
            #expect(key.help.hasSuffix(")") && !key.meaning.isEmpty && !key.defaultText.isEmpty, "\(key.variable)")
            #expect(key.help.contains("env \(key.variable) or \(key.variable)_FILE") == key.hasFileForm, "\(key.variable)")
            #expect(key.flag.hasPrefix("--"), "\(key.variable)")
        }
    }
}

extension ConfigResolverTests {
    @Test func everySettingAtFault_isNamedAtOnce_inOneLineEach() throws {
        let e = try #require(error(["MIT_URL": "http://mit", "CLUSTER_PORT": "eighty", "FANOUT_TIMEOUT": "-1"]))
        #expect(([e] + e.others).map(\.variable) == ["CLUSTER_PORT", "FANOUT_TIMEOUT", "SERVER_TYPE", "SERVER_URL"])
        #expect(e.description.split(separator: "\n").count == 4)
        #expect(e.description.split(separator: "\n").allSatisfy { $0.hasPrefix("configuration error: ") })
        // A value refused is named once, not again as missing.
        let bad = try #require(error(["MIT_URL": "http://mit", "SERVER_TYPE": "t", "SERVER_URL": "ftp://x"]))
        #expect(([bad] + bad.others).map(\.variable) == ["SERVER_URL"])
    }
}
