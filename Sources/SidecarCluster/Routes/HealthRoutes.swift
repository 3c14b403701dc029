import SidecarClient
import SidecarHTTP
import SidecarPosix
import SidecarServer

/// `GET /healthz`, `/readyz`, `/ecv` (both listeners, no auth) and the traffic switch.
package enum HealthRoutes {
    static let ok: [UInt8] = Array(#"{"status":"ok"}"#.utf8)
    /// Probes and live figures are never cached by a proxy or browser.

    /// Adds the three probes to `router`.
    package static func addProbes(to router: inout Router, health: HealthState) {
        // Built once: the liveness probe is the hottest path and allocates nothing.
        let alive = HTTPResponse(
            status: 200, fields: HTTPFields([("Content-Type", "application/json"), ("Cache-Control", "no-store")]), body: ok)
        router.on("GET", "/healthz") { _ in alive }
        router.on("GET", "/readyz") { _ in
            if health.isReady { return .json(200, #"{"status":"ready"}"#, fields: .noStore) }
            return .error(503, code: "not_ready", message: notReadyReason(health), fields: .noStore)
        }
        router.on("GET", "/ecv") { _ in
            health.inRotation
                ? .json(200, #"{"status":"in rotation"}"#, fields: .noStore)
                : .error(503, code: "out_of_rotation", message: notReadyReason(health), fields: .noStore)
        }
    }

    /// Adds `POST /ecv/enable` and `/ecv/disable` (local API).
    package static func addSwitch(to router: inout Router, health: HealthState) {
        router.on("POST", "/ecv/enable") { _ in
            health.setSwitch(true)
            return .json(200, #"{"inRotation":\#(health.inRotation)}"#)
        }
        router.on("POST", "/ecv/disable") { _ in
            health.setSwitch(false)
            return .json(200, #"{"inRotation":false}"#)
        }
    }

    static func notReadyReason(_ health: HealthState) -> String {
        if health.isDraining { return "shutting down" }
        if !health.isSwitchedOn { return "switched out of rotation" }
        if !health.hasReadyWorker { return "no application worker is ready" }
        if !health.isRegistered { return "not registered" }
        return "application unhealthy"
    }
}
