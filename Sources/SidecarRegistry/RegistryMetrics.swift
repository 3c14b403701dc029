import Prometheus
import SidecarCluster
import SidecarHTTP

/// The registry's own Prometheus families: pushes told (by kind and outcome) and store calls
/// that failed, plus whether this replica leads the pushes.
final class RegistryMetrics: Sendable {
    private let registry = PrometheusCollectorRegistry()
    private let pushed: [String: Counter]
    private let leader: Gauge
    /// Store calls a handler could not complete (etcd unreachable or refusing).
    let storeErrors: Counter

    init() {
        let pushes = MetricNameDescriptor(
            namespace: "cluster_sidecar", metricName: "registry_pushes", unitName: "total",
            helpText: "Calls to peers telling them of a join or a leave, by outcome.")
        var pushed: [String: Counter] = [:]
        for kind in ["joined", "left"] {
            for result in ["ok", "failed"] {
                pushed["\(kind)/\(result)"] = registry.makeCounter(descriptor: pushes, labels: [("notice", kind), ("result", result)])
            }
        }
        self.pushed = pushed
        leader = registry.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "cluster_sidecar", metricName: "registry_leader", unitName: "",
                helpText: "1 while this replica pushes changes to peers."))
        storeErrors = registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "cluster_sidecar", metricName: "registry_store_errors", unitName: "total",
                helpText: "Registry calls the store could not serve (etcd unreachable or refusing)."))
    }

    /// `calls` pushes of `kind`, `failed` of them unanswered.
    func recordPushes(_ kind: String, calls: Int, failed: Int) {
        pushed["\(kind)/ok"]?.increment(by: Int64(calls - failed))
        pushed["\(kind)/failed"]?.increment(by: Int64(failed))
    }

    /// The exposition, with the leader gauge brought up to date.
    func response(leading: Bool) -> HTTPResponse {
        leader.set(to: leading ? 1.0 : 0.0)
        var out: [UInt8] = []
        registry.emit(into: &out)
        var fields = HTTPFields()
        fields.append("Content-Type", MetricsRoutes.contentType)
        return HTTPResponse(status: 200, fields: fields, body: out)
    }
}
