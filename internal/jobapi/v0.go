package jobapi

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/slipway/slipway/internal/plan"
)

// Version 0 is how servers stored a job before the protocol had versions: plan.Job's JSON,
// whose nested pipeline types had no tags (Go's field names: "Name", "PullPolicy"…) and whose
// durations were nanoseconds. The types below freeze that format, whatever becomes of plan
// and pipeline; only the fields a job runs and is ordered by are read. Version 0 is read,
// never written.

type v0Job struct {
	Name         string        `json:"name"`
	Stage        string        `json:"stage"`
	StageIndex   int           `json:"stage_index"`
	When         string        `json:"when"`
	StartIn      time.Duration `json:"start_in"`
	AllowFailure bool          `json:"allow_failure"`
	ExitCodes    []int         `json:"allow_failure_exit_codes"`
	Needs        []Need        `json:"needs"`
	Dependencies []string      `json:"dependencies"`
	Image        *v0Image      `json:"image"`
	Services     []v0Service   `json:"services"`
	BeforeScript []string      `json:"before_script"`
	Script       []string      `json:"script"`
	AfterScript  []string      `json:"after_script"`
	// Variables had the same names as Var's.
	Variables     []Var          `json:"variables"`
	Retry         v0Retry        `json:"retry"`
	Timeout       time.Duration  `json:"timeout"`
	Interruptible bool           `json:"interruptible"`
	ResourceGroup string         `json:"resource_group"`
	Environment   *v0Environment `json:"environment"`
	Coverage      string         `json:"coverage"`
	Artifacts     *v0Artifacts   `json:"artifacts"`
	Cache         []v0Cache      `json:"cache"`
}

type v0Image struct {
	Name       string   `json:"Name"`
	Entrypoint []string `json:"Entrypoint"`
	PullPolicy []string `json:"PullPolicy"`
	User       string   `json:"User"`
	Platform   string   `json:"Platform"`
}

// v0Service had its image's fields inline, and an Entrypoint of its own (the same value).
type v0Service struct {
	v0Image
	Alias     string     `json:"Alias"`
	Command   []string   `json:"Command"`
	Variables []v0VarDef `json:"Variables"`
}

type v0VarDef struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
	Raw   bool   `json:"Raw"`
}

type v0Retry struct {
	Max       int      `json:"Max"`
	When      []string `json:"When"`
	ExitCodes []int    `json:"ExitCodes"`
}

type v0Environment struct {
	Name           string `json:"Name"`
	URL            string `json:"URL"`
	Action         string `json:"Action"`
	OnStop         string `json:"OnStop"`
	AutoStopIn     string `json:"AutoStopIn"`
	DeploymentTier string `json:"DeploymentTier"`
}

type v0Artifacts struct {
	Name      string              `json:"Name"`
	Paths     []string            `json:"Paths"`
	Exclude   []string            `json:"Exclude"`
	Untracked bool                `json:"Untracked"`
	When      string              `json:"When"`
	ExpireIn  string              `json:"ExpireIn"`
	ExposeAs  string              `json:"ExposeAs"`
	Public    *bool               `json:"Public"`
	Reports   map[string][]string `json:"Reports"`
}

type v0Cache struct {
	Key          string   `json:"Key"`
	KeyFiles     []string `json:"KeyFiles"`
	KeyPrefix    string   `json:"KeyPrefix"`
	Paths        []string `json:"Paths"`
	Untracked    bool     `json:"Untracked"`
	Unprotect    bool     `json:"Unprotect"`
	Policy       string   `json:"Policy"`
	When         string   `json:"When"`
	FallbackKeys []string `json:"FallbackKeys"`
}

// decodeV0 reads a version 0 spec as a Spec of this version, and returns its plan.
func decodeV0(b []byte) (*plan.Job, error) {
	var v v0Job
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("decode job spec (version 0): %w", err)
	}
	if v.StartIn < 0 || v.Timeout < 0 {
		return nil, fmt.Errorf("decode job spec (version 0): a negative duration")
	}
	s := &Spec{
		Version: Version, Name: v.Name, Stage: v.Stage, StageIndex: v.StageIndex, When: v.When,
		StartInSeconds: Seconds(v.StartIn), AllowFailure: v.AllowFailure, AllowFailureExitCodes: v.ExitCodes,
		Needs: v.Needs, Dependencies: v.Dependencies, BeforeScript: v.BeforeScript, Script: v.Script,
		AfterScript: v.AfterScript, Variables: v.Variables, Retry: Retry(v.Retry),
		TimeoutSeconds: Seconds(v.Timeout), Interruptible: v.Interruptible, ResourceGroup: v.ResourceGroup,
		Coverage: v.Coverage,
	}
	if v.Image != nil {
		s.Image = (*Image)(v.Image)
	}
	for _, sv := range v.Services {
		w := Service{Image: Image(sv.v0Image), Alias: sv.Alias, Command: sv.Command}
		for _, x := range sv.Variables {
			w.Variables = append(w.Variables, Var{Key: x.Key, Value: x.Value, Raw: x.Raw})
		}
		s.Services = append(s.Services, w)
	}
	if v.Environment != nil {
		s.Environment = (*Environment)(v.Environment)
	}
	if v.Artifacts != nil {
		s.Artifacts = (*Artifacts)(v.Artifacts)
	}
	for _, c := range v.Cache {
		s.Cache = append(s.Cache, Cache(c))
	}
	p, err := s.Plan()
	if err != nil {
		return nil, fmt.Errorf("decode job spec (version 0): %w", err)
	}
	return p, nil
}
