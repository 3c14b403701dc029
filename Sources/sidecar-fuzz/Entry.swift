#if FUZZING
    import CFuzzDriver
    import Glibc

    /// The entry point: libFuzzer's driver, calling `fuzzOne` for each input.
    @main
    struct Fuzz {
        static func main() {
            let status = cfuzz_run_driver(CommandLine.argc, CommandLine.unsafeArgv) { data, size in fuzzOne(data, size) }
            exit(status)
        }
    }

    /// Which target this fuzzing run exercises: `FUZZ_TARGET` (head, chunked, fanout, server, jwt).
    nonisolated(unsafe) private var target: (@Sendable ([UInt8]) -> Void)?

    func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
        if target == nil {
            let name = getenv("FUZZ_TARGET").map { String(cString: $0) } ?? ""
            guard let t = Targets.all[name] else {
                let text = "FUZZ_TARGET must be one of \(Targets.all.keys.sorted().joined(separator: ", "))\n"
                _ = text.withCString { write(2, $0, strlen($0)) }
                exit(2)
            }
            target = t
        }
        target!(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
        return 0
    }
#else
    import Glibc

    /// Without the fuzzer: replays inputs (`sidecar-fuzz TARGET FILE...`), e.g. the seed corpus
    /// or a crash the fuzzer found, through the same target.
    @main
    struct Replay {
        static func main() {
            let args = CommandLine.arguments.dropFirst()
            guard let name = args.first, let target = Targets.all[name] else {
                print("usage: sidecar-fuzz \(Targets.all.keys.sorted().joined(separator: "|")) FILE...")
                exit(2)
            }
            for path in args.dropFirst() {
                guard let f = fopen(path, "rb") else { continue }
                var bytes: [UInt8] = []
                var chunk = [UInt8](repeating: 0, count: 65536)
                while case let n = fread(&chunk, 1, chunk.count, f), n > 0 { bytes += chunk[0..<n] }
                fclose(f)
                target(bytes)
            }
            print("replayed \(args.count - 1) inputs through \(name)")
        }
    }
#endif
