/// What makes single-ε evaluations of one attack points of one robustness series: the attack
/// and its settings, the number of examples and the strategy.
struct EvaluationSeriesKey: Hashable {
    var attack: String
    var steps: Int?
    var restarts: Int?
    var count: Int
    var strategy: String?

    init(attack: String, evaluation: EvaluationRecord) {
        self.attack = attack
        steps = evaluation.steps
        restarts = evaluation.restarts
        count = evaluation.count
        strategy = evaluation.strategy
    }

    /// The attack's name, with the settings that tell it apart from `siblings` (series of the
    /// same attack) in parentheses.
    func label(among siblings: [EvaluationSeriesKey]) -> String {
        guard siblings.count > 1 else { return attack }
        var parts = [String]()
        if Set(siblings.map(\.steps)).count > 1 { parts.append(steps.map { "\($0) steps" } ?? "steps unrecorded") }
        if Set(siblings.map(\.restarts)).count > 1 { parts.append(restarts.map { "\($0) restart\($0 == 1 ? "" : "s")" } ?? "restarts unrecorded") }
        if Set(siblings.map(\.count)).count > 1 { parts.append("\(count) examples") }
        if Set(siblings.map(\.strategy)).count > 1 { parts.append(strategy ?? "strategy unrecorded") }
        return "\(attack) (\(parts.joined(separator: ", ")))"
    }
}
