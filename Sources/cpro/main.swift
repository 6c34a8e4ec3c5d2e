import CproCLI

#if canImport(Glibc)
import Glibc
#endif

// Before anything can start a thread: what the agent blocks, and which
// descriptors came from outside (cpro exec hands only those on).
CproMain.prepare()
if let code = CproMain.fast() { exit(code) }
exit(await CproMain.run())
