import CproCLI

#if canImport(Glibc)
import Glibc
#endif

if let code = CproMain.fast() { exit(code) }
exit(await CproMain.run())
