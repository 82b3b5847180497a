/// What `snapshotd --version` prints and the `snapshotd_build_info` gauge reports.
public enum BuildInfo {
    /// Bumped with every change to the API or a format.
    public static let version = "0.5.0"
}
