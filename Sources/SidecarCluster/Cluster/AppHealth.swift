import SidecarPosix
import SidecarHTTP
import SidecarClient
/// The application's health from probe results (pure): the first success makes it healthy;
/// then 3 failures in a row make it unhealthy and 2 successes in a row healthy again.
public struct AppHealthMachine: Sendable, Equatable {
    public private(set) var healthy = false
    private var failures = 0
    private var successes = 0
    private var everHealthy = false

    public init() {}

    /// Records one probe; returns the new state when it changed.
    public mutating func record(success: Bool) -> Bool? {
        if success {
            failures = 0
            successes += 1
            if !healthy && (!everHealthy || successes >= 2) {
                healthy = true
                everHealthy = true
                return true
            }
        } else {
            successes = 0
            failures += 1
            if healthy && failures >= 3 {
                healthy = false
                return false
            }
        }
        return nil
    }
}

/// Probes `APP_HEALTH_URL` every 5 s (2 s timeout) and reports changes.
public struct AppHealthProber: Sendable {
    let url: String
    let client: CurlClient
    let interval: Double
    let timeout: Double

    public init(url: String, client: CurlClient, interval: Double = 5, timeout: Double = 2) {
        self.url = url
        self.client = client
        self.interval = interval
        self.timeout = timeout
    }

    /// Runs until cancelled; `changed` gets each new state.
    public func run(_ changed: @Sendable (Bool) async -> Void) async {
        var machine = AppHealthMachine()
        while !Task.isCancelled {
            let ok = (try? await client.execute(ClientRequest(url: url, timeout: timeout)).status).map { (200..<300).contains($0) } ?? false
            if let state = machine.record(success: ok) { await changed(state) }
            try? await Task.sleep(for: .milliseconds(Int(interval * 1000)))
        }
    }
}
