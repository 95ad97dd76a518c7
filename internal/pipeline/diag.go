package pipeline

import (
	"sort"
	"strings"

	"github.com/slipway/slipway/internal/expr"
)

// Error is one problem in a configuration, at a position. Its text is "FILE:LINE:COL: message".
type Error struct {
	Pos Pos
	Msg string
	// Chain lists the files that included Pos.File, outermost first; empty for the root file.
	Chain []string
}

func (e *Error) Error() string {
	s := e.Pos.String() + ": " + e.Msg
	if len(e.Chain) > 0 {
		s += " (included from " + strings.Join(e.Chain, " → ") + ")"
	}
	return s
}

// Errors is every error found in a configuration, in file order. It is returned as one error.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// diags collects errors and warnings while a configuration is processed.
type diags struct {
	errs     Errors
	warnings Errors
	// maxVariableSize bounds variable values (Options.MaxVariableSize); zero: no bound.
	maxVariableSize int
	// at is where the configuration is being read (see reading), for an InternalError.
	at Pos
	// exprs are the rules:if expressions parsed so far.
	exprs expr.Cache
}

func (d *diags) errorf(pos Pos, format string, args ...any) {
	d.errs = append(d.errs, &Error{Pos: pos, Msg: sprintf(format, args...)})
}

func (d *diags) warnf(pos Pos, format string, args ...any) {
	d.warnings = append(d.warnings, &Error{Pos: pos, Msg: sprintf(format, args...)})
}

// err returns the collected errors sorted by position and without repeats, or nil.
func (d *diags) err() error {
	if len(d.errs) == 0 {
		return nil
	}
	return sortErrors(d.errs)
}

func sortErrors(es Errors) Errors {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i].Pos, es[j].Pos
		if a.File != b.File {
			return false // keep file order as found
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	out := es[:0]
	seen := map[string]bool{}
	for _, e := range es {
		if k := e.Error(); !seen[k] {
			seen[k] = true
			out = append(out, e)
		}
	}
	return out
}
