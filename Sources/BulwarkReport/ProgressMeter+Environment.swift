extension ProgressMeter {
    /// The meter a process with `environment` shows: a live bar when standard error is a
    /// terminal (`isTerminal`) outside CI (`CI` unset), else plain lines at most every
    /// `BULWARK_PROGRESS_INTERVAL` seconds (10 when unset, none below 0).
    public init(environment: [String: String], isTerminal: Bool) {
        self.init(interactive: isTerminal && environment["CI"] == nil,
                  pipedInterval: environment["BULWARK_PROGRESS_INTERVAL"].flatMap(Double.init).map { Swift.max($0, 0) } ?? 10)
    }
}
