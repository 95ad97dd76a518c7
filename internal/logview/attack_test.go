package logview

import (
	"strings"
	"testing"
)

// attack renders log (in one pass and streamed) and fails t if the HTML holds any of bad
// or anything but the log's own markup.
func attack(t *testing.T, log string, bad ...string) {
	t.Helper()
	r := newRenderer(t, Options{})
	h, _ := r.Render(Start, []byte(log), true)
	s := r.Stream(Start)
	ops := append(s.Append([]byte(log)).Ops, s.End().Ops...)
	for _, got := range []string{string(h), assemble(nil, ops)} {
		checkSafe(t, got)
		for _, b := range bad {
			if strings.Contains(strings.ToLower(got), b) {
				t.Fatalf("output holds %q:\n%s", b, got)
			}
		}
	}
}

func TestAttackScriptInLog(t *testing.T) {
	attack(t, "<script>alert(1)</script>\n\x1b[31m<script>alert(2)</script>\x1b[0m\n", "<script")
}

func TestAttackAttributeBreakout(t *testing.T) {
	attack(t, "\" onerror=alert(1) x=\"\n' onmouseover='alert(1)\n\x1b[1m\" onerror=alert(1)\x1b[0m\n", `" onerror`, `' onmouseover`)
}

func TestAttackOSC8JavascriptLink(t *testing.T) {
	attack(t, "\x1b]8;;javascript:alert(1)\x1b\\click\x1b]8;;\x1b\\\n"+
		"\x1b]8;;JaVaScRiPt:alert(1)\x07click\x1b]8;;\x07\n"+
		"\x1b]8;;https://evil.example/\x1b\\phish\x1b]8;;\x1b\\\n", "javascript:", "evil.example", "<a href=\"j", "<a href=\"h")
}

func TestAttackTerminalImageAndLinkEscapes(t *testing.T) {
	attack(t, "\x1b]1338;url=https://evil.example/x.png;alt=x\x07\n"+
		"\x1b]1337;File=name=eC5zdmc=;inline=1:PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+\x07\n"+
		"\x1b]1339;url=javascript:alert(1);content=click\x07\n"+
		"\x1b_bk;t=123\x07timestamped\n", "<img", "evil.example", "javascript:", "data:", "<time datetime")
}

func TestAttackSectionMarkerInjection(t *testing.T) {
	attack(t, "\x1b[0Ksection_start:1:x\"onmouseover=alert(1)\r\x1b[0K<b onmouseover=alert(1)>h</b>\n"+
		"\x1b[0Ksection_start:1:ok[collapsed=true\"><script>]\r\x1b[0Kh\n", "<b", "<script", `"onmouseover`)
}
