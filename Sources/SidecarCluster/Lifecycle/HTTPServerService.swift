import Logging
import ServiceLifecycle
import SidecarHTTP
import SidecarServer

/// The HTTP server as a `Service`: started (bound) before the group runs, so that a taken port
/// fails before anything else starts; on graceful shutdown it leaves rotation, stops
/// accepting, lets the requests in flight finish and closes; when cancelled (the drain took
/// longer than the group allows) it closes at once.
package struct HTTPServerService: Service {
    let server: HTTPServer
    let health: HealthState?
    let logger: Logger

    /// - Parameter health: put out of rotation when the drain begins (nil: no probes to tell).
    package init(server: HTTPServer, health: HealthState?, logger: Logger) {
        self.server = server
        self.health = health
        self.logger = logger
    }

    package func run() async {
        do {
            try await gracefulShutdown()
        } catch {
            return server.stop()  // cancelled before any graceful shutdown
        }
        health?.beginDraining()
        server.beginDrain()
        await server.drained()
        if Task.isCancelled {
            logger.warning("stopped", metadata: ["reason": "drain timeout", "open_connections": "\(server.openConnections)"])
        } else {
            logger.info("stopped", metadata: ["reason": "drained"])
        }
        server.stop()
    }
}
