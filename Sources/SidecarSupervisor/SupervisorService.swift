import ServiceLifecycle

/// The supervisor in the service group: the workers run until the group's graceful shutdown
/// reaches this service (after the registrar has unregistered), which then stops them all
/// (SIGTERM, SIGKILL after `APP_STOP_TIMEOUT`) and ends once the last has exited.
package struct SupervisorService: Service {
    let supervisor: Supervisor

    package init(_ supervisor: Supervisor) { self.supervisor = supervisor }

    package func run() async {
        // Returns on graceful shutdown, or throws on cancellation: either way, stop the workers.
        try? await gracefulShutdown()
        await supervisor.shutdown()
    }
}

/// Runs `inner` (the registrar) once every worker of the first generation is ready: the
/// sidecar does not announce a server that cannot answer yet. Ends at once if shutdown comes
/// first.
package struct AfterWorkersReady: Service {
    let supervisor: Supervisor
    let inner: any Service

    package init(supervisor: Supervisor, inner: any Service) {
        self.supervisor = supervisor
        self.inner = inner
    }

    package func run() async throws {
        let ready = await cancelWhenGracefulShutdown { await supervisor.firstGenerationReady() }
        guard ready, !Task.isCancelled else { return }
        try await inner.run()
    }
}
