// Package plan decides a pipeline: given a loaded configuration and the Context of a push (or
// schedule, merge request, …) it evaluates workflow:rules, each job's rules or only/except,
// expands parallel jobs, resolves needs and dependencies and the variables each job sees. The
// result, a Plan, is what runners execute. It runs nothing and reads no files.
package plan

import (
	"time"

	"github.com/slipway/slipway/internal/pipeline"
)

// Plan is a decided pipeline.
type Plan struct {
	// Created is false when workflow:rules decided that no pipeline runs; Reason says why.
	Created bool `json:"created"`
	// Name is workflow:name, expanded.
	Name   string `json:"name,omitempty"`
	Reason Reason `json:"reason"`
	// AutoCancel is workflow:auto_cancel as decided by the matching rule.
	AutoCancel map[string]string `json:"auto_cancel,omitempty"`
	Stages     []string          `json:"stages"`
	// Variables are the pipeline-level variables: predefined, top-level, workflow and the
	// user's, after precedence.
	Variables []Var `json:"variables"`
	// Jobs run in this pipeline, in configuration order (parallel instances in order).
	Jobs []*Job `json:"jobs"`
	// Excluded lists the jobs left out, with why.
	Excluded []*Job `json:"excluded,omitempty"`
}

// Job is one job of a plan, ready for a runner.
type Job struct {
	Name string `json:"name"`
	// Base is the configured name of a parallel job's instances.
	Base       string `json:"base,omitempty"`
	Stage      string `json:"stage"`
	StageIndex int    `json:"stage_index"`
	// When is on_success, on_failure, always, manual, delayed (or never for excluded jobs).
	When    string        `json:"when"`
	StartIn time.Duration `json:"start_in,omitempty"`
	// AllowFailure is true when a failure is a warning; ExitCodes, when set, limits that to
	// those exit codes.
	AllowFailure bool  `json:"allow_failure"`
	ExitCodes    []int `json:"allow_failure_exit_codes,omitempty"`
	// Needs is nil when the job has no needs: key (it waits for earlier stages), and empty for
	// needs: [] (it starts at once).
	Needs []Need `json:"needs"`
	// Dependencies are the jobs whose artifacts are fetched; nil means all earlier-stage jobs.
	Dependencies  []string              `json:"dependencies"`
	Image         *pipeline.Image       `json:"image,omitempty"`
	Services      []pipeline.Service    `json:"services,omitempty"`
	BeforeScript  []string              `json:"before_script,omitempty"`
	Script        []string              `json:"script,omitempty"`
	AfterScript   []string              `json:"after_script,omitempty"`
	Variables     []Var                 `json:"variables"`
	Retry         pipeline.Retry        `json:"retry"`
	Timeout       time.Duration         `json:"timeout,omitempty"`
	NodeIndex     int                   `json:"node_index,omitempty"`
	NodeTotal     int                   `json:"node_total"`
	Interruptible bool                  `json:"interruptible,omitempty"`
	ResourceGroup string                `json:"resource_group,omitempty"`
	Environment   *pipeline.Environment `json:"environment,omitempty"`
	Coverage      string                `json:"coverage,omitempty"`
	Tags          []string              `json:"tags,omitempty"`
	Artifacts     *pipeline.Artifacts   `json:"artifacts,omitempty"`
	Cache         []pipeline.Cache      `json:"cache,omitempty"`
	Trigger       *Trigger              `json:"trigger,omitempty"`
	Reason        Reason                `json:"reason"`
	Pos           pipeline.Pos          `json:"-"`
	Config        *pipeline.Job         `json:"-"`
	matrix        map[string]string
	rule          *pipeline.Rule // the matching rule, when rules decided
}

// Need is a resolved DAG edge: the job waits for Job (an exact name in the plan).
type Need struct {
	Job       string `json:"job"`
	Artifacts bool   `json:"artifacts"`
	Optional  bool   `json:"optional"`
}

// Trigger is a bridge job: a child pipeline (planned here) or a downstream project.
type Trigger struct {
	Include  []string `json:"include,omitempty"`
	Project  string   `json:"project,omitempty"`
	Branch   string   `json:"branch,omitempty"`
	Strategy string   `json:"strategy,omitempty"`
	Child    *Plan    `json:"child,omitempty"`
}

// Reason says why a job (or the pipeline) is in or out: which clause decided, where it is, and
// the variables it read.
type Reason struct {
	// Clause names what decided: "rules[1]", "only:refs", "except:variables", "default",
	// "workflow:rules[0]", "no rule matched", "needs".
	Clause string `json:"clause"`
	// Text is a sentence for people.
	Text string `json:"text"`
	// Pos is where the clause is written.
	Pos pipeline.Pos `json:"-"`
	// Where is Pos as "file:line:col".
	Where string `json:"where,omitempty"`
	// Vars are the variables the clause read, with their values; undefined ones are absent
	// from Values and listed in Undefined.
	Vars      []string          `json:"vars,omitempty"`
	Values    map[string]string `json:"values,omitempty"`
	Undefined []string          `json:"undefined,omitempty"`
}

// Job returns the job named name, or nil.
func (p *Plan) Job(name string) *Job {
	for _, j := range p.Jobs {
		if j.Name == name {
			return j
		}
	}
	return nil
}
