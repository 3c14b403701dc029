import SidecarHTTP
import SidecarServer
import SidecarSupervisor

/// The routers of the two listeners, as the contract lays them out.
package enum SidecarRoutes {
    /// The local API: probes (no checks at all); the OpenAPI document and the status page (no
    /// token, but only for a local `Host`); the switch, status, metrics, membership and fan-out
    /// for a local `Host` from no other site, and behind `LOCAL_API_TOKEN` when it is set.
    package static func local(context: SidecarContext) -> Router {
        var router = Router()
        HealthRoutes.addProbes(to: &router, health: context.health)
        let listener = context.configuration.localAddress
        router.group(LocalOriginMiddleware(listener: listener, checkOrigin: false)) { r in DocumentRoutes.add(to: &r) }
        router.group(LocalOriginMiddleware(listener: listener), LocalAuthMiddleware(token: context.localToken)) { r in
            HealthRoutes.addSwitch(to: &r, health: context.health)
            StatusRoutes.add(to: &r, context: context)
            MetricsRoutes.add(to: &r, context: context)
            WorkerRoutes.add(to: &r) { context.supervisor }
            if let fanOut = context.fanOut { FanOutRoutes.add(to: &r, context: context, fanOut: fanOut) }
        }
        return router
    }

    /// The cluster API: probes (no auth); createItResource and deleteServer behind JWT checks
    /// (refused, every one, when no key is configured).
    package static func cluster(context: SidecarContext) -> Router {
        var router = Router()
        HealthRoutes.addProbes(to: &router, health: context.health)
        if let verifier = context.verifier {
            router.group(ClusterAuthMiddleware(verifier: verifier)) { r in ClusterRoutes.add(to: &r, context: context) }
        }
        return router
    }
}
