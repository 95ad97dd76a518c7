package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/slipway/slipway/internal/pipeline"
	"github.com/slipway/slipway/internal/plan"
)

// referenceJobsJSON is what `slipway jobs --json` prints, made with encoding/json: the
// specification writeJobsJSON must match byte for byte.
func referenceJobsJSON(t *testing.T, p *plan.Plan) []byte {
	t.Helper()
	type job struct {
		Name         string       `json:"name"`
		Stage        string       `json:"stage"`
		When         string       `json:"when"`
		AllowFailure bool         `json:"allow_failure"`
		Needs        []string     `json:"needs"`
		Image        string       `json:"image,omitempty"`
		Environment  string       `json:"environment,omitempty"`
		Reason       *plan.Reason `json:"reason,omitempty"`
	}
	list := []job{}
	for _, j := range p.Jobs {
		jj := job{Name: j.Name, Stage: j.Stage, When: j.When, AllowFailure: j.AllowFailure}
		if j.Needs != nil {
			jj.Needs = []string{}
			for _, n := range j.Needs {
				jj.Needs = append(jj.Needs, n.Job)
			}
		}
		if j.Image != nil {
			jj.Image = j.Image.Name
		}
		if j.Environment != nil {
			jj.Environment = j.Environment.Name
		}
		r := j.Reason
		jj.Reason = &r
		list = append(list, jj)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(list); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestJobsJSONMatchesEncodingJSON(t *testing.T) {
	var every strings.Builder
	for c := range 256 {
		every.WriteByte(byte(c))
	}
	odd := []string{
		"", "plain", every.String(), "quote \" backslash \\ slash /", "<script>&amp;</script>",
		"line\u2028para\u2029", "emoji 🚀 and ünïcode", "bad \xff\xfe utf8 \xc3", "tab\tnl\ncr\r\b\f\x00\x1f\x7f",
	}
	var jobs []*plan.Job
	for i, s := range odd {
		j := &plan.Job{Name: s, Stage: "st" + s, When: "on_success", AllowFailure: i%2 == 0}
		switch i % 4 {
		case 0: // no needs: key
		case 1:
			j.Needs = []plan.Need{}
		default:
			j.Needs = []plan.Need{{Job: s}, {Job: "other"}}
		}
		if i%3 != 0 {
			j.Image = &pipeline.Image{Name: s}
			j.Environment = &pipeline.Environment{Name: s}
		}
		j.Reason = plan.Reason{Clause: "rules[0]", Text: s}
		if i%2 == 1 {
			j.Reason.Where = ".gitlab-ci.yml:1:" + s
			j.Reason.Vars = []string{s, "B"}
			j.Reason.Values = map[string]string{s: s, "B": "b", "A": ""}
			j.Reason.Undefined = []string{s}
		}
		if i == 4 {
			j.Reason.Vars, j.Reason.Values, j.Reason.Undefined = []string{}, map[string]string{}, []string{}
		}
		jobs = append(jobs, j)
	}
	for _, tt := range []struct {
		name string
		p    *plan.Plan
	}{
		{"none", &plan.Plan{}},
		{"one", &plan.Plan{Jobs: jobs[:1]}},
		{"odd strings", &plan.Plan{Jobs: jobs}},
		{"a planned pipeline", planOf(t, sample)},
		{"more than one write", &plan.Plan{Jobs: slices.Repeat(jobs, 400)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want := referenceJobsJSON(t, tt.p)
			var got bytes.Buffer
			if err := writeJobsJSON(&got, tt.p); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("writeJobsJSON:\n%s\nencoding/json:\n%s", got.Bytes(), want)
			}
		})
	}
}

// planOf plans config for a push of main.
func planOf(t *testing.T, config string) *plan.Plan {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, pipeline.DefaultFile), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := pipeline.Load(t.Context(), pipeline.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Compile(cfg, plan.Context{Ref: "main", DefaultBranch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Jobs) == 0 {
		t.Fatal("the plan has no jobs")
	}
	return p
}
