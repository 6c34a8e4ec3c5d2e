import CproCLI

#if canImport(Glibc)
import Glibc
#endif

exit(await CproMain.run())
