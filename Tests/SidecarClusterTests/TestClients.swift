import SidecarClient
import SidecarPosix

/// One client for the tests that call out (tokens, registry, app health).
enum TestClients {
    static let shared = CurlClient(
        configuration: ClientConfiguration(connectTimeout: .seconds(2), requestTimeout: .seconds(5), maxResponseBytes: 1 << 16))
}

/// The instant `seconds` after the monotonic clock's start (tests of pure parts).
func at(_ seconds: Double) -> MonotonicInstant { MonotonicInstant(nanoseconds: UInt64(seconds * 1e9)) }
