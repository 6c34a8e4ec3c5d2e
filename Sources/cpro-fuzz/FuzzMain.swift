import Foundation

#if CPRO_LIBFUZZER
/// Built by scripts/prove's full run with -sanitize=fuzzer,address and
/// -DCPRO_LIBFUZZER: libFuzzer brings main, and the target is named by
/// CPRO_FUZZ_TARGET (its options and corpus folders are the arguments).
nonisolated(unsafe) private var chosen: (([UInt8]) -> Void)?

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    if chosen == nil {
        let name = ProcessInfo.processInfo.environment["CPRO_FUZZ_TARGET"] ?? ""
        guard let target = Targets.all[name] else {
            FileHandle.standardError.write(Data("cpro-fuzz: set CPRO_FUZZ_TARGET to one of \(Targets.all.keys.sorted())\n".utf8))
            exit(64)
        }
        chosen = target
    }
    chosen?(size == 0 || data == nil ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
#else
/// cpro-fuzz TARGET [FILE|FOLDER...]
///
/// A normal build replays inputs (the seed corpus and the regressions under
/// Tests/Fuzz) through the target and says how many it ran: scripts/prove
/// uses it.
@main
enum FuzzMain {
    static func main() {
        let args = CommandLine.arguments
        guard args.count >= 2, let target = Targets.all[args[1]] else {
            let names = Targets.all.keys.sorted().joined(separator: ", ")
            FileHandle.standardError.write(Data("usage: cpro-fuzz TARGET [INPUT...]\ntargets: \(names)\n".utf8))
            exit(64)
        }
        var files: [String] = []
        for path in args.dropFirst(2) {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
                FileHandle.standardError.write(Data("cpro-fuzz: \(path) does not exist\n".utf8))
                exit(66)
            }
            if isDir.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                files += names.sorted().map { path + "/" + $0 }
            } else {
                files.append(path)
            }
        }
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                FileHandle.standardError.write(Data("cpro-fuzz: cannot read \(file)\n".utf8))
                exit(66)
            }
            target(Array(data))
        }
        print("cpro-fuzz: \(args[1]): \(files.count) inputs, no crash")
    }
}
#endif
