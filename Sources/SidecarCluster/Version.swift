/// This build's version, shown by `--version`, `/status` and the status page.
public enum SidecarVersion {
    public static let current = "0.4.0"
}
