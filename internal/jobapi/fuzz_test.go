package jobapi

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

// FuzzDecodeSpec feeds DecodeSpec what a database row or a server's answer could hold. It
// must not panic, and what it accepts must survive the way back: encoded again as this
// version, it decodes to a job that encodes the same (empty lists and absent ones are the
// same job, but for needs and dependencies, whose null and [] the encoding keeps apart).
func FuzzDecodeSpec(f *testing.F) {
	v0, err := os.ReadFile("testdata/v0-spec.json")
	if err != nil {
		f.Fatal(err)
	}
	v1, err := json.Marshal(NewSpec(fullJob()))
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range [][]byte{v0, v1, []byte(`{}`), []byte(`null`), []byte(`{"version": 2}`),
		[]byte(`{"version": 1, "timeout_seconds": 1e-9, "needs": [], "dependencies": null}`),
		[]byte(`{"timeout": -1}`), []byte(`{"services": [{"Name": "x", "Variables": [{"Key": "A"}]}]}`)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeSpec(b)
		if err != nil {
			return
		}
		again, err := json.Marshal(NewSpec(p))
		if err != nil {
			t.Fatalf("encode what was decoded: %v", err)
		}
		q, err := DecodeSpec(again)
		if err != nil {
			t.Fatalf("decode %s again: %v", again, err)
		}
		twice, err := json.Marshal(NewSpec(q))
		if err != nil {
			t.Fatalf("encode what was decoded twice: %v", err)
		}
		if !bytes.Equal(again, twice) {
			t.Fatalf("the way back changes the job:\n %s\n %s", again, twice)
		}
	})
}
