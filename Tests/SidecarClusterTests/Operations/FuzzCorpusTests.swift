import Foundation
import SidecarTestSupport
import Testing

/// The fuzz targets' committed inputs (seeds, and the inputs of crashes found and fixed)
/// replayed through the same targets, built without the fuzzer: a regression fails here.
@Suite struct FuzzCorpusTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("bench/fuzz")

    @Test(arguments: ["head", "chunked", "fanout", "server", "jwt", "response", "curlhead", "local", "terminal"])
    func committedInputs_replayCleanly(target: String) throws {
        var files: [String] = []
        for folder in ["seeds/\(target)", "regressions/\(target)"] {
            let dir = Self.root.appendingPathComponent(folder)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
            files += names.sorted().map { dir.appendingPathComponent($0).path }
        }
        #expect(!files.isEmpty, "no seeds for \(target)")
        let replay = Process()
        replay.executableURL = SidecarProcess.binary.deletingLastPathComponent().appendingPathComponent("sidecar-fuzz")
        replay.arguments = [target] + files
        let out = Pipe()
        replay.standardOutput = out
        try replay.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        replay.waitUntilExit()
        #expect(replay.terminationStatus == 0, "\(target): \(text)")
        #expect(text.contains("replayed \(files.count) inputs through \(target)"))
    }
}
