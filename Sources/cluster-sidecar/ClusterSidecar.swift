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
    static let configuration: CommandConfiguration = {
        CommandConfiguration(
            commandName: "cluster-sidecar",
            abstract: SidecarCommand.abstract,
            usage: "cluster-sidecar \(CommandSettings.usage) [<subcommand>]",
            discussion: SidecarCommand.discussion,
            version: SidecarVersion.current,
            subcommands: [
                SidecarCommand.self, RunCommand.self, RegistryCommand.self, DemoCommand.self, StatusCommand.self, HealthCommand.self,
                ReloadCommand.self, EchoCommand.self,
            ],
            defaultSubcommand: SidecarCommand.self
        )
    }()
}

/// The sidecar itself: what `cluster-sidecar` runs without a subcommand. A subcommand of its
/// own (hidden, and the default), because a command that takes every argument left over (its
/// settings) cannot also have subcommands: ArgumentParser would give it their names too.
struct SidecarCommand: ParsableCommand {
    static let abstract = "Cluster membership for the service beside it: registry, peers, fan-out."

    static let discussion: String = {
        """
        Every setting is a flag and an environment variable (named in its help); the flag \
        wins. Durations are seconds and take decimals (0.2).

        Exit status: 0 after a clean shutdown; 64 for bad settings (one line names each); 98 \
        when a listener's port is taken; 1 for any other start-up failure; 128+N when a \
        second signal N cuts the shutdown short.

        Signals: SIGTERM or SIGINT leave rotation at once, stop accepting, finish the \
        requests in flight (at most DRAIN_TIMEOUT) and exit 0; a second one exits at once. \
        SIGHUP re-reads the secrets and key files (*_FILE, JWT_PUBLIC_KEY_FILE) and \
        LOG_LEVEL_FILE, keeping every connection and the registration; a refresh that fails \
        changes nothing and logs why.

        \(CommandSettings.sidecar.help(title: "SETTINGS:", width: CommandSettings.helpWidth))
        """
    }()

    static let configuration: CommandConfiguration = {
        CommandConfiguration(
            commandName: "sidecar", abstract: abstract, usage: "cluster-sidecar \(CommandSettings.usage)", discussion: discussion,
            shouldDisplay: false)
    }()

    @OptionGroup var settings: SettingArguments

    func run() throws {
        // Before any thread starts, so every thread inherits the mask and only sigwait sees them.
        csidecar_block_signals()
        let (configuration, resolve) = Environment.resolveSettings(
            environment: Environment.current(), flags: settings.values(CommandSettings.sidecar))
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
