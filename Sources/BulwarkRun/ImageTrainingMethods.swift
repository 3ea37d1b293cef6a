import BulwarkAttacks
import BulwarkTraining

/// The name of an image training method, one of ``ImageTrainingMethodName/all``.
public struct ImageTrainingMethodName: RegisteredMethodName {
    /// The method's name, as configurations and run manifests spell it.
    public let rawValue: String

    /// The method named `name`, unchecked: ``ImageTrainingConfiguration/validate()`` refuses a name the registry
    /// does not hold.
    public init(unchecked name: String) { rawValue = name }

    /// Every method a configuration may name: adding a method is a type conforming to
    /// ``ImageTrainingRecipe`` (in its own file in `Methods`) and one line here.
    package static let registry: [any ImageTrainingRecipe.Type] = [
        StandardRecipe.self, FastRecipe.self, PGDRecipe.self, TRADESRecipe.self, MARTRecipe.self,
        FreeRecipe.self, MixRecipe.self, AWPRecipe.self, GradAlignRecipe.self,
    ]

    package static func name(of recipe: any ImageTrainingRecipe.Type) -> String { recipe.name }
}

/// An image training method as a configuration names it: the fields it uses, their defaults,
/// and how it is built from a resolved configuration (see ``ImageTrainingConfiguration/resolved()``).
package protocol ImageTrainingRecipe: Sendable {
    associatedtype Method: TrainingMethod
    /// The method's name in configurations.
    static var name: String { get }
    /// Every method-specific field the method uses in some configuration.
    static var fields: Set<ImageMethodField> { get }
    /// The method-specific fields `configuration` uses; the rest are cleared. Default ``fields``.
    static func fields(of configuration: ImageTrainingConfiguration) -> Set<ImageMethodField>
    /// The method's name in messages, with its variant in `configuration`. Default ``name``.
    static func description(of configuration: ImageTrainingConfiguration) -> String
    /// Whether the method attacks at ε (so needs ε > 0 and can guard against catastrophic
    /// overfitting). Default true.
    static var attacks: Bool { get }
    /// Whether the method can ramp ε up (``ImageTrainingConfiguration/epsilonWarmup``). Default ``attacks``.
    static var rampsEpsilon: Bool { get }
    /// Fills in the defaults of the fields the method uses; the fields it does not use are nil.
    static func resolve(_ configuration: inout ImageTrainingConfiguration)
    /// The method `configuration` (resolved) trains with.
    static func method(for configuration: ImageTrainingConfiguration) -> Method
}

extension ImageTrainingRecipe {
    package static func fields(of configuration: ImageTrainingConfiguration) -> Set<ImageMethodField> { fields }
    package static func description(of configuration: ImageTrainingConfiguration) -> String { name }
    package static var attacks: Bool { true }
    package static var rampsEpsilon: Bool { attacks }
}

/// A field of ``ImageTrainingConfiguration`` that only some methods use.
package enum ImageMethodField: String, CaseIterable, Sendable {
    case steps, stepSize, randomStart, clipsStart, beta, awpInner, awpGamma, awpWarmup, gradalignLambda, replays, adversarialRatio

    /// The field's property, from the configuration's coding table.
    private var property: OptionalProperty<ImageTrainingConfiguration> { ImageTrainingConfiguration.optionalProperty(named: rawValue) }

    /// Sets the field of `configuration` to nil.
    func clear(in configuration: inout ImageTrainingConfiguration) { property.clear(&configuration) }

    /// Whether the field of `configuration` is set.
    package func isSet(in configuration: ImageTrainingConfiguration) -> Bool { property.isSet(configuration) }

    /// The names of the registered methods that use the field, in registry order.
    var methods: [String] { ImageTrainingMethodName.registry.filter { $0.fields.contains(self) }.map { $0.name } }
}

extension ImageTrainingConfiguration {
    /// Defaults of a method attacking with `steps` steps: the steps, and a step size of 2.5ε/steps.
    mutating func resolveAttack(defaultSteps: Int) {
        steps = steps ?? defaultSteps
        stepSize = stepSize ?? 2.5 * epsilon / Float(steps!)
    }
}
