#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Why an output file could not be checked or written.
public enum OutputFileError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The path names a directory, where a file was expected.
    case isDirectory(path: String)
    /// The directory that would hold the file does not exist.
    case missingDirectory(path: String, directory: String)
    /// The directory that would hold the file (or the file itself) cannot be written.
    case notWritable(path: String, reason: String)
    /// The path names something other than a regular file, a character device or a pipe
    /// (a socket or a block device), which Bulwark does not write to.
    case unsupportedFileType(path: String, type: String)
    /// A system call failed while writing; `operation` names the step.
    case failed(path: String, operation: String, reason: String)

    public var description: String {
        switch self {
        case .isDirectory(let path):
            return "Cannot write '\(path)': it is a directory. Name a file inside it instead."
        case let .missingDirectory(path, directory):
            return "Cannot write '\(path)': the directory '\(directory)' does not exist. Create it or choose another path."
        case let .notWritable(path, reason):
            return "Cannot write '\(path)': \(reason). Choose a path in a writable directory."
        case let .unsupportedFileType(path, type):
            return "Cannot write '\(path)': it is a \(type). Name a regular file, a pipe, a terminal or - for standard output."
        case let .failed(path, operation, reason):
            return "Cannot write '\(path)' (\(operation)): \(reason). Check the disk has free space and the directory is writable."
        }
    }

    /// The path the error is about.
    public var path: String {
        switch self {
        case .isDirectory(let path), .missingDirectory(let path, _), .notWritable(let path, _),
             .unsupportedFileType(let path, _), .failed(let path, _, _):
            return path
        }
    }
}

/// How Bulwark writes every output file, so that an interrupted write never leaves a
/// partial file and special destinations keep working.
///
/// - A regular file, or a path that does not exist yet, is written atomically: the bytes go
///   to a temporary file beside it (`.NAME.tmp-PID-RANDOM`, see ``isTemporaryFileName(_:)``),
///   which is synced and renamed over the destination, so readers see the old file or the
///   complete new one. An existing file keeps its permissions.
/// - A symbolic link is followed: its target is replaced, never the link.
/// - `-` (standard output), `/dev/stdout`, `/dev/stderr`, `/dev/fd/N`, character devices
///   (a terminal, `/dev/null`, `/dev/full`) and pipes are written straight through, never
///   replaced; a failed write (such as `/dev/full`'s "no space left") is thrown.
/// - Directories, sockets and block devices are refused.
public enum OutputFile {
    /// The path that names standard output.
    public static let standardOutputPath = "-"

    /// A destination being written: ``write(_:)-(UnsafeRawBufferPointer)`` appends bytes.
    public struct Writer {
        fileprivate let descriptor: Int32
        fileprivate let path: String

        /// Appends the bytes of `buffer`, retrying interrupted and partial writes.
        public func write(_ buffer: UnsafeRawBufferPointer) throws(OutputFileError) {
            var offset = 0
            while offset < buffer.count {
                let written = systemWrite(descriptor, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw .failed(path: path, operation: "writing", reason: systemErrorDescription())
                }
                offset += written
            }
        }

        /// Appends `bytes`.
        public func write(_ bytes: [UInt8]) throws(OutputFileError) {
            let result = bytes.withUnsafeBytes { buffer in
                Result { () throws(OutputFileError) in try write(buffer) }
            }
            try result.get()
        }
    }

    /// Writes `bytes` to `path` as the type describes.
    ///
    /// - Throws: ``OutputFileError`` when the path is a directory or an unsupported file
    ///   type, its directory is missing, or a system call fails; an existing regular file is
    ///   then left unchanged.
    public static func write(_ bytes: [UInt8], to path: String) throws(OutputFileError) {
        try write(to: path) { (writer: Writer) throws(OutputFileError) in try writer.write(bytes) }
    }

    /// Writes `text` as UTF-8 to `path` as the type describes.
    ///
    /// - Throws: As ``write(_:to:)-([UInt8],_)``.
    public static func write(_ text: String, to path: String) throws(OutputFileError) {
        try write(Array(text.utf8), to: path)
    }

    /// Writes what `body` appends to the writer to `path` as the type describes; when `body`
    /// throws, a destination that is replaced atomically is left unchanged.
    ///
    /// - Throws: As ``write(_:to:)-([UInt8],_)``, and what `body` throws.
    public static func write(
        to path: String, _ body: (Writer) throws(OutputFileError) -> Void
    ) throws(OutputFileError) {
        switch try destination(of: path) {
        case .descriptor(let descriptor):
            try body(Writer(descriptor: descriptor, path: path))
        case .device(let device):
            let descriptor = open(device, O_WRONLY | O_CLOEXEC)
            guard descriptor >= 0 else { throw .failed(path: path, operation: "opening", reason: systemErrorDescription()) }
            var isOpen = true
            defer { if isOpen { _ = close(descriptor) } }
            try body(Writer(descriptor: descriptor, path: path))
            isOpen = false
            guard close(descriptor) == 0 else { throw .failed(path: path, operation: "closing", reason: systemErrorDescription()) }
        case let .file(file, mode):
            try writeAtomically(to: file, mode: mode, reportedAs: path, body)
        }
    }

    /// Throws unless `path` can be written as ``write(_:to:)-([UInt8],_)`` would: it is `-`,
    /// a writable device or pipe, or a file (existing or not, through symbolic links) in an
    /// existing writable directory. Call it on every output path before long work starts.
    ///
    /// - Throws: ``OutputFileError/isDirectory(path:)``,
    ///   ``OutputFileError/missingDirectory(path:directory:)``,
    ///   ``OutputFileError/notWritable(path:reason:)`` or
    ///   ``OutputFileError/unsupportedFileType(path:type:)``.
    public static func checkWritable(_ path: String) throws(OutputFileError) {
        switch try destination(of: path) {
        case .descriptor(let descriptor):
            guard fcntl(descriptor, F_GETFD) != -1 else {
                throw .notWritable(path: path, reason: "file descriptor \(descriptor) is not open")
            }
        case .device(let device):
            guard access(device, W_OK) == 0 else { throw .notWritable(path: path, reason: systemErrorDescription()) }
        case .file(let file, _):
            let directory = directoryName(of: file)
            var status = stat()
            guard stat(directory, &status) == 0, status.st_mode & S_IFMT == S_IFDIR else {
                throw .missingDirectory(path: path, directory: directory)
            }
            guard access(directory, W_OK) == 0 else {
                throw .notWritable(path: path, reason: "its directory '\(directory)' is not writable (\(systemErrorDescription()))")
            }
        }
    }

    /// Throws unless `directory` is, or can be created as, a writable directory: an existing
    /// writable directory, or a path whose nearest existing ancestor is one.
    ///
    /// - Throws: ``OutputFileError/notWritable(path:reason:)`` when the path or its nearest
    ///   existing ancestor is not a writable directory.
    public static func checkWritableDirectory(_ directory: String) throws(OutputFileError) {
        var candidate = directory.isEmpty ? "." : directory
        while true {
            var status = stat()
            if stat(candidate, &status) == 0 {
                guard status.st_mode & S_IFMT == S_IFDIR else {
                    throw .notWritable(path: directory, reason: candidate == directory ? "it exists and is not a directory" : "'\(candidate)' is not a directory")
                }
                guard access(candidate, W_OK) == 0 else {
                    throw .notWritable(path: directory, reason: "'\(candidate)' is not writable (\(systemErrorDescription()))")
                }
                return
            }
            let parent = directoryName(of: candidate)
            if parent == candidate { return }
            candidate = parent
        }
    }

    /// Whether `first` and `second` name the same file: the same device and inode when both
    /// exist (through symbolic links and hard links), otherwise the same absolute path once
    /// symbolic links are resolved.
    public static func isSameFile(_ first: String, _ second: String) -> Bool {
        var firstStatus = stat(), secondStatus = stat()
        let firstExists = stat(first, &firstStatus) == 0, secondExists = stat(second, &secondStatus) == 0
        if firstExists && secondExists {
            return firstStatus.st_dev == secondStatus.st_dev && firstStatus.st_ino == secondStatus.st_ino
        }
        if firstExists != secondExists { return false }
        return normalized(resolvingLinks(first)) == normalized(resolvingLinks(second))
    }

    /// Whether `name` (a file name, without directories) is that of a temporary file
    /// ``write(_:to:)-([UInt8],_)`` creates, `.NAME.tmp-PID-RANDOM` (or `NAME.tmp-PID-RANDOM`, as
    /// earlier Bulwark versions named them), and if so the process that created it.
    public static func temporaryFileProcess(_ name: String) -> Int32? {
        guard let marker = name.range(of: ".tmp-", options: .backwards), marker.lowerBound > name.startIndex else { return nil }
        let parts = name[marker.upperBound...].split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let process = Int32(parts[0]), process > 0,
              !parts[1].isEmpty, parts[1].allSatisfy(\.isHexDigit) else { return nil }
        return process
    }

    /// Removes the temporary files that interrupted writes left in `directory` (those
    /// ``temporaryFileProcess(_:)`` recognizes whose process is no longer running, or is this
    /// one), returning their names. Errors are ignored: the files only take space.
    @discardableResult
    public static func removeStaleTemporaryFiles(in directory: String) -> [String] {
        guard let stream = opendir(directory) else { return [] }
        var names = [String]()
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { buffer in
                String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
            }
            names.append(name)
        }
        closedir(stream)
        var removed = [String]()
        for name in names.sorted() {
            guard let process = temporaryFileProcess(name) else { continue }
            let running = process != getpid() && (kill(process, 0) == 0 || errno == EPERM)
            if !running, unlink(directory + "/" + name) == 0 { removed.append(name) }
        }
        return removed
    }

    /// Whether writing `path` writes this process's standard output (`-`, `/dev/stdout`,
    /// `/dev/fd/1`), where any other text printed would mix with the data.
    public static func writesToStandardOutput(_ path: String) -> Bool {
        if case .descriptor(STDOUT_FILENO)? = try? destination(of: path) { return true }
        return false
    }

    // MARK: - Implementation

    /// Where bytes for a path go.
    private enum Destination {
        /// An open descriptor of this process (standard output, `/dev/fd/N`).
        case descriptor(Int32)
        /// A character device or pipe, opened and written through.
        case device(String)
        /// A regular file (existing, with its permissions, or not), replaced atomically.
        case file(String, mode: mode_t?)
    }

    private static func destination(of path: String) throws(OutputFileError) -> Destination {
        if path == standardOutputPath || path == "/dev/stdout" { return .descriptor(STDOUT_FILENO) }
        if path == "/dev/stderr" { return .descriptor(STDERR_FILENO) }
        for prefix in ["/dev/fd/", "/proc/self/fd/"] where path.hasPrefix(prefix) {
            if let descriptor = Int32(path.dropFirst(prefix.count)) { return .descriptor(descriptor) }
        }
        guard !path.isEmpty else { throw .notWritable(path: path, reason: "the path is empty") }
        guard !path.hasSuffix("/") else { throw .isDirectory(path: path) }
        var status = stat()
        guard stat(path, &status) == 0 else {
            let code = errno
            guard code == ENOENT else { throw .notWritable(path: path, reason: systemErrorDescription(code)) }
            // Missing, or a symbolic link to a missing file: the link's target is created.
            return .file(resolvingLinks(path), mode: nil)
        }
        switch status.st_mode & S_IFMT {
        case S_IFREG: return .file(resolvingLinks(path), mode: status.st_mode & 0o7777)
        case S_IFDIR: throw .isDirectory(path: path)
        case S_IFCHR, S_IFIFO: return .device(path)
        case S_IFSOCK: throw .unsupportedFileType(path: path, type: "socket")
        case S_IFBLK: throw .unsupportedFileType(path: path, type: "block device")
        default: throw .unsupportedFileType(path: path, type: "special file")
        }
    }

    private static func writeAtomically(
        to file: String, mode: mode_t?, reportedAs path: String, _ body: (Writer) throws(OutputFileError) -> Void
    ) throws(OutputFileError) {
        let directory = directoryName(of: file)
        var status = stat()
        guard stat(directory, &status) == 0, status.st_mode & S_IFMT == S_IFDIR else {
            throw .missingDirectory(path: path, directory: directory)
        }
        let name = file.split(separator: "/").last.map(String.init) ?? file
        let temporary = (directory == "/" ? "" : directory) + "/." + name
            + ".tmp-\(getpid())-\(String(UInt32.random(in: .min ... .max), radix: 16))"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode ?? 0o666)
        guard descriptor >= 0 else {
            let code = errno
            if code == EACCES || code == EROFS || code == EPERM {
                throw .notWritable(path: path, reason: "its directory '\(directory)' is not writable (\(systemErrorDescription(code)))")
            }
            throw .failed(path: path, operation: "creating the temporary file '\(temporary)'", reason: systemErrorDescription(code))
        }
        var isOpen = true
        var succeeded = false
        defer {
            if isOpen { _ = close(descriptor) }
            if !succeeded { _ = unlink(temporary) }
        }
        // open applies the umask; an existing file keeps its exact permissions.
        if let mode { _ = fchmod(descriptor, mode) }
        try body(Writer(descriptor: descriptor, path: path))
        guard fsync(descriptor) == 0 else { throw .failed(path: path, operation: "syncing", reason: systemErrorDescription()) }
        isOpen = false
        guard close(descriptor) == 0 else { throw .failed(path: path, operation: "closing", reason: systemErrorDescription()) }
        guard rename(temporary, file) == 0 else {
            throw .failed(path: path, operation: "renaming '\(temporary)' over it", reason: systemErrorDescription())
        }
        succeeded = true
        // Flush the rename; some file systems cannot sync directories, and the data is on disk.
        let directoryDescriptor = open(directory, O_RDONLY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            _ = fsync(directoryDescriptor)
            _ = close(directoryDescriptor)
        }
    }

    /// `path` with every symbolic link along it and at its end resolved, as far as its
    /// components exist; the rest is appended unchanged.
    private static func resolvingLinks(_ path: String) -> String {
        var current = path
        for _ in 0..<40 {
            if let resolved = realPath(current) { return resolved }
            // The file does not exist: resolve its directory, then follow a dangling link.
            let directory = realPath(directoryName(of: current)) ?? directoryName(of: current)
            let name = current.split(separator: "/").last.map(String.init) ?? current
            let joined = (directory == "/" ? "" : directory) + "/" + name
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let count = readlink(joined, &buffer, buffer.count - 1)
            guard count > 0 else { return joined }
            let target = String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            current = target.hasPrefix("/") ? target : (directory == "/" ? "" : directory) + "/" + target
        }
        return current
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The absolute form of `path` without `.` and `..` components.
    private static func normalized(_ path: String) -> String {
        var components = [Substring]()
        let absolute = path.hasPrefix("/") ? path : currentDirectory() + "/" + path
        for component in absolute.split(separator: "/") {
            if component == "." { continue }
            if component == ".." { _ = components.popLast(); continue }
            components.append(component)
        }
        return "/" + components.joined(separator: "/")
    }

    private static func currentDirectory() -> String {
        guard let directory = getcwd(nil, 0) else { return "." }
        defer { free(directory) }
        return String(cString: directory)
    }

    /// The directory part of `path`: `.` for a bare name, `/` for a file at the root.
    private static func directoryName(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        return slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
    }
}

/// POSIX `write`, named apart from ``OutputFile/Writer/write(_:)-(UnsafeRawBufferPointer)``.
private func systemWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
    write(descriptor, buffer, count)
}

private func systemErrorDescription(_ code: Int32 = errno) -> String {
    guard let message = strerror(code) else { return "error \(code)" }
    return String(cString: message)
}
