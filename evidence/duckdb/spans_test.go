package duckdb

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/debugai/debugai/evidence"
)

// TestSpansNewestFirst pages through the same spans oldest and newest
// first, with ties in start time, on both query paths (span_rows alone and
// the spans view for a service filter): newest first is the exact reverse.
func TestSpansNewestFirst(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	spans := makeSpans(0, 45, 1e18)
	for i := range spans {
		spans[i].StartNS = 1e18 + int64(i/3)*1000 // three spans per start time
	}
	mustWrite(t, s, &evidence.Batch{Spans: spans})
	for _, f := range []evidence.SpanFilter{
		{},
		{SinceNS: spans[4].StartNS, UntilNS: spans[40].StartNS},
		{Service: "cart", MinDurationNS: 1},
	} {
		oldest := readPages(t, s, f, 4)
		f.Newest = true
		newest := readPages(t, s, f, 4)
		if len(oldest) == 0 || len(newest) != len(oldest) {
			t.Fatalf("%+v: %d spans newest first, %d oldest first", f, len(newest), len(oldest))
		}
		slices.Reverse(newest)
		if !reflect.DeepEqual(newest, oldest) {
			t.Errorf("%+v: newest first is not the reverse of oldest first", f)
		}
	}
	first, err := s.Spans(ctx, evidence.SpanFilter{Newest: true, Limit: 1})
	if err != nil || len(first) != 1 || first[0].SpanID != spans[44].SpanID {
		t.Errorf("first newest span = %+v, %v; want %s", first, err, spans[44].SpanID)
	}
}

// readPages reads every span f selects, limit at a time.
func readPages(t *testing.T, s *Store, f evidence.SpanFilter, limit int) []evidence.SpanID {
	t.Helper()
	var ids []evidence.SpanID
	for f.Limit, f.Offset = limit, 0; ; f.Offset += limit {
		page, err := s.Spans(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		for _, sp := range page {
			ids = append(ids, sp.SpanID)
		}
		if len(page) < limit {
			return ids
		}
	}
}

func TestSpansCoreFieldsAndEvents(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	b := fullBatch()
	mustWrite(t, s, b)
	want := b.Spans[0]
	want.ResourceID, want.StatusMessage, want.RPCSystem, want.RPCService, want.RPCMethod = "", "", "", "", ""
	want.DBStatement, want.DBQueryID, want.ExceptionType, want.Attrs, want.Events = "", "", "", nil, nil
	got, err := s.Spans(ctx, evidence.SpanFilter{Fields: evidence.SpanFieldsCore})
	if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Errorf("core fields:\n got %+v, %v\nwant %+v", got, err, want)
	}
	got, err = s.Spans(ctx, evidence.SpanFilter{Newest: true, WithEvents: true, Service: "checkout"})
	if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], b.Spans[0]) {
		t.Errorf("every field with events:\n got %+v, %v\nwant %+v", got, err, b.Spans[0])
	}
}

func TestSpanBounds(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	if lo, hi, err := s.SpanBounds(ctx); lo != 0 || hi != 0 || err != nil {
		t.Errorf("empty store: SpanBounds = %d, %d, %v; want 0, 0", lo, hi, err)
	}
	spans := makeSpans(0, 20, 1e18)
	mustWrite(t, s, &evidence.Batch{Spans: spans})
	st := mustStats(t, s)
	lo, hi, err := s.SpanBounds(ctx)
	if err != nil || lo != st.MinStartNS || hi != st.MaxEndNS || lo != spans[0].StartNS {
		t.Errorf("SpanBounds = %d, %d, %v; want Stats' %d, %d", lo, hi, err, st.MinStartNS, st.MaxEndNS)
	}
}
