// Package toolstest builds evidence stores for testing and benchmarking
// the tools: a real DuckDB file filled through the real import path (OTLP
// file -> privacy -> store), plus kernel events and lock-order edges joined
// to its spans, the detectors' findings and one stored report.
package toolstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/debugai/debugai/correlate"
	"github.com/debugai/debugai/detect/critpath"
	"github.com/debugai/debugai/detect/explain"
	"github.com/debugai/debugai/detect/lockgraph"
	"github.com/debugai/debugai/detect/regression"
	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/evidence/duckdb"
	"github.com/debugai/debugai/ingest"
	"github.com/debugai/debugai/privacy"
)

// HotROD is the shared recording of HotROD's mutex incident, relative to
// the shared test data folder (see SharedTestdata).
const HotROD = "hotrod/incident_mutex_default/traces.otlp.jsonl.gz"

// SharedTestdata finds rel under shared/testdata beside the repository
// (CI checks the repository out with ../shared next to it), looking up
// from the working directory.
func SharedTestdata(rel string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for range 6 {
		p := filepath.Join(dir, "..", "shared", "testdata", rel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		dir = filepath.Dir(dir)
	}
	return "", fmt.Errorf("shared/testdata/%s not found beside the repository: %w", rel, os.ErrNotExist)
}

// ReportID is the ID of the report Build stores.
const ReportID = "report:toolstest"

// Lock names of the inversion Build adds.
const (
	LockA = "db.mu"
	LockB = "cache.mu"
)

// Build creates a store at dir/evidence.duckdb from the OTLP file src, adds
// kernel events stamped to the first 40 spans of the slowest operation,
// a two-lock inversion, the findings of critpath, regression and lockgraph
// and one report, closes it and returns its path.
func Build(ctx context.Context, dir, src string) (_ string, err error) {
	path := filepath.Join(dir, "evidence.duckdb")
	st, err := duckdb.Open(ctx, path, duckdb.Options{})
	if err != nil {
		return "", err
	}
	defer func() { err = errors.Join(err, st.Close()) }()
	if err := Import(ctx, st, src, filepath.Join(dir, "hmac.key")); err != nil {
		return "", err
	}
	spans, err := st.Spans(ctx, evidence.SpanFilter{Limit: 1 << 30, WithEvents: true})
	if err != nil {
		return "", err
	}
	extra := Kernel(spans)
	if err := st.Write(ctx, extra); err != nil {
		return "", fmt.Errorf("writing kernel evidence: %w", err)
	}
	fs, err := Findings(spans, extra.KernelEvents, extra.LockEdges)
	if err != nil {
		return "", err
	}
	if err := st.WriteFindings(ctx, fs); err != nil {
		return "", err
	}
	body, _ := json.Marshal(map[string]any{"schema": "debugai.report/v1", "summary": "lock convoy on " + LockA})
	return path, st.WriteReport(ctx, evidence.StoredReport{ID: ReportID, CreatedNS: spans[len(spans)-1].EndNS,
		Status: "accepted", Title: "lock convoy on " + LockA, Body: body})
}

// Import reads an OTLP/JSON-lines file through the privacy layer into w.
func Import(ctx context.Context, w evidence.Writer, src, keyFile string) error {
	cfg := privacy.DefaultConfig()
	cfg.Keys.File = keyFile
	ring, err := privacy.LoadKeyRing(cfg.Keys, nil)
	if err != nil {
		return err
	}
	red, err := privacy.NewRedactor(cfg, ring)
	if err != nil {
		return err
	}
	conv := ingest.NewPrivacyConverter(red)
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	return ingest.ReadOTLPFile(f, src, ingest.FileAuto, func(rec ingest.FileRecord) error {
		var b *evidence.Batch
		if rec.IsLogs {
			b, _, _ = conv.ConvertLogs(rec.Logs)
		} else {
			b, _, _ = conv.ConvertTraces(rec.Traces)
		}
		return w.Write(ctx, b)
	})
}

// Kernel returns kernel events stamped to spans of the operation with the
// most spans over 10ms (a futex wait and a run-queue delay each, for up to
// 40 spans) and a two-lock inversion in that operation's service.
func Kernel(spans []evidence.Span) *evidence.Batch {
	b := &evidence.Batch{}
	target := slowOp(spans)
	var seq uint64
	var svc string
	for i := range spans {
		s := &spans[i]
		if s.Service+" "+s.Name != target || s.DurationNS() < 10e6 || seq >= 80 {
			continue
		}
		svc = s.Service
		d := s.DurationNS()
		for _, ev := range []struct {
			typ evidence.KernelEventType
			dur int64
		}{{evidence.KernelFutexWait, d / 2}, {evidence.KernelRunqueueDelay, d / 20}} {
			seq++
			b.KernelEvents = append(b.KernelEvents, evidence.KernelEvent{Node: "node-1", Stream: string(ev.typ), Seq: seq,
				Type: ev.typ, Service: s.Service, TimeNS: s.StartNS + d*3/4, DurationNS: ev.dur, PID: 100, TID: 200 + int64(seq),
				TraceID: s.TraceID, SpanID: s.SpanID, Addr: 0xdead0, Attrs: evidence.Attrs{{Key: evidence.AttrLockName, Value: evidence.StringValue(LockA)}}})
		}
	}
	first, last := spans[0].StartNS, spans[len(spans)-1].EndNS
	for _, e := range [][2]string{{LockA, LockB}, {LockB, LockA}} {
		b.LockEdges = append(b.LockEdges, evidence.LockEdge{Node: "node-1", Service: svc, PID: 100, Held: e[0], Acquiring: e[1],
			HeldSite: "store.go:10", AcquiringSite: "store.go:20", Count: 3, FirstNS: first, LastNS: last})
	}
	return b
}

// slowOp names ("service name") the operation with the most spans of 10ms
// or more.
func slowOp(spans []evidence.Span) string {
	n := map[string]int{}
	best := ""
	for i := range spans {
		if spans[i].DurationNS() < 10e6 {
			continue
		}
		k := spans[i].Service + " " + spans[i].Name
		n[k]++
		if best == "" || n[k] > n[best] || (n[k] == n[best] && k < best) {
			best = k
		}
	}
	return best
}

// Findings runs critpath, regression (with kernel overlays) and lockgraph
// over the evidence, and scores them with the ranking model as detect does
// without a baseline.
func Findings(spans []evidence.Span, events []evidence.KernelEvent, edges []evidence.LockEdge) ([]evidence.Finding, error) {
	cfg := correlate.DefaultConfig()
	as, _, err := correlate.Join(spans, events, cfg)
	if err != nil {
		return nil, err
	}
	ovs, err := correlate.Overlays(spans, events, as, cfg)
	if err != nil {
		return nil, err
	}
	_, out, err := critpath.Analyze(spans, critpath.DefaultConfig())
	if err != nil {
		return nil, err
	}
	_, rfs, err := regression.Analyze(regression.Input{Spans: spans, Overlays: ovs}, regression.DefaultConfig())
	if err != nil {
		return nil, err
	}
	_, lfs, err := lockgraph.Analyze(edges, nil, lockgraph.DefaultConfig())
	if err != nil {
		return nil, err
	}
	out = append(append(out, rfs...), lfs...)
	m, err := explain.Build(explain.Input{Spans: spans, Overlays: ovs, Kernel: events}, explain.DefaultConfig())
	if err != nil {
		return nil, err
	}
	m.Score(out, explain.NewIndex(spans, events, edges))
	for i := range out {
		if out[i].StartNS == 0 && out[i].EndNS == 0 {
			out[i].StartNS, out[i].EndNS = spans[0].StartNS, spans[len(spans)-1].EndNS
		}
	}
	return out, nil
}
