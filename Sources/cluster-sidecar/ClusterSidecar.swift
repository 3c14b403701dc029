import ArgumentParser
import CSidecarSystem
import Glibc
import SidecarClient
import SidecarCluster
import SidecarHTTP
import SidecarPosix
import SidecarRegistry

@main
struct ClusterSidecar: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster-sidecar",
        abstract: "Cluster membership for the service beside it: registry, peers, fan-out.",
        discussion: """
            Every option is also an environment variable (named in its help); the flag wins.
            Durations are seconds and take decimals (0.2).

            Exit status: 0 after a clean shutdown; 64 for bad settings (one line names each);
            98 when a listener's port is taken; 1 for any other start-up failure;
            128+N when a second signal N cuts the shutdown short.

            Signals: SIGTERM or SIGINT leave rotation at once, stop accepting, finish the
            requests in flight (at most DRAIN_TIMEOUT) and exit 0; a second one exits at once.
            SIGHUP re-reads the secrets and key files (*_FILE, JWT_PUBLIC_KEY_FILE) and
            LOG_LEVEL_FILE, keeping every connection and the registration; a reload that fails
            changes nothing and logs why.
            """,
        version: SidecarVersion.current,
        subcommands: [
            RunCommand.self, RegistryCommand.self, DemoCommand.self, StatusCommand.self, HealthCommand.self, ReloadCommand.self,
            EchoCommand.self,
        ]
    )

    @OptionGroup var settings: SettingOptions

    func run() throws {
        // Before any thread starts, so every thread inherits the mask and only sigwait sees them.
        csidecar_block_signals()
        let (configuration, resolve) = Environment.resolveSettings(environment: Environment.current(), flags: settings.flagValues)
        let runtime = Runtime(configuration: configuration, resolve: resolve)
        Signals.run { await runtime.run() }
    }
}

/// The process exit statuses the command documents.
enum ExitStatus {
    static let clean: Int32 = 0
    static let startup: Int32 = 1
    static let configuration: Int32 = 64
    static let addressInUse: Int32 = 98
}
