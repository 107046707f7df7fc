package tools_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/evidence/duckdb"
	"github.com/debugai/debugai/tools"
	"github.com/debugai/debugai/tools/toolstest"
)

// syntheticToolset returns the tools over a synthetic store of n spans
// (toolstest.Synthetic: 10-span traces over an hour) reading at most
// maxScan spans per window analysis.
func syntheticToolset(t *testing.T, n, maxScan int) (*tools.Toolset, *duckdb.Store) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "synthetic.duckdb")
	if err := toolstest.Synthetic(ctx, path, n); err != nil {
		t.Fatal(err)
	}
	st, err := duckdb.Open(ctx, path, duckdb.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := tools.DefaultConfig()
	cfg.MaxScanSpans = maxScan
	ts, err := tools.New(st, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ts, st
}

// TestTruncatedWindowsAnalyseTheLatestSpans checks that a window with more
// spans than MaxScanSpans is analysed on its latest spans and says so.
func TestTruncatedWindowsAnalyseTheLatestSpans(t *testing.T) {
	const maxScan = 120 // the last 12 traces, one of them with a futex wait
	ts, st := syntheticToolset(t, 2000, maxScan)
	ctx := context.Background()
	latest, err := st.Spans(ctx, evidence.SpanFilter{Newest: true, Limit: maxScan})
	if err != nil {
		t.Fatal(err)
	}
	isLatest := map[string]bool{}
	for i := range latest {
		isLatest[latest[i].ID()] = true
	}
	from := latest[len(latest)-1].StartNS
	note := "truncated to the latest 120 spans (from " + fmtTime(from) + ")"

	cp, err := ts.CriticalPath(ctx, tools.CriticalPathInput{Since: "2h"})
	if err != nil || !cp.Truncated || !strings.Contains(cp.Summary, note) || cp.Traces != 12 {
		t.Errorf("critical_path: %+v, %v; want 12 traces, truncated, %q", cp, err, note)
	}
	for _, op := range cp.Ops {
		for _, id := range op.Exemplars {
			if !isLatest[id] {
				t.Errorf("critical_path exemplar %s is not among the latest spans", id)
			}
		}
	}
	sd, err := ts.SliceDimensions(ctx, tools.SliceDimensionsInput{Since: "2h"})
	if err != nil || !sd.Truncated || sd.Spans != maxScan || !strings.Contains(sd.Summary, note) {
		t.Errorf("slice_dimensions: %+v, %v; want %d spans, truncated, %q", sd, err, maxScan, note)
	}
	ko, err := ts.KernelOverlays(ctx, tools.KernelOverlaysInput{Since: "2h"})
	if err != nil || !ko.Truncated || len(ko.Spans) == 0 || !strings.Contains(ko.Summary, note) ||
		!strings.Contains(ko.Summary, "kernel events read ("+fmtTime(from)) || ko.Totals.Unjoined != 0 {
		t.Fatalf("kernel_overlays: %+v, %v; want spans with kernel time, truncated, events from %s, all joined", ko, err, fmtTime(from))
	}
	for _, row := range ko.Spans {
		if !isLatest[row.ID] {
			t.Errorf("kernel_overlays row %s is not among the latest spans", row.ID)
		}
	}
}

// TestQuerySpansNewestFirst pages a window newest first: the reverse of
// start order, the first row the latest span.
func TestQuerySpansNewestFirst(t *testing.T) {
	ts, st := syntheticToolset(t, 500, 5000)
	ctx := context.Background()
	read := func(order string) []string {
		var ids []string
		cursor := ""
		for {
			out, err := ts.QuerySpans(ctx, tools.QuerySpansInput{Since: "2h", Order: order, Limit: 100, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range out.Spans {
				ids = append(ids, s.ID)
			}
			if cursor = out.NextCursor; cursor == "" {
				return ids
			}
		}
	}
	oldest, newest := read(""), read("newest")
	latest, err := st.Spans(ctx, evidence.SpanFilter{Newest: true, Limit: 1})
	if err != nil || len(newest) != 500 || newest[0] != latest[0].ID() {
		t.Fatalf("newest first: %d spans, first %v; want 500, first %v (%v)", len(newest), newest[:1], latest, err)
	}
	slices.Reverse(newest)
	if !slices.Equal(newest, oldest) {
		t.Error("newest first is not the reverse of start order")
	}
	if _, err := ts.QuerySpans(ctx, tools.QuerySpansInput{Order: "latest"}); !isArgError(err, "order") {
		t.Errorf("order latest: want an argument error on order, got %v", err)
	}
}

// fmtTime formats a time as the tools' summaries do.
func fmtTime(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

func isArgError(err error, field string) bool {
	var ae *tools.ArgError
	return errors.As(err, &ae) && ae.Field == field
}
