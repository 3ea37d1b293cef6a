import BulwarkCore
import Foundation
import Testing
import _TestSupport

/// ``OutputFile``: atomic replacement of regular files, writing through to devices and pipes.
@Suite struct OutputFileTests {
    private let temporary: TemporaryDirectory
    var directory: String { temporary.path }

    init() throws {
        temporary = try TemporaryDirectory(prefix: "bulwark-output-file")
    }

    @Test func replacesRegularFilesAtomicallyAndKeepsTheirPermissions() throws {
        let file = directory + "/out.json"
        try OutputFile.write("first", to: file)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
        try OutputFile.write("second", to: file)
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "second")
        #expect(try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["out.json"], "no temporary file is left")
    }

    @Test func followsSymbolicLinksIncludingDanglingOnes() throws {
        let link = directory + "/link", target = directory + "/target"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "target")
        try OutputFile.write("created", to: link)
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "created")
        try OutputFile.write("replaced", to: link)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == "target", "the link is kept")
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "replaced")
    }

    @Test func writesThroughToPipesAndDevicesAndReportsTheirErrors() async throws {
        let fifo = directory + "/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let reader = Task.detached { () -> String in
            guard let handle = FileHandle(forReadingAtPath: fifo) else { return "" }
            return String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        }
        try OutputFile.write("through the pipe", to: fifo)
        #expect(await reader.value == "through the pipe")
        var status = stat()
        #expect(stat(fifo, &status) == 0 && status.st_mode & S_IFMT == S_IFIFO, "the pipe is not replaced")

        try OutputFile.write("discarded", to: "/dev/null")
        #expect(stat("/dev/null", &status) == 0 && status.st_mode & S_IFMT == S_IFCHR)
        if FileManager.default.fileExists(atPath: "/dev/full") {
            #expect(throws: OutputFileError.self) { try OutputFile.write("no space", to: "/dev/full") }
            #expect(stat("/dev/full", &status) == 0 && status.st_mode & S_IFMT == S_IFCHR, "/dev/full stays a device")
        }
    }

    @Test func refusesDirectoriesAndMissingDirectories() throws {
        #expect(throws: OutputFileError.isDirectory(path: directory)) { try OutputFile.write("x", to: directory) }
        #expect(throws: OutputFileError.isDirectory(path: directory)) { try OutputFile.checkWritable(directory) }
        let missing = directory + "/missing/x.json"
        #expect(throws: OutputFileError.missingDirectory(path: missing, directory: directory + "/missing")) {
            try OutputFile.checkWritable(missing)
        }
        try OutputFile.checkWritable(directory + "/new.json")
        // A path ending in a slash names a directory, even one that does not exist yet.
        #expect(throws: OutputFileError.isDirectory(path: directory + "/results/")) { try OutputFile.write("x", to: directory + "/results/") }
        #expect(!FileManager.default.fileExists(atPath: directory + "/results"))
        try OutputFile.checkWritable("-")
        try OutputFile.checkWritableDirectory(directory + "/a/b")
        #expect(throws: OutputFileError.self) { try OutputFile.checkWritableDirectory("/dev/null/run") }
    }

    @Test func recognizesAndRemovesStaleTemporaryFiles() throws {
        #expect(OutputFile.temporaryFileProcess(".model.safetensors.tmp-123-abc0") == 123)
        #expect(OutputFile.temporaryFileProcess("model.safetensors.tmp-45-ff") == 45)
        #expect(OutputFile.temporaryFileProcess("model.tmp-x-1") == nil && OutputFile.temporaryFileProcess("notes.txt") == nil)
        // A process number beyond any kernel's limit is never running.
        let stale = ".model.safetensors.tmp-2147483646-1f"
        try Data().write(to: URL(fileURLWithPath: directory + "/" + stale))
        try Data().write(to: URL(fileURLWithPath: directory + "/keep.txt"))
        #expect(OutputFile.removeStaleTemporaryFiles(in: directory) == [stale])
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["keep.txt"])
    }

    @Test func sameFileThroughLinks() throws {
        let file = directory + "/model", link = directory + "/alias"
        try Data().write(to: URL(fileURLWithPath: file))
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: file)
        #expect(OutputFile.isSameFile(file, link))
        #expect(OutputFile.isSameFile(directory + "/./model", file))
        #expect(!OutputFile.isSameFile(file, directory + "/other"))
        #expect(OutputFile.isSameFile(directory + "/x/../new", directory + "/new"))
    }
}
