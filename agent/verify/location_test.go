package verify

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/debugai/debugai/agent/hypothesis"
	"github.com/debugai/debugai/agent/verify/verifytest"
	"github.com/debugai/debugai/evidence/duckdb"
)

// TestLocation runs the correct and adversarial hypotheses of package
// verifytest against a real store: the location must exist, lie in the
// incident's services and agree with what the root-cause citations are
// about, and those citations must show a change against the baseline.
func TestLocation(t *testing.T) {
	ctx := context.Background()
	st, err := duckdb.Open(ctx, filepath.Join(t.TempDir(), "ev.duckdb"), duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f, err := verifytest.Write(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range f.Cases() {
		t.Run(tc.Name, func(t *testing.T) {
			v, err := Verify(ctx, st, tc.H, tc.Scope, DefaultConfig())
			if err != nil {
				t.Fatal(err)
			}
			var codes []string
			for _, r := range v.Reasons {
				codes = append(codes, r.Code)
				if r.Detail == "" {
					t.Errorf("reason %s without detail", r.Code)
				}
			}
			want := hypothesis.Rejected
			if tc.Accepted() {
				want = hypothesis.Accepted
			}
			if v.Status != want || !reflect.DeepEqual(codes, tc.Codes) || !reflect.DeepEqual(v.Lines, tc.Lines) {
				t.Errorf("verdict %s %v lines %v; want %s %v lines %v\n%+v", v.Status, codes, v.Lines, want, tc.Codes, tc.Lines, v.Reasons)
			}
		})
	}
}

func TestAbout(t *testing.T) {
	ctx := context.Background()
	st, err := duckdb.Open(ctx, filepath.Join(t.TempDir(), "ev.duckdb"), duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f, err := verifytest.Write(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	for role, want := range map[string][]string{
		"futex": {verifytest.Callee}, "strayFutex": nil, "slowCaller": {verifytest.Callee, verifytest.Caller},
		"healthz": {verifytest.Caller}, "convoy": {verifytest.Callee}, "preExisting": {verifytest.Caller},
	} {
		got, err := About(ctx, st, verifytest.Scope(), f.IDs[role])
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v, %v; want %v", role, got, err, want)
		}
	}
	if _, err := About(ctx, st, verifytest.Scope(), "kev:nowhere/x/1"); err == nil {
		t.Error("an unknown id is about something")
	}
}
