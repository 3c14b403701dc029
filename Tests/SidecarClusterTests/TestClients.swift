import SidecarClient

/// One client for the tests that call out (tokens, registry, app health).
enum TestClients {
    static let shared = CurlClient(
        configuration: ClientConfiguration(connectTimeout: .seconds(2), requestTimeout: .seconds(5), maxResponseBytes: 1 << 16))
}
