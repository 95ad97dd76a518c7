package cli

import (
	"io"
	"slices"
	"unicode/utf8"

	"github.com/slipway/slipway/internal/plan"
)

// writeJobsJSON writes the plan's jobs as `slipway jobs --json` prints them: a JSON array
// indented by two spaces, one object per job with name, stage, when, allow_failure, needs
// (null when the job has no needs: key), image and environment (when set) and reason, and a
// final newline. The bytes are what encoding/json's Encoder with SetIndent("", "  ") makes of
// the same values (jobsjson_test.go holds that reference): writing them directly, 64 KiB at a
// time, costs a fraction of reflection, a second pass to indent and two copies of the output.
func writeJobsJSON(w io.Writer, p *plan.Plan) error {
	if len(p.Jobs) == 0 {
		_, err := io.WriteString(w, "[]\n")
		return err
	}
	b := make([]byte, 0, 64<<10)
	b = append(b, '[')
	for i, j := range p.Jobs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJobJSON(b, j)
		if len(b) > 60<<10 {
			if _, err := w.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	b = append(b, "\n]\n"...)
	_, err := w.Write(b)
	return err
}

// appendJobJSON appends one job's object, on a new line.
func appendJobJSON(b []byte, j *plan.Job) []byte {
	b = append(b, "\n  {\n    \"name\": "...)
	b = appendJSONString(b, j.Name)
	b = append(b, ",\n    \"stage\": "...)
	b = appendJSONString(b, j.Stage)
	b = append(b, ",\n    \"when\": "...)
	b = appendJSONString(b, j.When)
	b = append(b, ",\n    \"allow_failure\": "...)
	if j.AllowFailure {
		b = append(b, "true"...)
	} else {
		b = append(b, "false"...)
	}
	b = append(b, ",\n    \"needs\": "...)
	switch {
	case j.Needs == nil:
		b = append(b, "null"...)
	case len(j.Needs) == 0:
		b = append(b, "[]"...)
	default:
		b = append(b, '[')
		for k, n := range j.Needs {
			if k > 0 {
				b = append(b, ',')
			}
			b = append(b, "\n      "...)
			b = appendJSONString(b, n.Job)
		}
		b = append(b, "\n    ]"...)
	}
	if j.Image != nil && j.Image.Name != "" {
		b = append(b, ",\n    \"image\": "...)
		b = appendJSONString(b, j.Image.Name)
	}
	if j.Environment != nil && j.Environment.Name != "" {
		b = append(b, ",\n    \"environment\": "...)
		b = appendJSONString(b, j.Environment.Name)
	}
	b = append(b, ",\n    \"reason\": "...)
	b = appendReasonJSON(b, &j.Reason)
	return append(b, "\n  }"...)
}

// appendReasonJSON appends a job's reason, indented as the fifth field of a job object.
func appendReasonJSON(b []byte, r *plan.Reason) []byte {
	b = append(b, "{\n      \"clause\": "...)
	b = appendJSONString(b, r.Clause)
	b = append(b, ",\n      \"text\": "...)
	b = appendJSONString(b, r.Text)
	if r.Where != "" {
		b = append(b, ",\n      \"where\": "...)
		b = appendJSONString(b, r.Where)
	}
	b = appendStringsJSON(b, "vars", r.Vars)
	if len(r.Values) > 0 {
		b = append(b, ",\n      \"values\": {"...)
		keys := make([]string, 0, len(r.Values))
		for k := range r.Values {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, "\n        "...)
			b = appendJSONString(b, k)
			b = append(b, ": "...)
			b = appendJSONString(b, r.Values[k])
		}
		b = append(b, "\n      }"...)
	}
	b = appendStringsJSON(b, "undefined", r.Undefined)
	return append(b, "\n    }"...)
}

// appendStringsJSON appends `"key": [...]` of a reason, nothing when list is empty.
func appendStringsJSON(b []byte, key string, list []string) []byte {
	if len(list) == 0 {
		return b
	}
	b = append(b, ",\n      \""...)
	b = append(b, key...)
	b = append(b, "\": ["...)
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n        "...)
		b = appendJSONString(b, s)
	}
	return append(b, "\n      ]"...)
}

// appendJSONString appends s as a JSON string, escaped as encoding/json escapes it by default:
// control characters, quotes, backslashes, <, > and &, U+2028 and U+2029, and each byte of
// invalid UTF-8 as U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
