package pipeline

import "strings"

// decodeJobKey decodes one key of a job into j.
func decodeJobKey(j *Job, p Pair, d *diags) {
	v := p.Value
	what := "jobs:" + j.Name + ":" + p.Key
	switch p.Key {
	case "stage":
		j.Stage = v.Str()
		if v.Kind != Scalar {
			d.errorf(v.Pos, "%s config should be a string", what)
		}
	case "script":
		j.Script = scriptList(v, d, what)
	case "run":
		if v.Kind != Seq {
			d.errorf(v.Pos, "%s config should be an array of steps", what)
		}
	case "before_script":
		j.BeforeScript = scriptList(v, d, what)
	case "after_script":
		j.AfterScript = scriptList(v, d, what)
	case "image":
		j.Image = parseImage(v, d, what)
	case "services":
		j.Services = parseServices(v, d, what)
	case "variables":
		j.Variables = parseVariables(v, d, false)
	case "inherit":
		if v.Kind != Map {
			d.errorf(v.Pos, "%s config should be a hash", what)
			return
		}
		for _, q := range v.Pairs {
			if q.Key != "default" && q.Key != "variables" {
				d.errorf(q.KeyPos, "%s config contains unknown key %q", what, q.Key)
			}
		}
		j.InheritVars = parseInherit(v.Get("variables"), d, what+":variables")
	case "rules":
		j.Rules, j.RulesSet = parseRules(v, d, false), true
	case "only":
		j.Only = parseFilter(v, d, what)
	case "except":
		j.Except = parseFilter(v, d, what)
	case "when":
		j.When = parseWhen(v, d, false)
	case "start_in":
		j.StartIn = durationStr(v, d, what, false)
	case "publish":
		j.Publish = v.Str()
		if v.Kind != Scalar || v.Tag != TagStr {
			d.errorf(v.Pos, "%s config should be a string", what)
		}
	case "allow_failure":
		j.AllowFailure = parseAllowFailure(v, d)
	case "needs":
		if v.Kind != Seq && v.Kind != Map {
			d.errorf(v.Pos, "%s config can only be a hash or an array", what)
			return
		}
		j.Needs, j.NeedsSet = parseNeeds(v, d), true
	case "dependencies":
		j.Dependencies, j.DependenciesSet = strList(v, d, what), true
		if j.Dependencies == nil {
			j.Dependencies = []string{}
		}
	case "retry":
		j.Retry = parseRetry(v, d)
	case "timeout":
		j.Timeout = durationStr(v, d, what, false)
	case "parallel":
		j.Parallel = parseParallel(v, d, what)
	case "interruptible":
		b := boolVal(v, d, what)
		j.Interruptible = &b
	case "resource_group":
		j.ResourceGroup = v.Str()
	case "environment":
		j.Environment = parseEnvironment(v, d, what)
	case "coverage":
		j.Coverage = v.Str()
	case "tags":
		j.Tags = strList(v, d, what)
	case "artifacts":
		j.Artifacts = parseArtifacts(v, d, what)
	case "cache":
		j.Cache = parseCaches(v, d, what)
	case "trigger":
		j.Trigger = parseTrigger(v, d, what)
	case "secrets":
		j.Secrets = v
	case "id_tokens":
		j.IDTokens = v
	case "release":
		j.Release = v
	case "pages":
		j.Pages = v
	case "hooks":
		j.Hooks = v
	case "manual_confirmation":
		j.ManualConfirm = v.Str()
	}
}

func parseImage(n *Node, d *diags, what string) *Image {
	switch n.Kind {
	case Null:
		return nil
	case Scalar:
		return &Image{Name: n.Value}
	case Map:
		img := &Image{}
		for _, p := range n.Pairs {
			if !imageKey(img, p, d, what) {
				d.errorf(p.KeyPos, "%s config contains unknown key %q", what, p.Key)
			}
		}
		if img.Name == "" {
			d.errorf(n.Pos, "%s config should have a name", what)
		}
		return img
	}
	d.errorf(n.Pos, "%s config should be a hash or a string", what)
	return nil
}

// imageKey decodes the keys an image and a service share; it reports whether p was one.
func imageKey(img *Image, p Pair, d *diags, what string) bool {
	switch p.Key {
	case "name":
		img.Name = p.Value.Str()
	case "entrypoint":
		img.Entrypoint = strList(p.Value, d, what+":entrypoint")
	case "pull_policy":
		img.PullPolicy = strList(p.Value, d, what+":pull_policy")
		for _, pp := range img.PullPolicy {
			if pp != "always" && pp != "if-not-present" && pp != "never" {
				d.errorf(p.Value.Pos, "%s:pull_policy %q is unknown: use always, if-not-present or never", what, pp)
			}
		}
	case "docker":
		img.User = p.Value.Get("user").Str()
		img.Platform = p.Value.Get("platform").Str()
	case "kubernetes":
	default:
		return false
	}
	return true
}

func parseServices(n *Node, d *diags, what string) []Service {
	if n.IsNull() {
		return nil
	}
	if n.Kind != Seq {
		d.errorf(n.Pos, "%s config should be an array", what)
		return nil
	}
	var out []Service
	for _, it := range n.Items {
		s := Service{Pos: it.Pos}
		switch it.Kind {
		case Scalar:
			s.Name = it.Value
		case Map:
			for _, p := range it.Pairs {
				switch p.Key {
				case "alias":
					s.Alias = p.Value.Str()
				case "command":
					s.Command = strList(p.Value, d, what+":command")
				case "variables":
					s.Variables = parseVariables(p.Value, d, false)
				default:
					if !imageKey(&s.Image, p, d, what) {
						d.errorf(p.KeyPos, "%s config contains unknown key %q", what, p.Key)
					}
				}
			}
			s.Entrypoint = s.Image.Entrypoint
			if s.Name == "" {
				d.errorf(it.Pos, "%s: a service needs a name", what)
			}
		default:
			d.errorf(it.Pos, "%s: each service should be a string or a hash", what)
			continue
		}
		out = append(out, s)
	}
	return out
}

func parseFilter(n *Node, d *diags, what string) *Filter {
	f := &Filter{Pos: n.Pos}
	switch n.Kind {
	case Null:
		return nil
	case Scalar, Seq:
		f.Refs = strList(n, d, what)
	case Map:
		for _, p := range n.Pairs {
			switch p.Key {
			case "refs":
				f.Refs = strList(p.Value, d, what+":refs")
			case "variables":
				f.Variables = strList(p.Value, d, what+":variables")
			case "changes":
				f.Changes = strList(p.Value, d, what+":changes")
			case "kubernetes":
				f.Kubernetes = p.Value.Str()
			default:
				d.errorf(p.KeyPos, "%s config contains unknown key %q", what, p.Key)
			}
		}
	default:
		d.errorf(n.Pos, "%s should be an array of strings or a hash", what)
	}
	return f
}

func parseParallel(n *Node, d *diags, what string) *Parallel {
	if n.Kind == Map {
		m := n.Get("matrix")
		if m == nil {
			d.errorf(n.Pos, "%s config should be an integer or a hash with matrix", what)
			return nil
		}
		p := &Parallel{}
		p.Matrix, p.MatrixKeys = parseMatrix(m, d)
		for _, e := range p.Matrix {
			n := 1
			for _, vs := range e {
				n *= len(vs)
			}
			p.Total += n
		}
		if p.Total > 200 {
			d.errorf(m.Pos, "%s:matrix config generates too many jobs (maximum is 200)", what)
		}
		return p
	}
	total := intVal(n, d, what)
	if total < 1 || total > 200 {
		d.errorf(n.Pos, "%s config must be between 1 and 200", what)
	}
	return &Parallel{Total: total}
}

func parseEnvironment(n *Node, d *diags, what string) *Environment {
	switch n.Kind {
	case Scalar:
		return &Environment{Name: n.Value, Action: "start"}
	case Map:
		e := &Environment{Action: "start"}
		for _, p := range n.Pairs {
			if p.Value.IsNull() {
				continue // unspecified, as GitLab's allow_nil attributes have it
			}
			switch p.Key {
			case "name":
				e.Name = p.Value.Str()
			case "url":
				e.URL = p.Value.Str()
			case "action":
				e.Action = p.Value.Str()
				if !contains([]string{"start", "prepare", "stop", "verify", "access"}, e.Action) {
					d.errorf(p.Value.Pos, "%s:action %q is unknown", what, e.Action)
				}
			case "on_stop":
				e.OnStop = p.Value.Str()
			case "auto_stop_in":
				// GitLab expands variables in it when the job runs (Ci::Build#expanded_auto_stop_in).
				if strings.Contains(p.Value.Str(), "$") {
					e.AutoStopIn = p.Value.Str()
					continue
				}
				e.AutoStopIn = durationStr(p.Value, d, what+":auto_stop_in", true)
			case "deployment_tier":
				e.DeploymentTier = p.Value.Str()
			case "kubernetes":
				e.Kubernetes = p.Value
			default:
				d.errorf(p.KeyPos, "%s config contains unknown key %q", what, p.Key)
			}
		}
		if e.Name == "" {
			d.errorf(n.Pos, "%s config should have a name", what)
		}
		return e
	}
	d.errorf(n.Pos, "%s config should be a hash or a string", what)
	return nil
}

func parseArtifacts(n *Node, d *diags, what string) *Artifacts {
	if n.IsNull() {
		return nil
	}
	if n.Kind != Map {
		d.errorf(n.Pos, "%s config should be a hash", what)
		return nil
	}
	a := &Artifacts{When: "on_success"}
	for _, p := range n.Pairs {
		if p.Value.IsNull() {
			continue // unspecified, as GitLab's allow_nil attributes have it
		}
		switch p.Key {
		case "name":
			a.Name = p.Value.Str()
		case "paths":
			a.Paths = strList(p.Value, d, what+":paths")
		case "exclude":
			a.Exclude = strList(p.Value, d, what+":exclude")
		case "untracked":
			a.Untracked = boolVal(p.Value, d, what+":untracked")
		case "when":
			a.When = p.Value.Str()
			if !contains([]string{"on_success", "on_failure", "always"}, a.When) {
				d.errorf(p.Value.Pos, "%s:when should be on_success, on_failure or always", what)
			}
		case "expire_in":
			a.ExpireIn = durationStr(p.Value, d, what+":expire_in", true)
		case "expose_as":
			a.ExposeAs = p.Value.Str()
		case "public":
			b := boolVal(p.Value, d, what+":public")
			a.Public = &b
		case "access":
		case "reports":
			a.Reports = map[string][]string{}
			for _, r := range p.Value.Pairs {
				if r.Value.Kind == Map {
					a.Reports[r.Key] = strList(r.Value.Get("path"), d, what+":reports")
					continue
				}
				a.Reports[r.Key] = strList(r.Value, d, what+":reports:"+r.Key)
			}
		default:
			d.errorf(p.KeyPos, "%s config contains unknown key %q", what, p.Key)
		}
	}
	return a
}

// parseCaches decodes cache:, a hash or a list of them. As in GitLab's Entry::Caches (a
// ComposableArray, which composes `[config].flatten`), lists nested in the list (an alias of a
// list used as an item) are spliced in and null items are unspecified caches, left out; the
// limit of 4 counts the items as written.
func parseCaches(n *Node, d *diags, what string) []Cache {
	switch n.Kind {
	case Null:
		return nil
	case Map:
		return []Cache{parseCache(n, d, what)}
	case Seq:
		var out []Cache
		items, _ := flattenAll(n.Items)
		for _, it := range items {
			switch it.Kind {
			case Null:
			case Map:
				out = append(out, parseCache(it, d, what))
			default:
				d.errorf(it.Pos, "%s config should be a hash or an array of hashes", what)
			}
		}
		if len(n.Items) > 4 {
			d.errorf(n.Pos, "%s config can have at most 4 caches", what)
		}
		return out
	}
	d.errorf(n.Pos, "%s config should be a hash or an array of hashes", what)
	return nil
}

func parseCache(n *Node, d *diags, what string) Cache {
	c := Cache{Policy: "pull-push", When: "on_success", Key: "default"}
	for _, p := range n.Pairs {
		v := p.Value
		if v.IsNull() {
			continue // unspecified (`paths:` with no value): GitLab's Factory makes it Entry::Unspecified
		}
		switch p.Key {
		case "key":
			if v.Kind == Map {
				c.Key = ""
				c.KeyFiles = strList(v.Get("files"), d, what+":key:files")
				c.KeyPrefix = v.Get("prefix").Str()
				if len(c.KeyFiles) == 0 || len(c.KeyFiles) > 2 {
					d.errorf(v.Pos, "%s:key:files should be an array of one or two files", what)
				}
				continue
			}
			c.Key = v.Str()
			if strings.Contains(c.Key, "/") || c.Key == "." || c.Key == ".." {
				d.errorf(v.Pos, "%s:key cannot contain \"/\" or be \".\" or \"..\"", what)
			}
		case "paths":
			if v.Kind != Seq {
				d.errorf(v.Pos, "%s:paths config should be an array of strings", what)
				continue
			}
			c.Paths = strList(v, d, what+":paths")
		case "untracked":
			c.Untracked = boolVal(v, d, what+":untracked")
		case "unprotect":
			c.Unprotect = boolVal(v, d, what+":unprotect")
		case "policy":
			c.Policy = v.Str()
			if !contains([]string{"pull-push", "pull", "push"}, c.Policy) && !strings.Contains(c.Policy, "$") {
				d.errorf(v.Pos, "%s:policy should be pull-push, pull or push", what)
			}
		case "when":
			c.When = v.Str()
			if !contains([]string{"on_success", "on_failure", "always"}, c.When) {
				d.errorf(v.Pos, "%s:when should be on_success, on_failure or always", what)
			}
		case "fallback_keys":
			c.FallbackKeys = strList(v, d, what+":fallback_keys")
		default:
			d.errorf(p.KeyPos, "%s config contains unknown key %q", what, p.Key)
		}
	}
	return c
}

func parseTrigger(n *Node, d *diags, what string) *Trigger {
	t := &Trigger{}
	switch n.Kind {
	case Scalar:
		t.Project = n.Value
		return t
	case Map:
	default:
		d.errorf(n.Pos, "%s config should be a string or a hash", what)
		return nil
	}
	for _, p := range n.Pairs {
		switch p.Key {
		case "include":
			switch p.Value.Kind {
			case Scalar:
				t.Include = []string{p.Value.Value}
			case Seq:
				for _, it := range p.Value.Items {
					switch {
					case it.Kind == Scalar:
						t.Include = append(t.Include, it.Value)
					case it.Get("local") != nil:
						t.Include = append(t.Include, it.Get("local").Str())
					case it.Has("artifact") || it.Has("project") || it.Has("template") || it.Has("remote") || it.Has("component") || it.Has("inputs"):
						t.Dynamic = true // resolved when the trigger job runs
					default:
						d.errorf(it.Pos, "%s:include: each entry needs local, artifact, project, template, remote or component", what)
					}
				}
			case Map:
				if l := p.Value.Get("local"); l != nil {
					t.Include = []string{l.Str()}
				}
			}
		case "project":
			t.Project = p.Value.Str()
		case "branch":
			t.Branch = p.Value.Str()
		case "strategy":
			t.Strategy = p.Value.Str()
		case "forward":
			t.Forward = map[string]bool{}
			for _, q := range p.Value.Pairs {
				b, _ := q.Value.Bool()
				t.Forward[q.Key] = b
			}
		case "inputs":
			// The inputs of a multi-project trigger (Entry::Trigger's CrossProjectTrigger); a
			// child pipeline takes its inputs in trigger:include.
			if p.Value.Kind != Map {
				d.errorf(p.Value.Pos, "%s:inputs config should be a hash", what)
			}
			if n.Has("include") {
				d.errorf(p.KeyPos, "%s config contains unknown key \"inputs\" (a child pipeline takes its inputs in include)", what)
			}
			t.Inputs = p.Value
		default:
			d.errorf(p.KeyPos, "%s config contains unknown key %q", what, p.Key)
		}
	}
	return t
}

// durationStr checks a duration where it is written, as GitLab's DurationValidator does: it is
// a string that ChronicDuration reads (validate_duration refuses anything else, such as the
// integer of `timeout: 3600`), or, where never means "keep forever", never in any case
// (Gitlab::Ci::Build::DurationParser#never?), returned as "never". Null is unspecified: "".
func durationStr(n *Node, d *diags, what string, never bool) string {
	switch {
	case n.IsNull():
		return ""
	case n.Kind != Scalar || n.Tag != TagStr:
		d.errorf(n.Pos, "%s should be a duration: a string such as \"1 hour\", not %s", what, n.TypeName())
		return ""
	case never && strings.EqualFold(n.Value, "never"):
		return "never"
	}
	if _, err := ParseDuration(n.Value); err != nil {
		d.errorf(n.Pos, "%s should be a duration: %v", what, err)
	}
	return n.Value
}
