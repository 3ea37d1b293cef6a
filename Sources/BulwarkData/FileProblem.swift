/// How the errors of every dataset reader describe a file they cannot open, so that images
/// and text say it alike.
enum FileProblem {
    /// No file exists at `path`.
    static func notFound(_ path: String) -> String { "\(path) not found; check the path" }

    /// The file exists but could not be read; `reason` is the system's explanation.
    static func unreadable(_ path: String, reason: String) -> String { "\(path) could not be read (\(reason)); check its permissions" }
}
