/// This build's version, shown by `--version`, `/status` and the status page.
package enum SidecarVersion {
    package static let current = "0.4.0"
}
