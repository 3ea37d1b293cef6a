/// The settings of `attack` that decide its strength (steps, step size, restarts, iterations,
/// queries and the like), as strings keyed in snake case, for files that record how examples
/// were made. Attacks Bulwark does not know give only their name.
public func attackSettings(_ attack: any Attack) -> [String: String] {
    var settings = ["attack": attack.name]
    func set(_ key: String, _ value: some CustomStringConvertible) { settings[key] = value.description }
    switch attack {
    case let pgd as PGD:
        set("steps", pgd.steps); set("step_size", pgd.stepSize); set("restarts", pgd.restarts)
        set("random_start", pgd.randomStart); set("loss", "\(pgd.loss)")
    case let fgsm as FGSM:
        set("steps", 1); set("step_size", fgsm.stepSize); set("random_start", fgsm.randomStart)
    case let bim as BIM:
        set("steps", bim.steps); set("step_size", bim.stepSize)
    case let momentum as MIFGSM:
        set("steps", momentum.steps); set("step_size", momentum.stepSize); set("momentum_decay", momentum.decay)
    case let ascent as GradientAscent:
        set("steps", ascent.steps); set("step_size", ascent.stepSize)
    case let apgd as APGD:
        set("iterations", apgd.iterations); set("restarts", apgd.restarts)
    case let fab as FAB:
        set("iterations", fab.iterations); set("restarts", fab.restarts)
    case let square as SquareAttack:
        set("queries", square.queries)
    case let deepFool as DeepFool:
        set("steps", deepFool.steps); set("overshoot", deepFool.overshoot)
    case let carliniWagner as CarliniWagnerL2:
        set("binary_search_steps", carliniWagner.binarySearchSteps); set("iterations", carliniWagner.maxIterations)
        set("learning_rate", carliniWagner.learningRate); set("confidence", carliniWagner.confidence)
    default:
        break
    }
    return settings
}
