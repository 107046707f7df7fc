package analyze

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/evidence/duckdb"
)

// TestRecent: one pass over a real store analyzes the last window against
// the one before it and stores what it finds (db became slow in the last
// minute); a second pass with nothing new is skipped.
func TestRecent(t *testing.T) {
	ctx := context.Background()
	st, err := duckdb.Open(ctx, filepath.Join(t.TempDir(), "ev.duckdb"), duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if pass, _, err := Recent(ctx, st, DefaultLoopConfig(), 0); err != nil || pass.Skipped == "" {
		t.Fatalf("empty store: %+v, %v; want a skipped pass", pass, err)
	}
	writeTwoMinutes(t, st, 40e6)
	cfg := DefaultLoopConfig()
	pass, end, err := Recent(ctx, st, cfg, 0)
	if err != nil || pass.Skipped != "" {
		t.Fatalf("pass %+v, %v", pass, err)
	}
	if n := len(pass.Input.BaseTraces); n < 50 {
		t.Errorf("baseline of %d traces, want the minute before (about 60)", n)
	}
	stored, err := st.Findings(ctx, evidence.FindingFilter{Kinds: []string{"change_explained"}})
	if err != nil || len(stored) == 0 || stored[0].Service != "db" {
		t.Fatalf("stored change_explained findings %+v, %v; want db's", stored, err)
	}
	again, end2, err := Recent(ctx, st, cfg, end)
	if err != nil || again.Skipped == "" || end2 != end {
		t.Errorf("second pass %+v, %v; want skipped (nothing new)", again, err)
	}
}

func TestLoopConfigValidate(t *testing.T) {
	if err := DefaultLoopConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []LoopConfig{{Every: time.Millisecond, Window: time.Minute, MaxItems: 1},
		{Every: time.Second, Window: time.Millisecond, MaxItems: 1}, {Every: time.Second, Window: time.Minute}} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v is valid", c)
		}
	}
}

// writeTwoMinutes stores two minutes of web -> db requests, one a second;
// in the second minute db takes slowerNS longer.
func writeTwoMinutes(t *testing.T, st *duckdb.Store, slowerNS int64) {
	t.Helper()
	const t0 = int64(1_800_000_000e9)
	var spans []evidence.Span
	for i := range 120 {
		start := t0 + int64(i)*1e9
		db := int64(2e6 + (i%5)*1e5)
		if i >= 60 {
			db += slowerNS
		}
		id := evidence.TraceID{byte(i >> 8), byte(i), 1}
		spans = append(spans,
			evidence.Span{TraceID: id, SpanID: evidence.SpanID{1}, Service: "web", Name: "GET /", Kind: evidence.KindServer,
				StartNS: start, EndNS: start + db + 4e6},
			evidence.Span{TraceID: id, SpanID: evidence.SpanID{2}, ParentSpanID: evidence.SpanID{1}, Service: "web", Name: "query",
				Kind: evidence.KindClient, StartNS: start + 1e6, EndNS: start + db + 3e6},
			evidence.Span{TraceID: id, SpanID: evidence.SpanID{3}, ParentSpanID: evidence.SpanID{2}, Service: "db", Name: "SELECT",
				Kind: evidence.KindServer, StartNS: start + 15e5, EndNS: start + db + 25e5})
	}
	if err := st.Write(context.Background(), &evidence.Batch{Spans: spans}); err != nil {
		t.Fatal(err)
	}
}
