import BulwarkCore
import BulwarkData
import Foundation
import Testing
import _TestSupport

@Suite("Tokenizer and vocabulary")
struct TokenizerTests {
    let tokenizer = WordTokenizer()

    @Test("contractions split as in the Penn Treebank, punctuation is separate, case is lowered")
    func contractions() {
        #expect(tokenizer.tokenize("Don't stop!") == ["do", "n't", "stop", "!"])
        #expect(tokenizer.tokenize("He's here, they'll go; I'm done.") == ["he", "'s", "here", ",", "they", "'ll", "go", ";", "i", "'m", "done", "."])
        #expect(tokenizer.tokenize("can’t") == ["ca", "n't"])
        #expect(tokenizer.tokenize("'quoted' (text)") == ["'", "quoted", "'", "(", "text", ")"])
    }

    @Test("intra-word hyphens and numbers stay whole; already tokenized text passes through")
    func keepsWords() {
        #expect(tokenizer.tokenize("jean-claud van damme paid $3.50, or 1,000 yen") == ["jean-claud", "van", "damme", "paid", "$", "3.50", ",", "or", "1,000", "yen"])
        #expect(tokenizer.tokenize("it 's a charming and often affecting journey . ") == ["it", "'s", "a", "charming", "and", "often", "affecting", "journey", "."])
        #expect(tokenizer.tokenize("does n't") == ["does", "n't"])
        #expect(tokenizer.tokenize("") == [])
        #expect(tokenizer.tokenize("  \t ") == [])
    }

    @Test("vocabulary: <pad> 0, <unk> 1, then by frequency with ties in scalar order, minimum frequency and maximum size")
    func vocabulary() throws {
        let documents = [["b", "a", "c"], ["a", "c", "d"], ["c", "e"]]
        let vocabulary = Vocabulary(counting: documents)
        #expect(vocabulary.tokens == ["<pad>", "<unk>", "c", "a", "b", "d", "e"])
        #expect(Vocabulary(counting: documents, minimumFrequency: 2).tokens == ["<pad>", "<unk>", "c", "a"])
        #expect(Vocabulary(counting: documents, maximumSize: 4).tokens == ["<pad>", "<unk>", "c", "a"])
        #expect(vocabulary.encode(["a", "zzz", "e"]) == [3, 1, 6])
        #expect(vocabulary.decode([3, 1, 99]) == ["a", "<unk>", "<unk>"])
        // Reversed document order gives the same vocabulary.
        #expect(Vocabulary(counting: documents.reversed()) == vocabulary)
        #expect(try Vocabulary(tokens: vocabulary.tokens) == vocabulary)
        #expect(throws: TextDataError.self) { try Vocabulary(tokens: ["a", "<unk>"]) }
    }

    @Test("padded batches with lengths; bucketing keeps every example once and is seeded")
    func batches() {
        let encoded = EncodedTextDataset(sequences: [[2, 3, 4], [5], [6, 7], [8, 9, 10, 11]], labels: [0, 1, 0, 1], classNames: ["a", "b"])
        let batches = encoded.batches(ofSize: 3, minimumLength: 2)
        #expect(batches.count == 2)
        #expect(batches[0].inputs.shape == [3, 3])
        #expect(batches[0].inputs.array == [2, 3, 4, 5, 0, 0, 6, 7, 0])
        #expect(sequenceLengths(ofPadded: batches[0].inputs) == [3, 1, 2])
        #expect(batches[1].inputs.shape == [1, 4])
        #expect(paddedTokens([[5]], minimumLength: 5).shape == [1, 5])
        var first = SplitMix64(seed: 3), second = SplitMix64(seed: 3)
        let bucketed = encoded.batches(ofSize: 2, bucketed: true, shuffledUsing: &first)
        let again = encoded.batches(ofSize: 2, bucketed: true, shuffledUsing: &second)
        #expect(bucketed.map(\.inputs) == again.map(\.inputs))
        #expect(bucketed.flatMap(\.labels).sorted() == [0, 0, 1, 1])
        // Sorted within the pool: the two short sequences share a batch.
        #expect(Set(bucketed.map { $0.inputs.shape[1] }) == [2, 4])
    }

    @Test("encoding truncates to the maximum length and maps unseen words to <unk>")
    func encoding() {
        let dataset = TextDataset(texts: ["A good film", "a bad, bad film"], labels: [1, 0], classNames: ["neg", "pos"])
        let vocabulary = Vocabulary(counting: dataset.texts.map(WordTokenizer().tokenize))
        let encoded = EncodedTextDataset(TextDataset(texts: ["good unseen film", "bad"], labels: [1, 0], classNames: ["neg", "pos"]), vocabulary: vocabulary, maximumLength: 2)
        #expect(encoded.sequences == [[vocabulary.index(of: "good"), Vocabulary.unknownIndex], [vocabulary.index(of: "bad")]])
    }
}

@Suite("Text readers")
struct TextReaderTests {
    @Test("GLUE TSV: header, literal quotes, trailing space trimmed, empty lines skipped")
    func glue() throws {
        let directory = try TemporaryDirectory()
        let file = try directory.write(Array("sentence\tlabel\nit 's \" good \" . \t1\n\nbad \t0\r\n".utf8), to: "train.tsv")
        let dataset = try TextDataset.loadGLUE(file)
        #expect(dataset.texts == ["it 's \" good \" .", "bad"])
        #expect(dataset.labels == [1, 0])
        #expect(dataset.classNames == ["0", "1"])
    }

    @Test("a missing column names the file, the column and the header")
    func missingColumn() throws {
        let directory = try TemporaryDirectory()
        let file = try directory.write(Array("text\tlabel\nfine\t1\n".utf8), to: "train.tsv")
        #expect(throws: TextDataError.missingColumn(path: file, column: "sentence", available: ["text", "label"])) {
            try TextDataset.loadGLUE(file)
        }
        let error = TextDataError.missingColumn(path: file, column: "sentence", available: ["text", "label"])
        #expect(error.description.contains("`textColumn`"))
    }

    @Test("an unknown label in an evaluation split names file, line, label and classes")
    func unknownLabel() throws {
        let directory = try TemporaryDirectory()
        let file = try directory.write(Array("sentence\tlabel\nfine\t1\nodd\t7\n".utf8), to: "dev.tsv")
        #expect(throws: TextDataError.unknownLabel(path: file, line: 3, label: "7", known: ["0", "1"])) {
            try TextDataset.loadGLUE(file, classNames: ["0", "1"])
        }
    }

    @Test("CSV: quoted fields with embedded quotes, commas and line breaks; string labels")
    func csv() throws {
        let directory = try TemporaryDirectory()
        let text = "label,text\npos,\"He said \"\"hi, there\"\"\"\nneg,\"two\nlines\"\n\nneg,plain\n"
        let file = try directory.write(Array(text.utf8), to: "train.csv")
        let dataset = try TextDataset.loadColumns(file, format: .csv)
        #expect(dataset.texts == ["He said \"hi, there\"", "two\nlines", "plain"])
        #expect(dataset.classNames == ["neg", "pos"])
        #expect(dataset.labels == [1, 0, 0])
        let open = try directory.write(Array("label,text\npos,\"never closed\n".utf8), to: "open.csv")
        #expect(throws: TextDataError.malformedLine(path: open, line: 2, reason: "a quoted field is never closed; check for a missing \" at the end of the field")) {
            try TextDataset.loadColumns(open, format: .csv)
        }
        let short = try directory.write(Array("label,text\npos\n".utf8), to: "short.csv")
        #expect(throws: TextDataError.self) { try TextDataset.loadColumns(short, format: .csv) }
    }

    @Test("JSON lines with integer or string labels; a bad line is named")
    func jsonLines() throws {
        let directory = try TemporaryDirectory()
        let file = try directory.write(Array("{\"text\": \"good\", \"label\": 1}\n\n{\"text\": \"bad\", \"label\": 0}\n".utf8), to: "train.jsonl")
        let dataset = try TextDataset.loadColumns(file, format: .jsonl)
        #expect(dataset.texts == ["good", "bad"])
        #expect(dataset.labels == [1, 0])
        let broken = try directory.write(Array("{\"text\": \"good\", \"label\": 1}\nnot json\n".utf8), to: "broken.jsonl")
        #expect(throws: TextDataError.self) { try TextDataset.loadColumns(broken, format: .jsonl) }
        do {
            _ = try TextDataset.loadColumns(broken, format: .jsonl)
        } catch let error as TextDataError {
            #expect(error.description.hasPrefix("\(broken):2:"))
        }
    }

    @Test("JSON lines: a boolean, fractional, huge or negative numeric label is an error naming the line",
          arguments: ["true", "false", "1.5", "1e30", "-1", "12345678901234567890", "null", "[1]"])
    func jsonLinesRejectLabelsThatAreNotClassIndices(_ label: String) throws {
        let directory = try TemporaryDirectory()
        let file = try directory.write(Array("{\"text\": \"good\", \"label\": 1}\n{\"text\": \"odd\", \"label\": \(label)}\n".utf8), to: "train.jsonl")
        let error = #expect(throws: TextDataError.self) { try TextDataset.loadColumns(file, format: .jsonl) }
        guard case .malformedLine(let path, let line, let reason)? = error else {
            Issue.record("expected a malformed line, got \(String(describing: error))")
            return
        }
        #expect(path == file && line == 2)
        #expect(reason.contains("'label'") && reason.contains("non-negative integer"), "\(reason)")
    }

    @Test("JSON lines: an integral float label such as 1.0 is its integer")
    func jsonLinesAcceptIntegralFloatLabels() throws {
        let directory = try TemporaryDirectory()
        let file = try directory.write(Array("{\"text\": \"a\", \"label\": 1.0}\n{\"text\": \"b\", \"label\": 0}\n{\"text\": \"c\", \"label\": \"-1\"}\n".utf8), to: "train.jsonl")
        let dataset = try TextDataset.loadColumns(file, format: .jsonl)
        #expect(dataset.classNames == ["-1", "0", "1"])
        #expect(dataset.labels == [2, 1, 0])
    }

    @Test("an empty MR class file is an error naming it, not a one-class dataset")
    func emptyMRClassFile() throws {
        let directory = try TemporaryDirectory()
        try directory.write(Array("dull\nflat\n".utf8), to: "rt-polarity.neg")
        let positive = try directory.write(Array("\n  \n".utf8), to: "rt-polarity.pos")
        #expect(throws: TextDataError.noExamples(path: positive)) { try TextDataset.loadMR(directory: directory.path) }
        #expect(throws: TextDataError.noExamples(path: positive)) { try TextDatasetName.mr.load(directory: directory.path) }
    }

    @Test("training data with fewer than two classes is an error naming the file and the class")
    func trainingNeedsTwoClasses() throws {
        let directory = try TemporaryDirectory()
        let training = try directory.write(Array("text,label\ngood,1\nfine,1\n".utf8), to: "train.csv")
        try directory.write(Array("text,label\nbad,0\n".utf8), to: "dev.csv")
        let error = #expect(throws: TextDataError.tooFewClasses(path: training, present: ["1"])) {
            try TextDatasetName.csv.load(directory: directory.path)
        }
        #expect(error?.description.contains("at least two") == true)
        #expect(error?.description.contains(training) == true)
    }

    @Test("invalid UTF-8 is an error naming the line; Latin-1 files (MR) decode every byte and split on LF only")
    func encodings() throws {
        let directory = try TemporaryDirectory()
        let bad = try directory.write(Array("sentence\tlabel\n".utf8) + [0x63, 0x61, 0x66, 0xE9, 0x09, 0x31, 0x0A], to: "bad.tsv")
        #expect(throws: TextDataError.invalidUTF8(path: bad, line: 2)) { try TextDataset.loadGLUE(bad) }
        try directory.write(Array("caf".utf8) + [0xE9, 0x85, 0x20, 0x6F, 0x6B, 0x0A, 0x0A], to: "rt-polarity.pos")
        try directory.write(Array("dull\n".utf8), to: "rt-polarity.neg")
        let mr = try TextDataset.loadMR(directory: directory.path)
        #expect(mr.texts == ["dull", "caf\u{E9}\u{85} ok"])
        #expect(mr.labels == [0, 1])
        #expect(mr.classNames == ["negative", "positive"])
    }

    @Test("TREC: coarse label before the colon; a malformed line is named")
    func trec() throws {
        let directory = try TemporaryDirectory()
        let file = try directory.write(Array("DESC:manner How did it go ?\nNUM:date When ?\n".utf8), to: "train_5500.label")
        let dataset = try TextDataset.loadTREC(file)
        #expect(dataset.texts == ["How did it go ?", "When ?"])
        #expect(dataset.labels == [1, 5])
        let bad = try directory.write(Array("DESC:manner fine\nno label here\n".utf8), to: "bad.label")
        #expect(throws: TextDataError.self) { try TextDataset.loadTREC(bad) }
        let unknown = try directory.write(Array("XYZ:odd What ?\n".utf8), to: "unknown.label")
        #expect(throws: TextDataError.unknownLabel(path: unknown, line: 1, label: "XYZ", known: TextDataset.trecClassNames)) {
            try TextDataset.loadTREC(unknown)
        }
    }

    @Test("AG News: three quoted fields, class 1-4, title and description joined, escapes undone")
    func agNews() throws {
        let directory = try TemporaryDirectory()
        let text = "\"3\",\"Title, with comma\",\"A \"\"quote\"\" and #36;10\\million\"\n\"1\",\"World\",\"news\"\n"
        let file = try directory.write(Array(text.utf8), to: "test.csv")
        let dataset = try TextDataset.loadAGNews(file)
        #expect(dataset.texts == ["Title, with comma A \"quote\" and $10 million", "World news"])
        #expect(dataset.labels == [2, 0])
        let bad = try directory.write(Array("\"5\",\"a\",\"b\"\n".utf8), to: "bad.csv")
        #expect(throws: TextDataError.self) { try TextDataset.loadAGNews(bad) }
    }

    @Test("a missing dataset directory or file names the expected files")
    func missingFiles() throws {
        #expect(throws: TextDataError.directoryNotFound(dataset: "sst2", directory: "/nonexistent/sst2", expected: ["train.tsv", "dev.tsv"])) {
            try TextDatasetName.sst2.load(directory: "/nonexistent/sst2")
        }
        let directory = try TemporaryDirectory()
        try directory.write(Array("sentence\tlabel\na\t1\n".utf8), to: "train.tsv")
        #expect(throws: TextDataError.filesNotFound(dataset: "sst2", directory: directory.path, missing: ["dev.tsv"])) {
            try TextDatasetName.sst2.load(directory: directory.path)
        }
        let error = TextDataError.filesNotFound(dataset: "sst2", directory: directory.path, missing: ["dev.tsv"])
        #expect(error.description.contains("dev.tsv") && error.description.contains("`dataDirectory`"))
    }

    @Test("MR's seeded 90/10 split is deterministic and disjoint")
    func mrSplit() {
        let dataset = TextDataset(texts: (0..<20).map(String.init), labels: (0..<20).map { Int32($0 % 2) }, classNames: ["n", "p"])
        var first = SplitMix64(seed: 1), second = SplitMix64(seed: 1)
        let (kept, heldOut) = dataset.split(heldOutFraction: 0.1, using: &first)
        #expect(heldOut.count == 2 && kept.count == 18)
        #expect(Set(kept.texts).isDisjoint(with: heldOut.texts))
        #expect(dataset.split(heldOutFraction: 0.1, using: &second).heldOut == heldOut)
    }
}

private let sharedData = "/work/shared/data"

@Suite("Real text datasets")
struct RealTextDataTests {
    @Test("SST-2, MR, TREC and the AG News test split load with their published counts",
          .enabled(if: FileManager.default.fileExists(atPath: sharedData + "/sst2/dev.tsv"), "the developers' data folder is not present"))
    func counts() throws {
        let (train, dev) = try TextDatasetName.sst2.load(directory: sharedData + "/sst2")
        #expect(train.count == 67_349 && dev.count == 872)
        #expect(dev.labels.filter { $0 == 1 }.count == 444)
        let (mrTrain, mrTest) = try TextDatasetName.mr.load(directory: sharedData + "/mr")
        #expect(mrTrain.count + mrTest.count == 10_662 && mrTest.count == 1_066)
        let (trecTrain, trecTest) = try TextDatasetName.trec.load(directory: sharedData + "/trec")
        #expect(trecTrain.count == 5_452 && trecTest.count == 500)
        #expect(trecTrain.labels.filter { $0 == 0 }.count == 86)
        let agNews = try TextDataset.loadAGNews(sharedData + "/ag_news/test.csv")
        #expect(agNews.count == 7_600)
        #expect(agNews.labels.filter { $0 == 3 }.count == 1_900)
    }
}

@Suite("WordNet synonyms")
struct WordNetTests {
    @Test("data files: license lines skipped, hexadecimal word counts, markers and multiword lemmas dropped")
    func parse() throws {
        let directory = try TemporaryDirectory()
        let header = "  1 This software and database is being provided\n  2 under the following license.\n"
        try directory.write(Array((header + "00001 00 n 02 film 0 movie 0 000 | a motion picture\n00002 00 n 03 picture 0 film 1 motion_picture 0 000 | same\n").utf8), to: "data.noun")
        try directory.write(Array((header + "00003 00 a 0a good(a) 0 full 0 estimable 0 honorable 0 respectable 0 beneficial 0 just 0 upright 0 adept 0 expert 0 000 | ok\n").utf8), to: "data.adj")
        try directory.write(Array(header.utf8), to: "data.verb")
        try directory.write(Array(header.utf8), to: "data.adv")
        let wordNet = try WordNetSynonyms(directory: directory.path)
        #expect(wordNet.synonyms(of: "film") == ["movie", "picture"])
        #expect(wordNet.synonyms(of: "Good").count == 9)
        #expect(wordNet.synonyms(of: "motion_picture") == [])
        #expect(wordNet.synonyms(of: "absent") == [])
        try directory.write(Array("00004 00 n zz broken\n".utf8), to: "data.adv")
        #expect(throws: TextDataError.self) { try WordNetSynonyms(directory: directory.path) }
    }

    @Test("a missing database names the files and the Debian package")
    func missing() {
        #expect(throws: TextDataError.filesNotFound(dataset: "WordNet (Debian package wordnet-base)", directory: "/nonexistent", missing: WordNetSynonyms.dataFiles)) {
            try WordNetSynonyms(directory: "/nonexistent")
        }
    }

    @Test("the installed WordNet 3.0 knows common synonyms",
          .enabled(if: FileManager.default.fileExists(atPath: "/usr/share/wordnet/data.adj"), "WordNet is not installed (Debian package wordnet-base)"))
    func installed() throws {
        let wordNet = try WordNetSynonyms(directory: "/usr/share/wordnet")
        #expect(wordNet.synonyms(of: "good").contains("beneficial"))
        #expect(wordNet.synonyms(of: "movie").contains("film"))
    }
}
