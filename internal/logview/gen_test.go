package logview

import (
	"bytes"
	"fmt"
	"math/rand/v2"
)

// genLog writes a log like a CI job's, of about size bytes: sections (some collapsed,
// nested), commands in GitLab Runner's colours, compiler output, colour and 256/24-bit
// colour lines, progress lines rewritten with carriage returns, hostile text, blank lines.
func genLog(rng *rand.Rand, size int) []byte {
	var b bytes.Buffer
	t := int64(1700000000)
	depth := 0
	sec := 0
	for b.Len() < size {
		t += int64(rng.IntN(3))
		switch k := rng.IntN(100); {
		case k < 3 && depth < 3:
			sec++
			opt := ""
			if rng.IntN(3) == 0 {
				opt = "[collapsed=true]"
			}
			fmt.Fprintf(&b, "\x1b[0Ksection_start:%d:sec_%d%s\r\x1b[0K\x1b[36;1mStep %d\x1b[0;m\n", t, sec, opt, sec)
			depth++
		case k < 6 && depth > 0:
			fmt.Fprintf(&b, "\x1b[0Ksection_end:%d:sec_%d\r\x1b[0K\n", t, sec-rng.IntN(depth))
			depth--
		case k < 12:
			fmt.Fprintf(&b, "\x1b[32;1m$ go test ./pkg/%d/...\x1b[0;m\n", rng.IntN(500))
		case k < 15:
			fmt.Fprintf(&b, "\x1b[38;5;%dmwarning\x1b[0m: \x1b[1;4mcheck\x1b[0m \x1b[38;2;%d;%d;%dmrgb\x1b[0m %d\n", rng.IntN(256), rng.IntN(256), rng.IntN(256), rng.IntN(256), k)
		case k < 17:
			for p := 0; p <= 100; p += 20 {
				fmt.Fprintf(&b, "\rDownloading %3d%% [%-20s]", p, bytes.Repeat([]byte("="), p/5))
			}
			b.WriteString("\n")
		case k < 18:
			b.WriteString("<script>alert(1)</script> \" onerror=alert(1) \x1b]8;;javascript:alert(1)\x1b\\x\x1b]8;;\x1b\\ é ✓\n")
		case k < 20:
			b.WriteString("\n")
		default:
			fmt.Fprintf(&b, "ok  \tgithub.com/example/project/internal/pkg%d\t%d.%03ds\tcoverage: %d.%d%% of statements\n", rng.IntN(1000), rng.IntN(10), rng.IntN(1000), rng.IntN(100), rng.IntN(10))
		}
	}
	return b.Bytes()
}
