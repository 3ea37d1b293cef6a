import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Every element of an XML document in order, with its attributes, its text and the names of
/// its ancestors; parsing fails (throws) on markup that is not well-formed.
final class XMLOutline: NSObject, XMLParserDelegate {
    struct Element {
        var name: String
        var attributes: [String: String]
        var ancestors: [Int]
        /// The text directly inside the element (not inside its children).
        var ownText = ""
    }

    private(set) var elements = [Element]()
    private(set) var text = ""
    private var open = [Int]()

    init(_ markup: String) throws {
        super.init()
        let parser = XMLParser(data: Data(markup.utf8))
        parser.delegate = self
        guard parser.parse() else {
            throw parser.parserError ?? CocoaError(.coderReadCorrupt)
        }
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        elements.append(Element(name: name, attributes: attributes, ancestors: open))
        open.append(elements.count - 1)
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        open.removeLast()
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        text += string
        if let innermost = open.last { elements[innermost].ownText += string }
    }

    /// Elements named `name`.
    func elements(_ name: String) -> [Element] { elements.filter { $0.name == name } }

    /// The polylines inside the chart `identifier`: series name, number of points, dashed.
    func series(ofChart identifier: String) -> [(name: String, points: Int, dashed: Bool)] {
        let charts = elements.indices.filter { elements[$0].name == "svg" && elements[$0].attributes["data-chart"] == identifier }
        guard charts.count == 1, let chart = charts.first else { return [] }
        return elements.filter { $0.name == "polyline" && $0.ancestors.contains(chart) }.map { line in
            (line.attributes["data-series"] ?? "", (line.attributes["points"] ?? "").split(separator: " ").count,
             line.attributes["stroke-dasharray"] != nil)
        }
    }
}
