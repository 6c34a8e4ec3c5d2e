import CproCLI

#if canImport(Glibc)
import Glibc
#endif

// The warm answer first: it hands nothing on and needs nothing recorded.
if let code = CproMain.fast() { exit(code) }
// Before the full path opens anything: which descriptors came from outside
// (cpro exec hands only those on; the agent closes them).
CproMain.prepare()
exit(await CproMain.run())
