package expr

import (
	"errors"
	"reflect"
	"sync"
	"testing"
)

func TestVars(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr string
		want []string
	}{
		{`"a" == "b"`, nil},
		{`$A`, []string{"A"}},
		{`$B == $A || $A =~ /x./ && $C != $B`, []string{"B", "A", "C"}},
		{`($CI_COMMIT_TAG =~ $PAT) || "$NOT_A_VAR" == $X`, []string{"CI_COMMIT_TAG", "PAT", "X"}},
	}
	for _, tt := range tests {
		e, err := Parse(tt.expr)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.expr, err)
		}
		if got := e.Vars(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q).Vars() = %q, want %q", tt.expr, got, tt.want)
		}
	}
}

func TestVarsIsACopy(t *testing.T) {
	t.Parallel()
	e, err := Parse(`$A == $B`)
	if err != nil {
		t.Fatal(err)
	}
	e.Vars()[0] = "Z"
	if got := e.Vars()[0]; got != "A" {
		t.Fatalf("Vars()[0] = %q after caller modified a copy, want A", got)
	}
}

func TestString(t *testing.T) {
	t.Parallel()
	src := `  $CI_COMMIT_TAG =~ /^v\d+/i  && $X != 'y' `
	e, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	if e.String() != src {
		t.Fatalf("String() = %q, want %q", e.String(), src)
	}
}

func TestSyntaxErrorFields(t *testing.T) {
	t.Parallel()
	_, err := Parse(`$A == "x`)
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("Parse error %v is not a *SyntaxError", err)
	}
	if se.Offset != 6 || se.Msg != "unterminated string" {
		t.Fatalf("SyntaxError = %+v, want offset 6, unterminated string", se)
	}
	if se.Error() != "offset 6: unterminated string" {
		t.Fatalf("Error() = %q", se.Error())
	}
}

func TestNilLookup(t *testing.T) {
	t.Parallel()
	got, err := Eval(`$A == null && $B !~ /x./`, nil)
	if err != nil || !got {
		t.Fatalf("Eval with nil Lookup = %v, %v; want true, nil", got, err)
	}
}

func TestNilExpr(t *testing.T) {
	t.Parallel()
	var e *Expr
	if _, err := e.Eval(nil); err == nil {
		t.Fatal("nil *Expr Eval: want error")
	}
	if e.String() != "" || e.Vars() != nil {
		t.Fatal("nil *Expr: want empty String and nil Vars")
	}
}

func TestConcurrentEval(t *testing.T) {
	t.Parallel()
	e, err := Parse(`$B =~ /^fea/ && $A =~ $P || $C == "x"`)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			vars := map[string]string{"A": "abc", "B": "feature", "P": "/b./"}
			want := i%2 == 0
			if !want {
				vars["B"] = "main"
			}
			for range 100 {
				got, err := e.Eval(lookup(vars))
				if err != nil || got != want {
					t.Errorf("goroutine %d: Eval = %v, %v; want %v", i, got, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
}
