package pipeline

// Config is a loaded, fully resolved pipeline configuration: includes merged, !reference,
// extends, default and inherit applied, and every key checked.
type Config struct {
	// Stages in order, with .pre first and .post last.
	Stages []string
	// Variables are the top-level variables.
	Variables []VarDef
	// Workflow is workflow: (nil when absent).
	Workflow *Workflow
	// Jobs are the visible jobs (hidden .jobs excluded) in file order.
	Jobs []*Job
	// Tree is the expanded configuration, as `slipway config` prints it.
	Tree *Node
	// Files are the files read, root first.
	Files []string
	// Warnings are problems that do not stop the pipeline (duplicate keys, …).
	Warnings Errors
}

// Job returns the job named name, or nil.
func (c *Config) Job(name string) *Job {
	for _, j := range c.Jobs {
		if j.Name == name {
			return j
		}
	}
	return nil
}

// Workflow is workflow:.
type Workflow struct {
	Rules      []*Rule
	Name       string
	AutoCancel map[string]string
}

// VarDef is a variable as written in YAML.
type VarDef struct {
	Key         string
	Value       string
	Description string
	Options     []string
	// Raw is expand: false.
	Raw bool
	Pos Pos
}

// Need is one entry of needs:.
type Need struct {
	Job       string
	Artifacts bool
	Optional  bool
	// Pipeline or Project make a cross-pipeline need, which is not a DAG edge here.
	Pipeline string
	Project  string
	Ref      string
	// Matrix restricts the need to some instances of a parallel:matrix job.
	Matrix []map[string][]string
	Pos    Pos
}

// AllowFailure is allow_failure: a bool, or exit codes that count as allowed.
type AllowFailure struct {
	Allowed   bool
	ExitCodes []int
}

// Retry is retry:.
type Retry struct {
	Max       int
	When      []string
	ExitCodes []int
}

// Image is image: or a service's image.
type Image struct {
	Name       string
	Entrypoint []string
	PullPolicy []string
	User       string
	Platform   string
}

// Service is one entry of services:.
type Service struct {
	Image
	Alias      string
	Command    []string
	Variables  []VarDef
	Pos        Pos
	Entrypoint []string
}

// Artifacts is artifacts:.
type Artifacts struct {
	Name      string
	Paths     []string
	Exclude   []string
	Untracked bool
	When      string // on_success (default), on_failure, always
	ExpireIn  string
	ExposeAs  string
	Public    *bool
	Reports   map[string][]string
}

// Cache is one entry of cache:.
type Cache struct {
	Key          string
	KeyFiles     []string
	KeyPrefix    string
	Paths        []string
	Untracked    bool
	Unprotect    bool
	Policy       string // pull-push (default), pull, push
	When         string // on_success (default), on_failure, always
	FallbackKeys []string
}

// Environment is environment:.
type Environment struct {
	Name           string
	URL            string
	Action         string // start (default), prepare, stop, verify, access
	OnStop         string
	AutoStopIn     string
	DeploymentTier string
	Kubernetes     *Node
}

// Parallel is parallel: N or parallel:matrix.
type Parallel struct {
	Total  int
	Matrix []map[string][]string
	// MatrixKeys keeps each matrix entry's key order, for job names.
	MatrixKeys [][]string
}

// Filter is only: or except:.
type Filter struct {
	Refs       []string
	Variables  []string
	Changes    []string
	Kubernetes string
	Pos        Pos
}

// Trigger is trigger: (a child pipeline from local files, or a multi-project pipeline).
type Trigger struct {
	// Include are local child pipeline files; Dynamic is set when some come from elsewhere
	// (a job's artifact, another project, a template) and are only known when the job runs.
	Include  []string
	Dynamic  bool
	Project  string
	Branch   string
	Strategy string
	Forward  map[string]bool
	// Inputs are a multi-project trigger's inputs for the downstream pipeline (a hash, as
	// written).
	Inputs *Node
}

// Job is one visible job, with extends, default and inherit applied.
type Job struct {
	Name string
	Pos  Pos
	// Node is the job's expanded configuration.
	Node *Node

	Stage        string
	Script       []string
	BeforeScript []string
	AfterScript  []string
	Image        *Image
	Services     []Service
	// Variables are the job's own variables; GlobalVariables says which top-level variables it
	// inherits (nil: all).
	Variables    []VarDef
	InheritVars  *Inherit
	Rules        []*Rule
	RulesSet     bool
	Only, Except *Filter
	When         string // "" when not set
	StartIn      string
	// Publish is the directory a pages job publishes (deprecated publish:); "" when not set.
	Publish         string
	AllowFailure    *AllowFailure
	Needs           []Need
	NeedsSet        bool
	Dependencies    []string
	DependenciesSet bool
	Retry           *Retry
	Timeout         string
	Parallel        *Parallel
	Interruptible   *bool
	ResourceGroup   string
	Environment     *Environment
	Coverage        string
	Tags            []string
	Artifacts       *Artifacts
	Cache           []Cache
	Trigger         *Trigger
	Secrets         *Node
	IDTokens        *Node
	Release         *Node
	Pages           *Node
	Hooks           *Node
	ManualConfirm   string
}

// Inherit is inherit:variables (or default): everything, nothing, or a list.
type Inherit struct {
	All  bool
	Only []string
}

// Allows reports whether key is inherited.
func (i *Inherit) Allows(key string) bool {
	if i == nil || i.All {
		return true
	}
	for _, k := range i.Only {
		if k == key {
			return true
		}
	}
	return false
}
