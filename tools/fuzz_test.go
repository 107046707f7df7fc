package tools_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/tools"
)

// FuzzCall feeds arbitrary arguments to every tool: each call returns a
// result or an error, never panics, and a result is valid JSON.
func FuzzCall(f *testing.F) {
	for _, s := range []string{`{}`, `null`, `{"limit":5,"cursor":"5"}`, `{"trace_id":"span:00/00"}`,
		`{"ids":["kev:a/b/1","edge:x>y","cp:"]}`, `{"since":"-5m"}`, `{"kinds":[1]}`, `[`, `{"hypothesis":{"claims":[{}]}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, args string) {
		ts := newToolset(t)
		for _, spec := range ts.Specs() {
			out, err := ts.Call(context.Background(), spec.Name, json.RawMessage(args))
			var ae *tools.ArgError
			switch {
			case err == nil && !json.Valid(out):
				t.Fatalf("%s(%s): invalid JSON %s", spec.Name, args, out)
			case err != nil && !errors.As(err, &ae) && !errors.Is(err, evidence.ErrNotFound) && !errors.Is(err, evidence.ErrBadID):
				t.Logf("%s(%s): %v", spec.Name, args, err)
			}
		}
	})
}
