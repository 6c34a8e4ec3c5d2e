import Foundation
import Testing
@testable import CproCore

@Suite(.serialized, .timeLimit(.minutes(10))) struct SecureFilesTests {
    func tempDir() -> String {
        let d = NSTemporaryDirectory() + "cpro-test-" + UUID().uuidString
        return d
    }

    /// Under the test process's umask; OwnedStateTests runs cpro itself
    /// under umask 000 (an umask set here would reach every parallel test).
    @Test func foldersAre0700AndFiles0600() throws {
        let root = tempDir()
        let dir = root + "/a/b"
        try SecureFiles.ensurePrivateDirectory(dir)
        #expect(SecureFiles.mode(of: root) == 0o700)
        #expect(SecureFiles.mode(of: dir) == 0o700)
        try SecureFiles.atomicWrite(dir + "/f", bytes: [1, 2, 3])
        #expect(SecureFiles.mode(of: dir + "/f") == 0o600)
        #expect(try SecureFiles.read(dir + "/f", limit: 10) == [1, 2, 3])
        #expect(try SecureFiles.read(dir + "/missing", limit: 10) == nil)
        #expect(throws: Failure.self) { try SecureFiles.read(dir + "/f", limit: 2) }
    }

    /// A folder cpro did not create keeps its mode: refused with advice, never
    /// chmod-ed (it may be shared on purpose). Failed on the code that tightened it.
    @Test func anExistingLooseFolderIsRefusedNotChanged() throws {
        let dir = tempDir()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let e = try #require(throws: Failure.self) { try SecureFiles.ensurePrivateDirectory(dir) }
        #expect(e.en.contains("mode 755") && e.en.contains("chmod 700 \(dir)"), "\(e.en)")
        #expect(SecureFiles.mode(of: dir) == 0o755)
        chmod(dir, 0o1777)
        let shared = try #require(throws: Failure.self) { try SecureFiles.ensurePrivateDirectory(dir) }
        #expect(!shared.en.contains("chmod") && shared.en.contains("mkdir -m 700 \(dir)/cpro"), "no advice to close a shared folder: \(shared.en)")
        #expect(SecureFiles.mode(of: dir) == 0o1777)
        chmod(dir, 0o700)
        try SecureFiles.ensurePrivateDirectory(dir)
    }

    /// State under a shared folder (sticky, open to all, like /tmp) gets the
    /// advice to make a private folder inside it, never to close the folder.
    @Test func aSharedFolderIsNeverToBeClosed() throws {
        let dir = tempDir()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        chmod(dir, 0o1777)
        let e = try #require(throws: Failure.self) { try SecureFiles.checkOwnership(dir + "/config.toml", roots: [dir]) }
        #expect(e.en.contains("shared with other users") && e.en.contains("mkdir -m 700") && !e.en.contains("chmod"), "\(e.en)")
    }

    /// A symbolic link where cpro's folder goes is refused, not followed.
    @Test func aLinkInPlaceOfTheFolderIsRefused() throws {
        let target = tempDir(), link = tempDir()
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        let e = try #require(throws: Failure.self) { try SecureFiles.ensurePrivateDirectory(link) }
        #expect(e.en.contains("is a symbolic link"), "\(e.en)")
    }

    @Test func atomicWriteLeavesNoTemporaryAndReplacesWhole() throws {
        let dir = tempDir()
        try SecureFiles.ensurePrivateDirectory(dir)
        try SecureFiles.atomicWrite(dir + "/v", bytes: Array(repeating: 1, count: 1000))
        try SecureFiles.atomicWrite(dir + "/v", bytes: [2])
        #expect(try SecureFiles.read(dir + "/v", limit: 2000) == [2])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["v"])
        FileManager.default.createFile(atPath: dir + "/v.tmp-123-ab", contents: Data([9]))
        SecureFiles.removeStaleTemporaries(of: dir + "/v")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["v"])
    }

    @Test func lockIsExclusiveAndTimesOutClearly() throws {
        let dir = tempDir()
        try SecureFiles.ensurePrivateDirectory(dir)
        let first = try SecureFiles.Lock(path: dir + "/l")
        // flock belongs to the open file description: a second open in the same
        // process contends like another process would.
        #expect(throws: Failure.self) { try SecureFiles.Lock(path: dir + "/l", timeout: 0.1) }
        first.release()
        let second = try SecureFiles.Lock(path: dir + "/l", timeout: 0.1)
        second.release()
        #expect(SecureFiles.mode(of: dir + "/l") == 0o600)
    }
}
