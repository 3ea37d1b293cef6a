import BulwarkAttacks
import BulwarkTraining

/// The name of a text training method, one of ``TextTrainingMethodName/all``.
public struct TextTrainingMethodName: RegisteredMethodName {
    /// The method's name, as configurations and run manifests spell it.
    public let rawValue: String

    /// The method named `name`, unchecked: ``TextTrainingConfiguration/validate()`` refuses a name the registry
    /// does not hold.
    public init(unchecked name: String) { rawValue = name }

    /// Every method a configuration may name: adding a method is a type conforming to
    /// ``TextTrainingRecipe`` (in its own file in `Methods`) and one line here.
    package static let registry: [any TextTrainingRecipe.Type] = [
        StandardTextRecipe.self, FGMRecipe.self, EmbeddingPGDRecipe.self, FreeLBRecipe.self, VATRecipe.self, SMARTRecipe.self,
    ]

    package static func name(of recipe: any TextTrainingRecipe.Type) -> String { recipe.name }
}

/// A text training method as a configuration names it: the fields it uses, their defaults,
/// and how it is built from a resolved configuration (see ``TextTrainingConfiguration/resolved()``).
package protocol TextTrainingRecipe: Sendable {
    associatedtype Method: TextTrainingMethod
    /// The method's name in configurations.
    static var name: String { get }
    /// The method-specific fields the method uses; the rest are cleared.
    static var fields: Set<TextMethodField> { get }
    /// Whether the method perturbs at ε (so needs ε > 0). Default true.
    static var attacks: Bool { get }
    /// Fills in the defaults of the fields the method uses; the fields it does not use are nil.
    static func resolve(_ configuration: inout TextTrainingConfiguration)
    /// The method `configuration` (resolved) trains with.
    static func method(for configuration: TextTrainingConfiguration) -> Method
}

extension TextTrainingRecipe {
    package static var attacks: Bool { true }
}

/// A field of ``TextTrainingConfiguration`` that only some methods use.
package enum TextMethodField: String, CaseIterable, Sendable {
    case steps, stepSize, perturbationSite, initialMagnitude, powerIterations, proximalWeight, proximalMomentum

    /// The field's property, from the configuration's coding table.
    private var property: OptionalProperty<TextTrainingConfiguration> { TextTrainingConfiguration.optionalProperty(named: rawValue) }

    /// Sets the field of `configuration` to nil.
    func clear(in configuration: inout TextTrainingConfiguration) { property.clear(&configuration) }

    /// Whether the field of `configuration` is set.
    package func isSet(in configuration: TextTrainingConfiguration) -> Bool { property.isSet(configuration) }

    /// The names of the registered methods that use the field, in registry order.
    var methods: [String] { TextTrainingMethodName.registry.filter { $0.fields.contains(self) }.map { $0.name } }
}

extension TextTrainingConfiguration {
    /// Defaults of a method ascending in K steps: 3 steps, and a step size of 2.5ε/steps.
    mutating func resolveAscent() {
        steps = steps ?? 3
        stepSize = stepSize ?? 2.5 * epsilon / Float(steps!)
    }
}
