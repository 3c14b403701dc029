import Logging
import SidecarCluster
import SidecarPosix

extension Runtime {
    /// The cluster listener's certificate, key and client CAs are read again when their
    /// directories change (a Kubernetes secret's symlink swap, cert-manager's renewal), as on
    /// SIGHUP. Without inotify, SIGHUP still works: a warning says so.
    func watchTLSFiles(_ tls: ClusterTLS, refresher: SettingsRefresher, logger: Logger) {
        let directories = [tls.certificateFile, tls.keyFile, tls.clientCAFile].compactMap { $0 }.map(Self.directory(of:))
        do throws(SystemError) {
            try DirectoryWatch.start(directories) {
                logger.info("TLS files changed: reading the settings again", metadata: ["directories": "\(Set(directories).sorted())"])
                Task { await refresher.refresh() }
            }
        } catch {
            logger.warning("TLS files are not watched (SIGHUP still reads them again)", metadata: ["error": "\(error)"])
        }
    }

    /// The directory holding `path` ("." for a bare name).
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
