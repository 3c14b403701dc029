import Logging
import ServiceLifecycle
import SidecarClient
import SidecarPosix

/// The active checks of ejected nodes: every `interval`, each ejected node's `/readyz` on its
/// cluster URL (its sidecar's, which answers 2xx only while its application is healthy); the
/// first 2xx readmits the node. A node without a cluster URL waits out its ejection. Nothing
/// is sent while no node is ejected.
package struct OutlierProber: Service {
    /// One check: true when the node answered 2xx.
    package typealias Check = @Sendable (_ url: String) async -> Bool

    let outliers: Outliers
    let interval: Duration
    let clock: any SidecarClock
    let check: Check

    package init(outliers: Outliers, interval: Duration, clock: any SidecarClock = SystemClock(), check: @escaping Check) {
        self.outliers = outliers
        self.interval = interval
        self.clock = clock
        self.check = check
    }

    /// Checks through `client`, each within the interval (`/readyz` takes no token).
    package init(outliers: Outliers, interval: Duration, client: CurlClient) {
        self.init(outliers: outliers, interval: interval) { url in
            let status = try? await client.execute(ClientRequest(url: Self.readyURL(url), timeout: interval)).status
            return status.map { (200..<300).contains($0) } ?? false
        }
    }

    /// `base` + `/readyz`, with no doubled slash.
    static func readyURL(_ base: String) -> String { (base.hasSuffix("/") ? String(base.dropLast()) : base) + "/readyz" }

    /// Checks until cancelled or until graceful shutdown.
    package func run() async {
        let (outliers, interval, clock, check) = (outliers, interval, clock, check)
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do { try await clock.sleep(until: clock.now + interval, tolerance: nil) } catch { return }
                let due = outliers.ejected(now: clock.now).compactMap { node in node.check.map { (node.url, $0) } }
                await withTaskGroup(of: Void.self) { group in
                    for (url, checkURL) in due {
                        group.addTask { if await check(checkURL) { outliers.readmit(url, now: clock.now) } }
                    }
                }
            }
        }
    }
}
