package logview

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func newRenderer(t testing.TB, o Options) *Renderer {
	t.Helper()
	r, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRender renders logs and compares them with testdata/NAME.html (-update rewrites them).
func TestRender(t *testing.T) {
	t.Parallel()
	const (
		start = "\x1b[0Ksection_start:"
		end   = "\x1b[0Ksection_end:"
		cr    = "\r\x1b[0K"
	)
	tests := []struct {
		name string
		log  string
		// want are fragments the output must have (beside the golden).
		want []string
	}{
		{name: "colours16", log: "\x1b[31mred\x1b[0m \x1b[42;97mwhite on green\x1b[0m \x1b[91mbright\x1b[0m\n",
			want: []string{`<span class="term-fg31">red</span>`, `term-bg42`, `term-fgi97`, `term-fgi91`}},
		{name: "colours256", log: "\x1b[38;5;208morange\x1b[0m \x1b[48;5;22mbg\x1b[0m \x1b[38:5:99mcolon\x1b[0m\n",
			want: []string{`term-fgx208`, `term-bgx22`, `term-fgx99`}},
		{name: "truecolor", log: "\x1b[38;2;255;0;0mred\x1b[0m \x1b[48;2;0;0;255mblue\x1b[0m \x1b[38:2::128:128:128mgrey\x1b[0m \x1b[38;5;2;38;2;0;255;0mboth\x1b[0m\n",
			want: []string{`term-fgx196`, `term-bgx21`, `term-fgx244`, `term-fgx46`}},
		{name: "styles", log: "\x1b[1mbold\x1b[0m \x1b[3mitalic\x1b[0m \x1b[4munderline\x1b[0m \x1b[1;3;4mall\x1b[0m\n",
			want: []string{`<span class="term-fg1">bold</span>`, `<span class="term-fg3">italic</span>`, `<span class="term-fg4">underline</span>`, `term-fg1 term-fg3 term-fg4`}},
		{name: "carriage_return", log: "Downloading  10%\rDownloading  55%\rDownloading 100%\ndone\r\nabcdef\rXY\n",
			want: []string{`>Downloading 100%<`, `>done<`, `>XYcdef<`}},
		{name: "section", log: start + "1560896352:build" + cr + "\x1b[36;1mBuilding\x1b[0;m\nmake\n" + end + "1560896355:build" + cr + "\nafter\n",
			want: []string{`<details class="lv-sec" data-name="build" open><summary class="lv-l" id="L1">`, `<span class="lv-dur">00:03</span>`, `id="L2"`, `</details><div class="lv-l" id="L4">`}},
		{name: "collapsed", log: start + "1560896352:deps[collapsed=true]" + cr + "Installing\npip install\n" + end + "1560900000:deps" + cr + "\n",
			want: []string{`<details class="lv-sec" data-name="deps"><summary`, `<span class="lv-dur">01:00:48</span>`}},
		{name: "hide_duration", log: start + "1:quiet[collapsed=true,hide_duration=true]" + cr + "Quiet\n" + end + "9:quiet" + cr + "\n",
			want: []string{`<details class="lv-sec" data-name="quiet"><summary`}},
		{name: "nested", log: start + "100:outer" + cr + "Outer\n" + start + "101:inner[collapsed=true]" + cr + "Inner\nwork\n" + end + "105:inner" + cr + "\nmore\n" + end + "110:outer" + cr + "\n",
			want: []string{`data-name="outer" open`, `data-name="inner"><summary`, `<span class="lv-dur">00:04</span></summary><div class="lv-l" id="L3">`, `00:10`}},
		// GitLab Runner ends one section and starts the next on the same line.
		{name: "end_and_start_on_a_line", log: start + "1:a" + cr + "A\nx\n" + end + "2:a" + cr + start + "2:b" + cr + "B\ny\n" + end + "5:b" + cr + "\n",
			want: []string{`<span class="lv-dur">00:01</span></summary><div class="lv-l" id="L2"><a class="lv-n" href="#L2">2</a><span class="lv-c">x</span></div></details><details class="lv-sec" data-name="b" open><summary class="lv-l" id="L3">`}},
		{name: "end_closes_inner", log: start + "1:outer" + cr + "O\n" + start + "2:inner" + cr + "I\n" + end + "4:outer" + cr + "\nafter\n",
			want: []string{`</details></details><div class="lv-l" id="L4">`}},
		{name: "unterminated", log: start + "1:job" + cr + "Job\n" + start + "2:step" + cr + "Step\nrunning\n",
			want: []string{`<details class="lv-sec lv-run" data-name="job" open>`, `<details class="lv-sec lv-run" data-name="step" open>`, `<span class="lv-dur"></span>`}},
		{name: "unknown_end", log: "text\n" + end + "5:nothing" + cr + "\nmore\n",
			want: []string{`id="L1"`, `id="L3"`}},
		{name: "empty_header", log: start + "7:named" + cr + "\nbody\n",
			want: []string{`<span class="lv-c">named</span>`}},
		{name: "malformed_marker", log: "section_start:x:y\nsection_start:1:\n",
			want: []string{`section_start:x:y`, `section_start:1:`}},
		{name: "hostile", log: "<script>alert(1)</script>\n\" onerror=alert(1) '\n\x1b[31m<img src=x onerror=alert(1)>\x1b[0m\n" + start + "1:x<y" + cr + "<b>head</b>\n",
			want: []string{`&lt;script&gt;alert(1)&lt;/script&gt;`, `&#34; onerror=alert(1) &#39;`, `&lt;img src=x onerror=alert(1)&gt;`}},
		{name: "control_characters", log: "a\x00b\x07c\x7fd\x08e\n",
			want: []string{`>abce<`}},
		{name: "invalid_utf8", log: "caf\xe9 ok ✓\n", want: []string{"caf\uFFFD ok ✓"}},
		{name: "unfinished_last_line", log: "one\ntwo", want: []string{`>two<`}},
	}
	r := newRenderer(t, Options{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, st := r.Render(Start, []byte(tc.log), true)
			got := string(h)
			checkSafe(t, got)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("output has no %q:\n%s", w, got)
				}
			}
			if st.Offset != int64(len(tc.log)) {
				t.Errorf("end offset %d, want %d", st.Offset, len(tc.log))
			}
			golden(t, filepath.Join("testdata", tc.name+".html"), strings.ReplaceAll(got, "><", ">\n<"))
		})
	}
}

// golden compares got with the file (rewriting it with -update).
func golden(t *testing.T, file, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (-update rewrites it):\n%s", file, got)
	}
}
