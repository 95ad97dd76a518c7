package pipeline

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// at walks n along path: mapping keys, or list indexes for sequences. It returns nil when a
// step is missing.
func at(n *Node, path ...string) *Node {
	for _, k := range path {
		if n == nil {
			return nil
		}
		if n.Kind == Seq {
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(n.Items) {
				return nil
			}
			n = n.Items[i]
			continue
		}
		n = n.Get(k)
	}
	return n
}

// render prints n as YAML, for comparisons that keep key order.
func render(t *testing.T, n *Node) string {
	t.Helper()
	b, err := n.YAML()
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// lines joins YAML lines, so expected documents read as YAML in the tables.
func lines(ls ...string) string { return strings.Join(ls, "\n") }

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		// path selects the node to compare (empty: the first document).
		path []string
		want string
		// warnings are the expected warning texts, in order.
		warnings []string
		skip     string
	}{
		{
			name: "plain mapping keeps key order",
			src:  "stages: [build, test]\nbuild:\n  stage: build\n  script: make\n",
			want: lines("stages:", "    - build", "    - test", "build:", "    stage: build", "    script: make"),
		},
		{
			name: "alias of a sequence",
			src:  ".cmds: &cmds\n  - make\n  - make test\njob:\n  script: *cmds\n",
			path: []string{"job", "script"},
			want: lines("- make", "- make test"),
		},
		{
			name: "alias of a scalar",
			src:  "variables:\n  IMAGE: &img golang:1.26\njob:\n  image: *img\n  script: go test\n",
			path: []string{"job", "image"},
			want: "golang:1.26",
		},
		{
			name: "alias nested in a script list stays nested until decoding",
			src:  ".setup: &setup\n  - apt-get update\n  - apt-get install -y make\njob:\n  script:\n    - *setup\n    - make\n",
			path: []string{"job", "script"},
			want: lines("- - apt-get update", "  - apt-get install -y make", "- make"),
		},
		{
			name: "merge key copies a mapping",
			src: lines(
				".defaults: &defaults",
				"  image: ruby:3.3",
				"  tags: [docker]",
				"rspec:",
				"  <<: *defaults",
				"  script: rspec",
			),
			path: []string{"rspec"},
			want: lines("image: ruby:3.3", "tags:", "    - docker", "script: rspec"),
		},
		{
			name: "explicit key after merge wins",
			src: lines(
				".defaults: &defaults",
				"  image: ruby:3.3",
				"  stage: build",
				"rspec:",
				"  <<: *defaults",
				"  stage: test",
				"  script: rspec",
			),
			path: []string{"rspec"},
			want: lines("image: ruby:3.3", "stage: test", "script: rspec"),
		},
		{
			// GitLab loads YAML with Psych, whose merge (Visitors::ToRuby#revive_hash) does
			// hash.merge! at the position of `<<`: a merged key overrides an explicit key
			// written before the `<<` (the YAML 1.1 merge spec says explicit keys always win).
			name: "merge after an explicit key overrides it, as Psych does",
			src: lines(
				".defaults: &defaults",
				"  image: ruby:3.3",
				"  stage: build",
				"rspec:",
				"  stage: test",
				"  <<: *defaults",
				"  script: rspec",
			),
			path: []string{"rspec"},
			want: lines("stage: build", "image: ruby:3.3", "script: rspec"),
		},
		{
			name: "merge of a list: the first mapping wins",
			src: lines(
				".a: &a",
				"  image: alpine",
				"  stage: build",
				".b: &b",
				"  image: debian",
				"  tags: [linux]",
				"job:",
				"  <<: [*a, *b]",
				"  script: make",
			),
			path: []string{"job"},
			want: lines("image: alpine", "stage: build", "tags:", "    - linux", "script: make"),
		},
		{
			name: "merge of a list with explicit keys after it",
			src: lines(
				".a: &a {image: alpine, stage: build}",
				".b: &b {image: debian, when: manual}",
				"job:",
				"  <<: [*a, *b]",
				"  when: always",
				"  stage: deploy",
				"  script: make",
			),
			path: []string{"job"},
			want: lines("image: alpine", "stage: deploy", "when: always", "script: make"),
		},
		{
			name: "merge is shallow: a nested mapping is replaced, not merged",
			src: lines(
				".v: &v",
				"  variables: {A: a, B: b}",
				"job:",
				"  <<: *v",
				"  variables: {B: bb}",
				"  script: env",
			),
			path: []string{"job", "variables"},
			want: "B: bb",
		},
		{
			name: "merge of a mapping that itself merges",
			src: lines(
				".base: &base {image: alpine, retry: 1}",
				".mid: &mid",
				"  <<: *base",
				"  retry: 2",
				"job:",
				"  <<: *mid",
				"  script: make",
			),
			path: []string{"job"},
			want: lines("image: alpine", "retry: 2", "script: make"),
		},
		{
			name: "anchored mapping merged into several jobs",
			src: lines(
				".t: &t {stage: test, image: node:22}",
				"lint: {<<: *t, script: npm run lint}",
				"unit: {<<: *t, script: npm test, image: node:20}",
			),
			path: []string{"unit"},
			want: lines("stage: test", "image: node:20", "script: npm test"),
		},
		{
			name: "quoted << is an ordinary key",
			src:  "job:\n  \"<<\": {a: b}\n  script: x\n",
			path: []string{"job"},
			want: lines("\"<<\":", "    a: b", "script: x"),
		},
		{
			name:     "duplicate key: the last wins with a warning",
			src:      "job:\n  script: one\n  stage: test\n  script: two\n",
			path:     []string{"job"},
			want:     lines("script: two", "stage: test"),
			warnings: []string{`f.yml:4:3: duplicate key "script" (first at line 2): the last value wins`},
		},
		{
			name:     "duplicate top-level job",
			src:      "build:\n  script: a\ntest:\n  script: b\nbuild:\n  script: c\n",
			want:     lines("build:", "    script: c", "test:", "    script: b"),
			warnings: []string{`f.yml:5:1: duplicate key "build" (first at line 1): the last value wins`},
		},
		{
			name: "a merged key is not a duplicate",
			src:  ".a: &a {stage: build}\njob:\n  <<: *a\n  stage: test\n  script: x\n",
			path: []string{"job", "stage"},
			want: "test",
		},
		{
			name: "!reference tag is kept",
			src:  ".setup:\n  script: [a, b]\njob:\n  script:\n    - !reference [.setup, script]\n    - c\n",
			path: []string{"job", "script"},
			want: lines("- !reference [.setup, script]", "- c"),
		},
		{
			// Values are printed as GitLab reads them (YAML 1.1): yes is true, 0x1F is 31.
			name: "scalar tags",
			src:  "a: true\nb: 3\nc: 1.5\nd: null\ne: ~\nf: \"3\"\ng: yes\nh: 0x1F\ni: .inf\n",
			want: lines("a: true", "b: 3", "c: 1.5", "d: null", "e: null", "f: \"3\"", "g: true", "h: 31", "i: .inf"),
		},
		{
			name: "block scalars",
			src:  "job:\n  script:\n    - |\n      echo one\n      echo two\n    - >\n      folded\n      line\n",
			path: []string{"job", "script"},
			want: lines("- |", "  echo one", "  echo two", "- |", "  folded line"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.skip != "" {
				t.Skip(tt.skip)
			}
			docs, warnings, err := Parse("f.yml", []byte(tt.src))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(docs) != 1 {
				t.Fatalf("got %d documents, want 1", len(docs))
			}
			n := at(docs[0], tt.path...)
			if n == nil {
				t.Fatalf("no node at %v", tt.path)
			}
			if got := render(t, n); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
			var gotW []string
			for _, w := range warnings {
				gotW = append(gotW, w.Error())
			}
			if strings.Join(gotW, "\n") != strings.Join(tt.warnings, "\n") {
				t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(gotW, "\n"), strings.Join(tt.warnings, "\n"))
			}
		})
	}
}

func TestParseTags(t *testing.T) {
	t.Parallel()
	src := "a: true\nb: 3\nc: 1.5\nd: null\ne: ~\nf: \"3\"\ng: text\nh: !reference [x, y]\ni:\n"
	docs, _, err := Parse("f.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		key  string
		kind Kind
		tag  string
		typ  string
	}{
		{name: "bool", key: "a", kind: Scalar, tag: TagBool, typ: "boolean"},
		{name: "int", key: "b", kind: Scalar, tag: TagInt, typ: "integer"},
		{name: "float", key: "c", kind: Scalar, tag: TagFloat, typ: "float"},
		{name: "null word", key: "d", kind: Null, tag: TagNull, typ: "null"},
		{name: "tilde", key: "e", kind: Null, tag: TagNull, typ: "null"},
		{name: "quoted number", key: "f", kind: Scalar, tag: TagStr, typ: "string"},
		{name: "string", key: "g", kind: Scalar, tag: TagStr, typ: "string"},
		{name: "reference", key: "h", kind: Seq, tag: TagReference, typ: "array"},
		{name: "empty value", key: "i", kind: Null, tag: TagNull, typ: "null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := docs[0].Get(tt.key)
			if n == nil {
				t.Fatalf("no key %q", tt.key)
			}
			if n.Kind != tt.kind || n.Tag != tt.tag || n.TypeName() != tt.typ {
				t.Errorf("kind %v tag %q type %q, want %v %q %q", n.Kind, n.Tag, n.TypeName(), tt.kind, tt.tag, tt.typ)
			}
		})
	}
}

func TestParsePositions(t *testing.T) {
	t.Parallel()
	src := lines(
		"# a comment",
		"stages: [build, test]", // 2
		"",
		".tmpl: &tmpl", // 4
		"  image: alpine:3.20",
		"  tags: [docker]",
		"",
		"build:", // 8
		"  <<: *tmpl",
		"  stage: build",
		"  script:",
		"    - make", // 12
		"    - !reference [.tmpl, image]",
		"  variables: {GOFLAGS: -mod=mod, CGO_ENABLED: \"0\"}", // 14
		"test:",
		"    script: |", // 16
		"      go test ./...",
		"",
	)
	docs, _, err := Parse("ci/main.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	root := docs[0]
	tests := []struct {
		name string
		// path selects a node; a last element prefixed with "key:" selects that key's
		// position instead of its value's.
		path []string
		want string
	}{
		{name: "root mapping", path: nil, want: "ci/main.yml:2:1"},
		{name: "stages key", path: []string{"key:stages"}, want: "ci/main.yml:2:1"},
		{name: "flow sequence", path: []string{"stages"}, want: "ci/main.yml:2:9"},
		{name: "flow item", path: []string{"stages", "1"}, want: "ci/main.yml:2:17"},
		{name: "anchored mapping starts at its anchor", path: []string{".tmpl"}, want: "ci/main.yml:4:8"},
		{name: "job key", path: []string{"key:build"}, want: "ci/main.yml:8:1"},
		{name: "job mapping", path: []string{"build"}, want: "ci/main.yml:9:3"},
		{name: "merged key keeps the anchor's position", path: []string{"build", "key:image"}, want: "ci/main.yml:5:3"},
		{name: "merged value keeps the anchor's position", path: []string{"build", "image"}, want: "ci/main.yml:5:10"},
		{name: "explicit key", path: []string{"build", "key:stage"}, want: "ci/main.yml:10:3"},
		{name: "script item", path: []string{"build", "script", "0"}, want: "ci/main.yml:12:7"},
		{name: "reference tag", path: []string{"build", "script", "1"}, want: "ci/main.yml:13:7"},
		{name: "reference element", path: []string{"build", "script", "1", "1"}, want: "ci/main.yml:13:26"},
		{name: "flow mapping value", path: []string{"build", "variables", "CGO_ENABLED"}, want: "ci/main.yml:14:47"},
		{name: "flow mapping key", path: []string{"build", "variables", "key:CGO_ENABLED"}, want: "ci/main.yml:14:34"},
		{name: "deeper indentation", path: []string{"test", "key:script"}, want: "ci/main.yml:16:5"},
		{name: "block scalar", path: []string{"test", "script"}, want: "ci/main.yml:16:13"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := tt.path
			var pos Pos
			if l := len(path); l > 0 && strings.HasPrefix(path[l-1], "key:") {
				parent := at(root, path[:l-1]...)
				key := strings.TrimPrefix(path[l-1], "key:")
				if !parent.Has(key) {
					t.Fatalf("no key %q", key)
				}
				pos = parent.KeyPos(key)
			} else {
				n := at(root, path...)
				if n == nil {
					t.Fatalf("no node at %v", path)
				}
				pos = n.Pos
			}
			if got := pos.String(); got != tt.want {
				t.Errorf("position %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParseDocumentCount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want int
	}{
		{name: "empty file", src: "", want: 0},
		{name: "only a comment", src: "# nothing here\n", want: 0},
		{name: "explicit empty document", src: "---\n", want: 1},
		{name: "one document", src: "job: {script: x}\n", want: 1},
		{name: "header and content", src: "spec: {}\n---\njob: {script: x}\n", want: 2},
		{name: "three documents", src: "a: 1\n---\nb: 2\n---\nc: 3\n", want: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			docs, _, err := Parse("f.yml", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			if len(docs) != tt.want {
				t.Errorf("got %d documents, want %d", len(docs), tt.want)
			}
		})
	}
}

// An alias is not copied: every use shares the anchored node. A "billion laughs" document whose
// expansion passes maxNodes is refused, as GitLab refuses YAML that is too big once parsed.
func TestParseAliasesShareNodes(t *testing.T) {
	t.Parallel()
	levels := []string{
		"a: &a [x, x, x, x, x, x, x, x, x, x]",
		"b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]",
		"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]",
		"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]",
		"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]",
		"f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]",
		"g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]",
	}
	docs, _, err := Parse("f.yml", []byte(lines(append(levels[:5:5], "")...)))
	if err != nil {
		t.Fatal(err)
	}
	e := docs[0].Get("e")
	if e.Items[0] != e.Items[9] || e.Items[0] != docs[0].Get("d") {
		t.Error("aliases of one anchor are different nodes")
	}
	_, _, err = Parse("f.yml", []byte(lines(append(levels, "")...)))
	if err == nil || !strings.Contains(err.Error(), "too large once its aliases are expanded") {
		t.Errorf("a ten-million-node expansion: err = %v, want too large", err)
	}
}

func TestParseMultipleDocuments(t *testing.T) {
	t.Parallel()
	src := "spec:\n  inputs:\n    stage: {default: test}\n---\njob:\n  script: x\n"
	docs, _, err := Parse("t.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 {
		t.Fatalf("got %d documents, want 2", len(docs))
	}
	if got := at(docs[0], "spec", "inputs", "stage", "default").Str(); got != "test" {
		t.Errorf("spec default %q, want test", got)
	}
	if got := docs[1].Get("job").Pos.String(); got != "t.yml:6:3" {
		t.Errorf("second document position %s, want t.yml:6:3", got)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		// want is the error's position and a part of its message.
		pos  string
		want string
		skip string
	}{
		{
			name: "tab indentation",
			src:  "job:\n  script:\n\t- make\n",
			pos:  "f.yml:3:1",
			want: "found character that cannot start any token",
		},
		{
			name: "unterminated flow sequence",
			src:  "stages: [build, test\njob:\n  script: x\n",
			pos:  "f.yml:2:4",
			want: "did not find expected ',' or ']'",
		},
		{
			name: "mapping value in a plain scalar",
			src:  "job:\n  script: make\n   stage: test\n",
			pos:  "f.yml:3:9",
			want: "mapping values are not allowed in this context",
		},
		{
			name: "unterminated quoted scalar ends the stream",
			src:  "job:\n  script: 'make\n",
			pos:  "f.yml:3:1",
			want: "found unexpected end of stream",
		},
		{
			name: "unknown anchor",
			src:  "job:\n  script: x\n  image: *img\n",
			pos:  "f.yml:3:10",
			want: "unknown anchor 'img' referenced",
		},
		{
			name: "list where a mapping continues",
			src:  "job:\n  script: x\n- y\n",
			pos:  "f.yml:3:1",
			want: "did not find expected key",
		},
		{
			name: "merge of a scalar",
			src:  ".a: &a 1\njob:\n  <<: *a\n  script: x\n",
			pos:  "f.yml:3:7",
			want: "merge key `<<` needs a mapping or a list of mappings",
		},
		{
			name: "merge of the mapping that holds the merge",
			src:  ".t: &t\n  image: alpine\n  <<: [*t]\n",
			want: "",
		},
		{
			name: "alias of the enclosing mapping",
			src:  ".t: &t\n  image: alpine\n  again: *t\n",
			want: "nested more than 100 levels deep",
		},
		{
			name: "merge of a list holding a scalar",
			src:  ".a: &a {image: x}\njob:\n  <<: [*a, 3]\n  script: x\n",
			pos:  "f.yml:3:12",
			want: "merge key `<<` needs a mapping or a list of mappings",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.skip != "" {
				t.Skip(tt.skip)
			}
			docs, _, err := Parse("f.yml", []byte(tt.src))
			if err == nil {
				t.Fatalf("no error; got %d documents", len(docs))
			}
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error %T %v is not a pipeline.Errors", err, err)
			}
			e := es[0]
			if e.Pos.File != "f.yml" || e.Pos.Line < 1 || e.Pos.Col < 1 {
				t.Errorf("position %+v is incomplete", e.Pos)
			}
			if tt.pos != "" && e.Pos.String() != tt.pos {
				t.Errorf("position %s, want %s (%v)", e.Pos, tt.pos, e)
			}
			if !strings.Contains(e.Msg, tt.want) {
				t.Errorf("message %q does not contain %q", e.Msg, tt.want)
			}
		})
	}
}
