package remote

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/debugai/debugai/evidence"
)

// fakeReader answers from fixed data (a test double for the DuckDB store,
// whose end-to-end use through serve is tested in cmd/debugai).
type fakeReader struct{ spans []evidence.Span }

func (f fakeReader) Spans(_ context.Context, fl evidence.SpanFilter) ([]evidence.Span, error) {
	var out []evidence.Span
	for _, s := range f.spans {
		if fl.Service == "" || s.Service == fl.Service {
			out = append(out, s)
		}
	}
	return out, nil
}
func (f fakeReader) Trace(_ context.Context, id evidence.TraceID) ([]evidence.Span, error) {
	return nil, evidence.ErrNotFound
}
func (f fakeReader) KernelEvents(context.Context, evidence.KernelEventFilter) ([]evidence.KernelEvent, error) {
	return []evidence.KernelEvent{{Node: "n", Stream: "futex", Seq: 3, Type: evidence.KernelFutexWait, CgroupID: 1 << 63}}, nil
}
func (f fakeReader) Get(_ context.Context, id string) (evidence.Item, error) {
	if !strings.Contains(id, ":") {
		return evidence.Item{}, evidence.ErrBadID
	}
	return evidence.Item{ID: id, Line: evidence.LineTrace, Span: &f.spans[0]}, nil
}
func (f fakeReader) Audit(context.Context) ([]evidence.AuditCount, error) {
	return []evidence.AuditCount{{Source: "span", Key: "user.id", Action: "tokenize", Count: 3}}, nil
}
func (f fakeReader) Stats(context.Context) (evidence.Stats, error) {
	return evidence.Stats{}, errors.New("disk on fire")
}

func TestClientAgainstHandler(t *testing.T) {
	span := evidence.Span{TraceID: evidence.TraceID{0xab}, SpanID: evidence.SpanID{0xcd}, Service: "a", Name: "op",
		Attrs: evidence.Attrs{{Key: "k", Value: evidence.IntValue(5)}}}
	srv := httptest.NewServer(Handler(fakeReader{spans: []evidence.Span{span}}, "s3cret", nil))
	defer srv.Close()
	c := NewClient(State{HTTPURL: srv.URL, Token: "s3cret"})
	ctx := context.Background()

	got, err := c.Spans(ctx, evidence.SpanFilter{Service: "a"})
	if err != nil || len(got) != 1 || got[0].TraceID != span.TraceID || got[0].Attrs[0].Value.Int != 5 {
		t.Fatalf("Spans = %+v, %v", got, err)
	}
	if _, err := c.Trace(ctx, evidence.TraceID{1}); !errors.Is(err, evidence.ErrNotFound) {
		t.Errorf("Trace: want ErrNotFound, got %v", err)
	}
	if _, err := c.Get(ctx, "nocolon"); !errors.Is(err, evidence.ErrBadID) {
		t.Errorf("Get: want ErrBadID, got %v", err)
	}
	if it, err := c.Get(ctx, "span:x/y"); err != nil || it.Span == nil || it.Span.Name != "op" {
		t.Errorf("Get = %+v, %v", it, err)
	}
	if ev, err := c.KernelEvents(ctx, evidence.KernelEventFilter{}); err != nil || ev[0].CgroupID != 1<<63 {
		t.Errorf("KernelEvents = %+v, %v (uint64 high bit must survive JSON)", ev, err)
	}
	if a, err := c.Audit(ctx); err != nil || a[0].Count != 3 {
		t.Errorf("Audit = %+v, %v", a, err)
	}
	if _, err := c.Stats(ctx); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("Stats error not carried: %v", err)
	}

	bad := NewClient(State{HTTPURL: srv.URL, Token: "wrong"})
	if _, err := bad.Audit(ctx); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong token: %v", err)
	}
	resp, err := http.Post(srv.URL+APIPrefix+"spans", "application/json", strings.NewReader(`{}`))
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: %v %v", resp.Status, err)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+APIPrefix+"spans", strings.NewReader(`{"Bogus":1}`))
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown filter field: %v %v", resp.Status, err)
	}
}

func TestStateFile(t *testing.T) {
	store := filepath.Join(t.TempDir(), "s.duckdb")
	if _, err := ReadState(store); !errors.Is(err, ErrNoServer) {
		t.Fatalf("no file: want ErrNoServer, got %v", err)
	}
	if err := WriteState(StatePath(store), State{PID: os.Getpid(), HTTPURL: "http://127.0.0.1:1", Token: "t"}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(StatePath(store))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode %v, %v; want 0600", fi.Mode(), err)
	}
	st, err := ReadState(store)
	if err != nil || st.Token != "t" {
		t.Fatalf("ReadState = %+v, %v", st, err)
	}
	// A state file naming a dead process is stale.
	if err := WriteState(StatePath(store), State{PID: 1 << 30, Token: "t"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadState(store); !errors.Is(err, ErrNoServer) || !strings.Contains(err.Error(), "not running") {
		t.Fatalf("stale pid: %v", err)
	}
}

// fullReader also lists findings and lock edges.
type fullReader struct{ fakeReader }

func (fullReader) Findings(_ context.Context, f evidence.FindingFilter) ([]evidence.Finding, error) {
	return []evidence.Finding{{ID: "finding:1", Kind: f.Kinds[0], Refs: []evidence.Ref{{ID: "cp:s@t", Line: evidence.LineTrace}}}}, nil
}

func (fullReader) LockEdges(_ context.Context, f evidence.LockEdgeFilter) ([]evidence.LockEdge, error) {
	return []evidence.LockEdge{{Held: "A", Acquiring: "B", Service: f.Service}}, nil
}

func TestClientFindingsAndLockEdges(t *testing.T) {
	ctx := context.Background()
	full := httptest.NewServer(Handler(fullReader{}, "tok", nil))
	defer full.Close()
	c := NewClient(State{HTTPURL: full.URL, Token: "tok"})
	fs, err := c.Findings(ctx, evidence.FindingFilter{Kinds: []string{"latency_ks"}})
	if err != nil || len(fs) != 1 || fs[0].Kind != "latency_ks" || fs[0].Refs[0].ID != "cp:s@t" {
		t.Fatalf("Findings = %+v, %v", fs, err)
	}
	es, err := c.LockEdges(ctx, evidence.LockEdgeFilter{Service: "svc"})
	if err != nil || len(es) != 1 || es[0].Service != "svc" {
		t.Fatalf("LockEdges = %+v, %v", es, err)
	}

	basic := httptest.NewServer(Handler(fakeReader{}, "tok", nil))
	defer basic.Close()
	c = NewClient(State{HTTPURL: basic.URL, Token: "tok"})
	if _, err := c.Findings(ctx, evidence.FindingFilter{}); !errors.Is(err, ErrNotSupported) {
		t.Errorf("Findings from a reader without them: %v, want ErrNotSupported", err)
	}
	if _, err := c.LockEdges(ctx, evidence.LockEdgeFilter{}); !errors.Is(err, ErrNotSupported) {
		t.Errorf("LockEdges from a reader without them: %v, want ErrNotSupported", err)
	}
}

// reportReader adds stored reports to fakeReader.
type reportReader struct{ fakeReader }

func (reportReader) Reports(_ context.Context, f evidence.ReportFilter) ([]evidence.StoredReport, error) {
	return []evidence.StoredReport{{ID: "report:a", CreatedNS: 5, Status: f.Status, Title: "t"}}, nil
}

func (reportReader) Report(_ context.Context, id string) (evidence.StoredReport, error) {
	if id != "report:a" {
		return evidence.StoredReport{}, evidence.ErrNotFound
	}
	return evidence.StoredReport{ID: id, Body: []byte(`{"v":1}`)}, nil
}

func TestClientReadsReports(t *testing.T) {
	srv := httptest.NewServer(Handler(reportReader{}, "s3cret", nil))
	defer srv.Close()
	c := NewClient(State{HTTPURL: srv.URL, Token: "s3cret"})
	ctx := context.Background()
	list, err := c.Reports(ctx, evidence.ReportFilter{Status: "accepted"})
	if err != nil || len(list) != 1 || list[0].Status != "accepted" {
		t.Fatalf("Reports = %+v, %v", list, err)
	}
	r, err := c.Report(ctx, "report:a")
	if err != nil || string(r.Body) != `{"v":1}` {
		t.Fatalf("Report = %+v, %v", r, err)
	}
	if _, err := c.Report(ctx, "report:b"); !errors.Is(err, evidence.ErrNotFound) {
		t.Fatalf("missing report: %v", err)
	}
	plain := httptest.NewServer(Handler(fakeReader{}, "s3cret", nil))
	defer plain.Close()
	if _, err := NewClient(State{HTTPURL: plain.URL, Token: "s3cret"}).Reports(ctx, evidence.ReportFilter{}); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("reports from a reader without them: %v", err)
	}
}
