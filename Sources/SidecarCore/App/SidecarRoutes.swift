/// The routers of the two listeners, as the contract lays them out.
public enum SidecarRoutes {
    /// The local API: probes (no auth); the switch, status and membership behind
    /// `LOCAL_API_TOKEN` when it is set.
    public static func local(context: SidecarContext) -> Router {
        var router = Router()
        HealthRoutes.addProbes(to: &router, health: context.health)
        let token = context.configuration.localAPIToken
        HealthRoutes.addSwitch(to: &router, health: context.health) { LocalAuth.require(token, $0) }
        StatusRoutes.add(to: &router, context: context) { LocalAuth.requireAsync(token, $0) }
        if let fanOut = context.fanOut {
            FanOutRoutes.add(to: &router, context: context, fanOut: fanOut, gate: LocalAuth.gate(token))
        }
        return router
    }

    /// The cluster API: probes (no auth); createItResource and deleteServer behind JWT checks
    /// (refused, every one, when no key is configured).
    public static func cluster(context: SidecarContext) -> Router {
        var router = Router()
        HealthRoutes.addProbes(to: &router, health: context.health)
        if let verifier = context.verifier {
            ClusterRoutes.add(to: &router, context: context, verifier: verifier)
        }
        return router
    }
}
