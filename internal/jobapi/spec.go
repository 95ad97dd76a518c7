package jobapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/slipway/slipway/internal/pipeline"
	"github.com/slipway/slipway/internal/plan"
)

// Spec is one job as the server stores it and sends it to a runner: what the scheduler
// orders it by and what the runner runs. It is a wire and stored format of its own (see the
// package doc for its versions); NewSpec and Spec.Plan convert from and to plan.Job.
type Spec struct {
	// Version is the version of this format (the protocol's numbers).
	Version    int    `json:"version"`
	Name       string `json:"name"`
	Stage      string `json:"stage"`
	StageIndex int    `json:"stage_index"`
	// When is on_success, on_failure, always, manual or delayed; StartInSeconds is a delayed
	// job's wait.
	When           string  `json:"when"`
	StartInSeconds float64 `json:"start_in_seconds,omitempty"`
	// AllowFailure makes a failure a warning; AllowFailureExitCodes, when set, only for
	// those exit codes.
	AllowFailure          bool  `json:"allow_failure,omitempty"`
	AllowFailureExitCodes []int `json:"allow_failure_exit_codes,omitempty"`
	// Needs is null when the job has no needs: (it waits for earlier stages), and [] for
	// needs: [] (it starts at once).
	Needs []Need `json:"needs"`
	// Dependencies is null for all earlier-stage jobs' artifacts, [] for none.
	Dependencies []string  `json:"dependencies"`
	Image        *Image    `json:"image,omitempty"`
	Services     []Service `json:"services,omitempty"`
	BeforeScript []string  `json:"before_script,omitempty"`
	Script       []string  `json:"script,omitempty"`
	AfterScript  []string  `json:"after_script,omitempty"`
	Variables    []Var     `json:"variables,omitempty"`
	Retry        Retry     `json:"retry,omitzero"`
	// TimeoutSeconds is the job's timeout; zero means the runner's default.
	TimeoutSeconds float64      `json:"timeout_seconds,omitempty"`
	Interruptible  bool         `json:"interruptible,omitempty"`
	ResourceGroup  string       `json:"resource_group,omitempty"`
	Environment    *Environment `json:"environment,omitempty"`
	// Coverage is the coverage regexp, /…/.
	Coverage  string     `json:"coverage,omitempty"`
	Artifacts *Artifacts `json:"artifacts,omitempty"`
	Cache     []Cache    `json:"cache,omitempty"`
	// Reason says why the job is in its pipeline, for people (the job page). The server
	// stores it with the spec and does not send it to runners; it changes nothing of how the
	// job runs. Absent from specs stored before it was kept.
	Reason *Reason `json:"reason,omitempty"`
}

// Reason is a planned job's plan.Reason as it is stored: the clause that put the job in its
// pipeline, where it is written and the variables it read, with the values that may be kept.
type Reason struct {
	Clause string `json:"clause"`
	Text   string `json:"text,omitempty"`
	// Where is "file:line:col".
	Where string      `json:"where,omitempty"`
	Vars  []ReasonVar `json:"vars,omitempty"`
}

// ReasonVar is a variable a clause read. Hidden says its value was not kept (Value is then
// empty); Defined is false for a variable that was not set.
type ReasonVar struct {
	Name    string `json:"name"`
	Value   string `json:"value,omitempty"`
	Defined bool   `json:"defined,omitempty"`
	Hidden  bool   `json:"hidden,omitempty"`
}

// NewReason is the Reason to store of a planned job; hide reports whether the value of a
// variable must not be kept (it is then stored as hidden, without its value).
func NewReason(r plan.Reason, hide func(name, value string) bool) *Reason {
	out := &Reason{Clause: r.Clause, Text: r.Text, Where: r.Where}
	for _, n := range r.Vars {
		v, ok := r.Values[n]
		rv := ReasonVar{Name: n, Defined: ok}
		if ok {
			if hide(n, v) {
				rv.Hidden = true
			} else {
				rv.Value = v
			}
		}
		out.Vars = append(out.Vars, rv)
	}
	return out
}

// Plan is r as a plan.Reason, and the names of the variables whose values are hidden.
func (r *Reason) Plan() (plan.Reason, map[string]bool) {
	out := plan.Reason{Clause: r.Clause, Text: r.Text, Where: r.Where}
	hidden := map[string]bool{}
	for _, v := range r.Vars {
		out.Vars = append(out.Vars, v.Name)
		if !v.Defined {
			out.Undefined = append(out.Undefined, v.Name)
			continue
		}
		if out.Values == nil {
			out.Values = map[string]string{}
		}
		out.Values[v.Name] = v.Value
		if v.Hidden {
			hidden[v.Name] = true
		}
	}
	return out, hidden
}

// DecodeReason reads the Reason stored with a job's spec: nil when it has none (a spec of
// version 0, or stored before reasons were kept).
func DecodeReason(b []byte) (*Reason, error) {
	var s struct {
		Version int             `json:"version"`
		Reason  json.RawMessage `json:"reason"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decode job reason: %w", err)
	}
	if s.Version < 1 || len(s.Reason) == 0 || string(s.Reason) == "null" {
		return nil, nil // version 0 is plan.Job's JSON, whose reason kept every value
	}
	var r Reason
	if err := json.Unmarshal(s.Reason, &r); err != nil {
		return nil, fmt.Errorf("decode job reason: %w", err)
	}
	return &r, nil
}

// Need is a job the job waits for.
type Need struct {
	Job       string `json:"job"`
	Artifacts bool   `json:"artifacts,omitempty"`
	Optional  bool   `json:"optional,omitempty"`
}

// Var is a variable of a job (and of reports:dotenv).
type Var struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	// File makes the runner write Value to a file and set the variable to its path.
	File bool `json:"file,omitempty"`
	// Raw disables expansion of $X inside Value.
	Raw bool `json:"raw,omitempty"`
	// Masked values are hidden in logs.
	Masked bool `json:"masked,omitempty"`
	// Public is false for secrets and values users gave.
	Public bool `json:"public,omitempty"`
}

// Image is image: (or a service's image).
type Image struct {
	Name       string   `json:"name"`
	Entrypoint []string `json:"entrypoint,omitempty"`
	PullPolicy []string `json:"pull_policy,omitempty"`
	User       string   `json:"user,omitempty"`
	Platform   string   `json:"platform,omitempty"`
}

// Service is one entry of services:.
type Service struct {
	Image
	Alias   string   `json:"alias,omitempty"`
	Command []string `json:"command,omitempty"`
	// Variables are the service's own; of a Var only key, value and raw apply.
	Variables []Var `json:"variables,omitempty"`
}

// Retry is retry:.
type Retry struct {
	Max       int      `json:"max,omitempty"`
	When      []string `json:"when,omitempty"`
	ExitCodes []int    `json:"exit_codes,omitempty"`
}

// Environment is environment:.
type Environment struct {
	Name           string `json:"name"`
	URL            string `json:"url,omitempty"`
	Action         string `json:"action,omitempty"`
	OnStop         string `json:"on_stop,omitempty"`
	AutoStopIn     string `json:"auto_stop_in,omitempty"`
	DeploymentTier string `json:"deployment_tier,omitempty"`
}

// Artifacts is artifacts:.
type Artifacts struct {
	Name      string              `json:"name,omitempty"`
	Paths     []string            `json:"paths,omitempty"`
	Exclude   []string            `json:"exclude,omitempty"`
	Untracked bool                `json:"untracked,omitempty"`
	When      string              `json:"when,omitempty"`
	ExpireIn  string              `json:"expire_in,omitempty"`
	ExposeAs  string              `json:"expose_as,omitempty"`
	Public    *bool               `json:"public,omitempty"`
	Reports   map[string][]string `json:"reports,omitempty"`
}

// Cache is one entry of cache:.
type Cache struct {
	Key          string   `json:"key,omitempty"`
	KeyFiles     []string `json:"key_files,omitempty"`
	KeyPrefix    string   `json:"key_prefix,omitempty"`
	Paths        []string `json:"paths,omitempty"`
	Untracked    bool     `json:"untracked,omitempty"`
	Unprotect    bool     `json:"unprotect,omitempty"`
	Policy       string   `json:"policy,omitempty"`
	When         string   `json:"when,omitempty"`
	FallbackKeys []string `json:"fallback_keys,omitempty"`
}

// NewSpec is the Spec of a planned job, in this program's Version.
func NewSpec(p *plan.Job) *Spec {
	s := &Spec{
		Version: Version, Name: p.Name, Stage: p.Stage, StageIndex: p.StageIndex,
		When: p.When, StartInSeconds: Seconds(p.StartIn),
		AllowFailure: p.AllowFailure, AllowFailureExitCodes: p.ExitCodes,
		Dependencies: p.Dependencies, Image: image(p.Image),
		BeforeScript: p.BeforeScript, Script: p.Script, AfterScript: p.AfterScript,
		Variables:      Vars(p.Variables),
		Retry:          Retry{Max: p.Retry.Max, When: p.Retry.When, ExitCodes: p.Retry.ExitCodes},
		TimeoutSeconds: Seconds(p.Timeout), Interruptible: p.Interruptible,
		ResourceGroup: p.ResourceGroup, Coverage: p.Coverage,
	}
	if p.Needs != nil {
		s.Needs = make([]Need, len(p.Needs))
		for i, n := range p.Needs {
			s.Needs[i] = Need(n)
		}
	}
	for _, sv := range p.Services {
		w := Service{Image: *image(&sv.Image), Alias: sv.Alias, Command: sv.Command}
		w.Entrypoint = sv.Entrypoint
		for _, v := range sv.Variables {
			w.Variables = append(w.Variables, Var{Key: v.Key, Value: v.Value, Raw: v.Raw})
		}
		s.Services = append(s.Services, w)
	}
	if e := p.Environment; e != nil {
		s.Environment = &Environment{Name: e.Name, URL: e.URL, Action: e.Action, OnStop: e.OnStop,
			AutoStopIn: e.AutoStopIn, DeploymentTier: e.DeploymentTier}
	}
	if a := p.Artifacts; a != nil {
		s.Artifacts = &Artifacts{Name: a.Name, Paths: a.Paths, Exclude: a.Exclude, Untracked: a.Untracked,
			When: a.When, ExpireIn: a.ExpireIn, ExposeAs: a.ExposeAs, Public: a.Public, Reports: a.Reports}
	}
	for _, c := range p.Cache {
		s.Cache = append(s.Cache, Cache(c))
	}
	return s
}

func image(i *pipeline.Image) *Image {
	if i == nil {
		return nil
	}
	return &Image{Name: i.Name, Entrypoint: i.Entrypoint, PullPolicy: i.PullPolicy, User: i.User, Platform: i.Platform}
}

// Plan is the planned job s describes, for the scheduler and the runner. It fails on
// values no planned job has (a negative or huge duration).
func (s *Spec) Plan() (*plan.Job, error) {
	start, err := Duration(s.StartInSeconds)
	if err != nil {
		return nil, fmt.Errorf("start_in_seconds: %w", err)
	}
	timeout, err := Duration(s.TimeoutSeconds)
	if err != nil {
		return nil, fmt.Errorf("timeout_seconds: %w", err)
	}
	p := &plan.Job{
		Name: s.Name, Stage: s.Stage, StageIndex: s.StageIndex, When: s.When, StartIn: start,
		AllowFailure: s.AllowFailure, ExitCodes: s.AllowFailureExitCodes,
		Dependencies: s.Dependencies, BeforeScript: s.BeforeScript, Script: s.Script,
		AfterScript: s.AfterScript, Variables: PlanVars(s.Variables),
		Retry:   pipeline.Retry{Max: s.Retry.Max, When: s.Retry.When, ExitCodes: s.Retry.ExitCodes},
		Timeout: timeout, Interruptible: s.Interruptible, ResourceGroup: s.ResourceGroup,
		Coverage: s.Coverage,
	}
	if s.Needs != nil {
		p.Needs = make([]plan.Need, len(s.Needs))
		for i, n := range s.Needs {
			p.Needs[i] = plan.Need(n)
		}
	}
	if s.Image != nil {
		p.Image = s.Image.plan()
	}
	for _, w := range s.Services {
		sv := pipeline.Service{Image: *w.Image.plan(), Alias: w.Alias, Command: w.Command, Entrypoint: w.Entrypoint}
		for _, v := range w.Variables {
			sv.Variables = append(sv.Variables, pipeline.VarDef{Key: v.Key, Value: v.Value, Raw: v.Raw})
		}
		p.Services = append(p.Services, sv)
	}
	if e := s.Environment; e != nil {
		p.Environment = &pipeline.Environment{Name: e.Name, URL: e.URL, Action: e.Action, OnStop: e.OnStop,
			AutoStopIn: e.AutoStopIn, DeploymentTier: e.DeploymentTier}
	}
	if a := s.Artifacts; a != nil {
		p.Artifacts = &pipeline.Artifacts{Name: a.Name, Paths: a.Paths, Exclude: a.Exclude, Untracked: a.Untracked,
			When: a.When, ExpireIn: a.ExpireIn, ExposeAs: a.ExposeAs, Public: a.Public, Reports: a.Reports}
	}
	for _, c := range s.Cache {
		p.Cache = append(p.Cache, pipeline.Cache(c))
	}
	return p, nil
}

func (i Image) plan() *pipeline.Image {
	return &pipeline.Image{Name: i.Name, Entrypoint: i.Entrypoint, PullPolicy: i.PullPolicy, User: i.User, Platform: i.Platform}
}

// Vars are plan variables as they go on the wire.
func Vars(vs []plan.Var) []Var {
	if vs == nil {
		return nil
	}
	out := make([]Var, len(vs))
	for i, v := range vs {
		out[i] = Var(v)
	}
	return out
}

// PlanVars are wire variables as package plan has them.
func PlanVars(vs []Var) []plan.Var {
	if vs == nil {
		return nil
	}
	out := make([]plan.Var, len(vs))
	for i, v := range vs {
		out[i] = plan.Var(v)
	}
	return out
}

// DecodeSpec reads a Spec as the server stores it or sends it, of any version from 0 (a
// stored plan.Job of before versions) up to Version, and returns the planned job. Fields it
// does not know are skipped; a version above Version is ErrVersion.
func DecodeSpec(b []byte) (*plan.Job, error) {
	if t := bytes.TrimSpace(b); len(t) == 0 || t[0] != '{' {
		return nil, errors.New("decode job spec: not a JSON object")
	}
	var head struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("decode job spec: %w", err)
	}
	switch v := head.Version; {
	case v == nil:
		return decodeV0(b)
	case *v < 1 || *v > Version:
		return nil, fmt.Errorf("decode job spec: %w: version %d (this program reads 0 to %d)", ErrVersion, *v, Version)
	}
	var s Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decode job spec: %w", err)
	}
	p, err := s.Plan()
	if err != nil {
		return nil, fmt.Errorf("decode job spec: %w", err)
	}
	return p, nil
}
