package cli

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/slipway/slipway/internal/pipeline"
	"github.com/slipway/slipway/internal/plan"
)

// readVariablesFile reads a --variables-file: a YAML hash of KEY: value, where a value may
// also be a hash {value, masked, type: file, expand}; or a dotenv file of KEY=value lines.
func readVariablesFile(path string) ([]plan.Var, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read variables file: %w", err)
	}
	if isDotenv(data) {
		return parseDotenv(path, data)
	}
	docs, _, err := pipeline.Parse(path, data)
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 || docs[0].IsNull() {
		return nil, nil
	}
	root := docs[0]
	if root.Kind != pipeline.Map {
		return nil, fmt.Errorf("%s: a variables file is a hash of KEY: value", root.Pos)
	}
	var out []plan.Var
	for _, p := range root.Pairs {
		v := plan.Var{Key: p.Key}
		switch p.Value.Kind {
		case pipeline.Null:
		case pipeline.Scalar:
			v.Value = p.Value.Value
		case pipeline.Map:
			for _, q := range p.Value.Pairs {
				switch q.Key {
				case "value":
					v.Value = q.Value.Str()
				case "masked":
					v.Masked, _ = q.Value.Bool()
				case "type":
					v.File = q.Value.Str() == "file"
				case "expand":
					e, _ := q.Value.Bool()
					v.Raw = !e
				default:
					return nil, fmt.Errorf("%s: variable %s: unknown key %q", q.KeyPos, p.Key, q.Key)
				}
			}
		default:
			return nil, fmt.Errorf("%s: variable %s should be a string or a hash", p.Value.Pos, p.Key)
		}
		out = append(out, v)
	}
	return out, nil
}

var dotenvLine = regexp.MustCompile(`^\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_]*=`)

// isDotenv reports whether the first meaningful line is KEY=value.
func isDotenv(data []byte) bool {
	for _, line := range strings.Split(string(data), "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		return dotenvLine.MatchString(line)
	}
	return false
}

// parseDotenv reads KEY=value lines; values may be single- or double-quoted.
func parseDotenv(path string, data []byte) ([]plan.Var, error) {
	var out []plan.Var
	for i, line := range strings.Split(string(data), "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if !dotenvLine.MatchString(line) {
			return nil, fmt.Errorf("%s:%d:1: want KEY=value", path, i+1)
		}
		k, v, _ := strings.Cut(strings.TrimPrefix(t, "export "), "=")
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		out = append(out, plan.Var{Key: strings.TrimSpace(k), Value: v})
	}
	return out, nil
}
