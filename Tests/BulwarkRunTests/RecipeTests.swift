import BulwarkRun
import Testing

/// Every registered method resolves to a configuration that validates, with every field it
/// uses filled in, and builds from it.
@Suite struct RecipeTests {
    @Test func registeredImageRecipesHaveUniqueNamesAndBuildFromTheirDefaults() throws {
        let names = ImageTrainingMethodName.registry.map { $0.name }
        #expect(Set(names).count == names.count, "\(names)")
        for recipe in ImageTrainingMethodName.registry {
            // A method with a base method resolves and builds on each.
            let bases = recipe.fields.contains(.awpInner) ? [nil] + ImageTrainingConfiguration.AWPInner.allCases : [nil]
            for base in bases {
                var configuration = ImageTrainingConfiguration()
                (configuration.method, configuration.epsilon, configuration.awpInner) = (ImageTrainingMethodName(unchecked: recipe.name), 0.1, base)
                #expect(ObjectIdentifier(configuration.method.recipe) == ObjectIdentifier(recipe))
                let resolved = configuration.resolved()
                try resolved.validate()
                for field in ImageMethodField.allCases {
                    #expect(field.isSet(in: resolved) == recipe.fields(of: configuration).contains(field), "\(recipe.name) \(String(describing: base)): \(field)")
                }
                _ = recipe.method(for: resolved)
            }
        }
    }

    @Test func registeredTextRecipesHaveUniqueNamesAndBuildFromTheirDefaults() throws {
        let names = TextTrainingMethodName.registry.map { $0.name }
        #expect(Set(names).count == names.count, "\(names)")
        for recipe in TextTrainingMethodName.registry {
            var configuration = TextTrainingConfiguration(dataset: .mr, dataDirectory: "/data/mr")
            (configuration.method, configuration.epsilon) = (TextTrainingMethodName(unchecked: recipe.name), 0.5)
            #expect(ObjectIdentifier(configuration.method.recipe) == ObjectIdentifier(recipe))
            let resolved = configuration.resolved()
            try resolved.validate()
            for field in TextMethodField.allCases {
                #expect(field.isSet(in: resolved) == recipe.fields.contains(field), "\(recipe.name): \(field)")
            }
            _ = recipe.method(for: resolved)
        }
    }
}
