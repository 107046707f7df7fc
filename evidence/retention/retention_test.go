package retention_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/evidence/duckdb"
	"github.com/debugai/debugai/evidence/retention"
	"github.com/debugai/debugai/tools"
)

var _ retention.Store = (*duckdb.Store)(nil)

func openStore(t *testing.T) *duckdb.Store {
	t.Helper()
	s, err := duckdb.Open(context.Background(), filepath.Join(t.TempDir(), "e.duckdb"), duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// spans returns n spans in traces of 4, one every stepNS from startNS,
// numbered from first, each with a kernel event stamped with it; bulky
// spans carry incompressible attributes.
func spans(first, n int, startNS, stepNS int64, bulky bool) ([]evidence.Span, []evidence.KernelEvent) {
	sp := make([]evidence.Span, n)
	kev := make([]evidence.KernelEvent, n)
	for i := range sp {
		k := uint64(first + i)
		var tid evidence.TraceID
		binary.BigEndian.PutUint64(tid[:8], k/4+1)
		var sid evidence.SpanID
		binary.BigEndian.PutUint64(sid[:], k+1)
		t0 := startNS + int64(i)*stepNS
		sp[i] = evidence.Span{TraceID: tid, SpanID: sid, Service: "svc", Name: "op", Kind: evidence.KindServer,
			StartNS: t0, EndNS: t0 + 1e6, HTTPRoute: "/r", HTTPMethod: "GET", HTTPStatusCode: 200}
		if bulky {
			// Values that do not compress, so that the store grows.
			h := sha256.Sum256(binary.BigEndian.AppendUint64(nil, k))
			sp[i].Attrs = evidence.Attrs{{Key: "a", Value: evidence.StringValue(hex.EncodeToString(h[:]))},
				{Key: "b", Value: evidence.StringValue(hex.EncodeToString(h[:16]))}}
		}
		kev[i] = evidence.KernelEvent{Node: "n", Stream: "futex/0", Seq: k, Type: evidence.KernelFutexWait,
			TimeNS: t0 + 10, DurationNS: 5, TraceID: tid, SpanID: sid}
	}
	return sp, kev
}

// TestPassKeepsWhatReportsCite: a pass with an age limit deletes the old
// evidence except what a stored report cites, directly or through a cited
// finding, and get_evidence resolves every citation of the report after
// it.
func TestPassKeepsWhatReportsCite(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Now()
	oldStart := now.Add(-10 * 24 * time.Hour).UnixNano()
	oldSpans, oldKev := spans(0, 400, oldStart, int64(time.Second), false)
	newSpans, newKev := spans(400, 400, now.Add(-time.Hour).UnixNano(), int64(time.Second), false)
	for _, b := range []*evidence.Batch{{Spans: oldSpans, KernelEvents: oldKev}, {Spans: newSpans, KernelEvents: newKev}} {
		if err := st.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	cp := evidence.ChangePointEvidenceID("svc op p50", oldStart)
	cited := evidence.Finding{Kind: "latency_changepoint", Subject: "svc op p50", Summary: "rose", Score: 1, Confidence: 0.9,
		Refs:    []evidence.Ref{{ID: cp, Line: evidence.LineTrace}, {ID: oldKev[100].ID(), Line: evidence.LineKernelFutex}},
		StartNS: oldStart, EndNS: oldStart + int64(time.Minute)}
	cited.ID = evidence.NewFindingID(cited.Kind, cited.Subject, cited.Refs)
	listed := evidence.Finding{Kind: "critical_path_dominant", Subject: "svc op", Summary: "dominant", Score: 1, Confidence: 0.9,
		Refs: []evidence.Ref{{ID: oldSpans[200].ID(), Line: evidence.LineTrace}}, StartNS: oldStart, EndNS: oldStart + 1}
	listed.ID = evidence.NewFindingID(listed.Kind, listed.Subject, listed.Refs)
	uncited := evidence.Finding{Kind: "critical_path_dominant", Subject: "svc other", Summary: "dominant", Score: 1, Confidence: 0.9,
		Refs: []evidence.Ref{{ID: oldSpans[300].ID(), Line: evidence.LineTrace}}, StartNS: oldStart, EndNS: oldStart + 1}
	uncited.ID = evidence.NewFindingID(uncited.Kind, uncited.Subject, uncited.Refs)
	if err := st.WriteFindings(ctx, []evidence.Finding{cited, listed, uncited}); err != nil {
		t.Fatal(err)
	}
	// A report in the shape of report.JSON: claims cite a span and a
	// statistic, the findings list names another finding.
	body, err := json.Marshal(map[string]any{
		"schema": "debugai.report/v1", "title": "t", "status": "accepted",
		"claims": []any{map[string]any{"text": "x", "citations": []any{
			map[string]any{"id": oldSpans[10].ID(), "resolved": true},
			map[string]any{"id": cp, "resolved": true}}}},
		"findings": []any{map[string]any{"id": listed.ID, "kind": listed.Kind}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.WriteReport(ctx, evidence.StoredReport{ID: "report:1", CreatedNS: oldStart, Status: "accepted", Title: "t", Body: body}); err != nil {
		t.Fatal(err)
	}
	cfg := retention.DefaultConfig()
	cfg.MaxAge, cfg.BatchRows = 72*time.Hour, 100
	r, err := retention.NewRunner(st, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.Pass(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Kept: the cited span's trace (4 spans) and the trace of the span the
	// listed finding cites, with their kernel events; the kernel event the
	// cited finding cites.
	if p.Reports != 1 || p.Protected != 3 || p.Deleted.Spans != 400-8 || p.Deleted.KernelEvents != 400-8-1 ||
		p.Deleted.Findings != 1 || !p.Deleted.Done {
		t.Errorf("pass %+v; want 1 report, 3 ids, 392 spans, 391 kernel events, 1 finding deleted, done", p)
	}
	ts, err := tools.New(st, tools.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{oldSpans[10].ID(), cp, listed.ID, cited.ID, oldKev[100].ID(), oldSpans[200].ID(), newSpans[0].ID()}
	out, err := ts.GetEvidence(ctx, tools.GetEvidenceInput{IDs: ids})
	if err != nil {
		t.Fatal(err)
	}
	for i, it := range out.Items {
		if !it.Found {
			t.Errorf("get_evidence of kept ids[%d] (%s): %s", i, evidence.IDKind(ids[i]), it.Error)
		}
	}
	for _, id := range []string{uncited.ID, oldSpans[300].ID(), oldKev[0].ID()} {
		if _, err := st.Get(ctx, id); !errors.Is(err, evidence.ErrNotFound) {
			t.Errorf("Get of deleted %s: %v, want not found", evidence.IDKind(id), err)
		}
	}
	if rep, err := st.Report(ctx, "report:1"); err != nil || len(rep.Body) == 0 {
		t.Errorf("the report: %v", err)
	}
	// A second pass has nothing to delete.
	p, err = r.Pass(ctx)
	if err != nil || p.Deleted.Rows() != 0 {
		t.Errorf("second pass %+v, %v; want nothing deleted", p, err)
	}
}

// TestPassReachesSizeLimit: with a size limit below what the store takes,
// a pass deletes the oldest evidence until the data take at most 90 % of
// the limit, as measured after a checkpoint.
func TestPassReachesSizeLimit(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	start := time.Now().Add(-time.Hour).UnixNano()
	const total, batch = 300_000, 50_000
	for i := 0; i < total; i += batch {
		sp, kev := spans(i, batch, start+int64(i)*1000, 1000, true)
		if err := st.Write(ctx, &evidence.Batch{Spans: sp, KernelEvents: kev}); err != nil {
			t.Fatal(err)
		}
	}
	before, _, err := st.Size(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	limit := max(int64(retention.MinMaxBytes), before.InUse()/2)
	if before.InUse() <= limit {
		t.Fatalf("the store takes %d bytes, not above the %d limit: the test needs more data", before.InUse(), limit)
	}
	cfg := retention.DefaultConfig()
	cfg.MaxAge, cfg.MaxBytes, cfg.BatchRows, cfg.MaxBatches = 0, limit, 20_000, 50
	r, err := retention.NewRunner(st, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.Pass(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p.OverSize || p.Size.InUse() > limit/10*9 {
		t.Errorf("after the pass the store takes %d bytes (over: %v, %s), want at most %d", p.Size.InUse(), p.OverSize, p.Why, limit/10*9)
	}
	stats, err := st.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Spans == 0 || stats.Spans >= total || p.Deleted.Spans != total-stats.Spans {
		t.Errorf("%d spans left, %d deleted, of %d", stats.Spans, p.Deleted.Spans, total)
	}
	// Oldest first: what is left is the newest.
	if want := start + (total-stats.Spans)*1000; stats.MinStartNS < want {
		t.Errorf("the oldest span left starts at +%d ns, want at least +%d", stats.MinStartNS-start, want-start)
	}
	t.Logf("in use %d → %d bytes (limit %d), file %d → %d bytes, %d batches",
		before.InUse(), p.Size.InUse(), limit, before.FileBytes, p.Size.FileBytes, p.Batches)
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*retention.Config)
		want string
	}{
		{"default", func(*retention.Config) {}, ""},
		{"off", func(c *retention.Config) { c.MaxAge = 0 }, ""},
		{"negative age", func(c *retention.Config) { c.MaxAge = -time.Hour }, "age limit must not be negative"},
		{"tiny age", func(c *retention.Config) { c.MaxAge = time.Second }, "age limit must be at least 1m"},
		{"negative size", func(c *retention.Config) { c.MaxBytes = -1 }, "size limit must not be negative"},
		{"tiny size", func(c *retention.Config) { c.MaxBytes = 1 << 20 }, "size limit must be at least 16 MiB"},
		{"interval", func(c *retention.Config) { c.Every = 0 }, "interval"},
		{"batch", func(c *retention.Config) { c.BatchRows = 0 }, "batch size"},
		{"batches", func(c *retention.Config) { c.MaxBatches = 0 }, "at least 1 batch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := retention.DefaultConfig()
			tc.edit(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.want != "" && (err == nil || !errors.Is(err, retention.ErrConfig) || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate: %v, want %q", err, tc.want)
			}
		})
	}
}

// reportingStore is the real store with a report written after the first
// deletion batch, as serve's analysis may store one while a pass runs.
type reportingStore struct {
	*duckdb.Store
	report  evidence.StoredReport
	batches int
}

func (s *reportingStore) DeleteBefore(ctx context.Context, cutoffNS int64, keep []string, maxRows int) (evidence.PruneResult, error) {
	res, err := s.Store.DeleteBefore(ctx, cutoffNS, keep, maxRows)
	if s.batches++; s.batches == 1 && err == nil {
		err = s.Store.WriteReport(ctx, s.report)
	}
	return res, err
}

// TestReportStoredDuringAPassIsHonoured: a report stored between two
// batches of a pass protects what it cites from the next batch.
func TestReportStoredDuringAPassIsHonoured(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	oldSpans, _ := spans(0, 400, time.Now().Add(-10*24*time.Hour).UnixNano(), int64(time.Second), false)
	recent, _ := spans(400, 4, time.Now().Add(-time.Minute).UnixNano(), int64(time.Second), false)
	if err := st.Write(ctx, &evidence.Batch{Spans: append(oldSpans, recent...)}); err != nil {
		t.Fatal(err)
	}
	late := oldSpans[350].ID() // deleted by the pass's last batch unless protected
	body, err := json.Marshal(map[string]any{"claims": []any{map[string]any{"citations": []any{map[string]any{"id": late}}}}})
	if err != nil {
		t.Fatal(err)
	}
	rs := &reportingStore{Store: st, report: evidence.StoredReport{ID: "report:late", Status: "accepted", Title: "t", Body: body}}
	cfg := retention.DefaultConfig()
	cfg.MaxAge, cfg.BatchRows = 72*time.Hour, 100
	r, err := retention.NewRunner(rs, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.Pass(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p.Batches < 4 || p.Reports != 1 || p.Deleted.Spans != 400-4 {
		t.Errorf("pass %+v; want 4 or more batches, the report read, all but its trace's 4 spans deleted", p)
	}
	if _, err := st.Get(ctx, late); err != nil {
		t.Errorf("the span the late report cites: %v", err)
	}
}
