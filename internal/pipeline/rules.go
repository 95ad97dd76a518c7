package pipeline

import (
	"fmt"
	"strings"

	"github.com/slipway/slipway/internal/expr"
)

// Rule is one entry of rules: (of a job, of workflow or of an include).
type Rule struct {
	Pos Pos
	// If is the rules:if source, "" when absent; Expr is its parsed form.
	If   string
	Expr *expr.Expr
	// Changes are rules:changes paths (nil when absent), compared against CompareTo when set.
	Changes   []string
	CompareTo string
	// Exists are rules:exists globs (nil when absent).
	Exists []string
	// When is the rule's when: "" when the rule does not set it.
	When    string
	StartIn string
	// AllowFailure is set when the rule sets allow_failure.
	AllowFailure *AllowFailure
	Variables    []VarDef
	// Needs replaces the job's needs when set (NeedsSet).
	Needs         []Need
	NeedsSet      bool
	Interruptible *bool
	// Name is workflow:rules:name.
	Name string
	// AutoCancel is workflow:rules:auto_cancel (on_new_commit, on_job_failure).
	AutoCancel map[string]string
}

// Match reports whether every clause of the rule holds. A rule with no clause matches.
func (r *Rule) Match(env RuleEnv) (bool, error) {
	vars := env.Vars
	if vars == nil {
		vars = func(string) (string, bool) { return "", false }
	}
	if r.Expr != nil {
		ok, err := r.Expr.Eval(vars)
		if err != nil {
			return false, fmt.Errorf("rules:if %q: %w", r.If, err)
		}
		if !ok {
			return false, nil
		}
	}
	if r.Changes != nil && env.Changed != nil {
		if changed := env.Changed(r.CompareTo); changed != nil && !anyChanged(r.Changes, changed, vars) {
			return false, nil
		}
	}
	if r.Exists != nil {
		if env.Exists == nil {
			return false, nil
		}
		found := false
		for _, g := range r.Exists {
			if env.Exists(expr.Expand(g, vars)) {
				found = true
				break
			}
		}
		if !found {
			return false, nil
		}
	}
	return true, nil
}

func anyChanged(patterns, changed []string, vars expr.Lookup) bool {
	for _, p := range patterns {
		p = strings.TrimPrefix(expr.Expand(p, vars), "/")
		for _, f := range changed {
			if Glob(p, f) {
				return true
			}
		}
	}
	return false
}

// ruleKeys are the keys of a job's or workflow's rule, includeRuleKeys those of an include's
// (Entry::Include::Rules::Rule::ALLOWED_KEYS).
var (
	ruleKeys = map[string]bool{"if": true, "changes": true, "exists": true, "when": true, "start_in": true,
		"allow_failure": true, "variables": true, "needs": true, "interruptible": true, "name": true, "auto_cancel": true}
	includeRuleKeys = map[string]bool{"if": true, "changes": true, "exists": true, "when": true}
)

// parseRules decodes a rules: list. An include's rules take only if, exists, changes and when,
// which is never or always there (Entry::Include::Rules::Rule::ALLOWED_WHEN). A key set to null
// is unspecified.
func parseRules(n *Node, d *diags, include bool) []*Rule {
	if n.IsNull() {
		return nil
	}
	if n.Kind != Seq {
		d.errorf(n.Pos, "rules must be an array of hashes")
		return nil
	}
	items, ok := flatten(n.Items)
	if !ok {
		d.errorf(n.Pos, "rules should be an array of hashes nested up to %d levels deep", maxNesting)
	}
	if len(items) == 0 {
		d.errorf(n.Pos, "rules config can't be blank")
	}
	var out []*Rule
	for _, it := range items {
		if it.Kind != Map {
			d.errorf(it.Pos, "rules: each rule must be a hash, not %s", it.TypeName())
			continue
		}
		r := &Rule{Pos: it.Pos}
		for _, p := range it.Pairs {
			v := p.Value
			if include && !includeRuleKeys[p.Key] || !ruleKeys[p.Key] {
				d.errorf(p.KeyPos, "rules: unknown key %q", p.Key)
				continue
			}
			if v.IsNull() {
				continue
			}
			switch p.Key {
			case "if":
				r.If = v.Str()
				e, err := d.exprs.Parse(r.If)
				if err != nil {
					d.errorf(v.Pos, "rules:if %q: invalid expression: %v", r.If, err)
					continue
				}
				r.Expr = e
			case "changes":
				switch {
				case v.Kind == Map:
					r.Changes = strList(v.Get("paths"), d, "rules:changes:paths")
					r.CompareTo = v.Get("compare_to").Str()
					if r.Changes == nil {
						r.Changes = []string{}
					}
				default:
					r.Changes = strList(v, d, "rules:changes")
					if r.Changes == nil {
						r.Changes = []string{}
					}
				}
			case "exists":
				if v.Kind == Map {
					v = v.Get("paths")
				}
				r.Exists = strList(v, d, "rules:exists")
				if r.Exists == nil {
					r.Exists = []string{}
				}
			case "when":
				if !include {
					r.When = parseWhen(v, d, true)
				} else if r.When = v.Str(); r.When != "never" && r.When != "always" {
					d.errorf(v.Pos, "when %q is unknown: an include's rule takes never or always", r.When)
				}
			case "start_in":
				r.StartIn = durationStr(v, d, "rules:start_in", false)
			case "allow_failure":
				r.AllowFailure = parseAllowFailure(v, d)
			case "variables":
				r.Variables = parseVariables(v, d, false)
			case "needs":
				r.Needs, r.NeedsSet = parseNeeds(v, d), true
			case "interruptible":
				b := boolVal(v, d, "rules:interruptible")
				r.Interruptible = &b
			case "name":
				r.Name = v.Str()
			case "auto_cancel":
				r.AutoCancel = strMap(v)
			}
		}
		out = append(out, r)
	}
	return out
}
