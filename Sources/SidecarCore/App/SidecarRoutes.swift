/// The routers of the two listeners, as the contract lays them out.
public enum SidecarRoutes {
    /// The local API: probes, the traffic switch (behind `LOCAL_API_TOKEN` when set).
    public static func local(configuration: SidecarConfiguration, health: HealthState) -> Router {
        var router = Router()
        HealthRoutes.addProbes(to: &router, health: health)
        var guarded = Router()
        HealthRoutes.addSwitch(to: &guarded, health: health)
        let token = configuration.localAPIToken
        for path in ["/ecv/enable", "/ecv/disable"] {
            if case .found(.sync(let h), _) = guarded.resolve(method: "POST", path: path) {
                router.on("POST", path, LocalAuth.require(token, h))
            }
        }
        return router
    }

    /// The cluster API: probes (no auth). Membership endpoints come with JWT checks.
    public static func cluster(configuration: SidecarConfiguration, health: HealthState) -> Router {
        var router = Router()
        HealthRoutes.addProbes(to: &router, health: health)
        return router
    }
}
