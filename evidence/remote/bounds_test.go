package remote

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/debugai/debugai/evidence"
)

// boundsReader answers SpanBounds, and Spans with a span that echoes the
// filter's order and fields in its name.
type boundsReader struct{ fakeReader }

func (boundsReader) SpanBounds(context.Context) (int64, int64, error) { return 5, 9, nil }

func (boundsReader) Spans(_ context.Context, f evidence.SpanFilter) ([]evidence.Span, error) {
	name := "oldest"
	if f.Newest {
		name = "newest"
	}
	if f.Fields == evidence.SpanFieldsCore {
		name += " core"
	}
	return []evidence.Span{{Name: name}}, nil
}

func TestClientSpanBoundsAndSpanOrder(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(Handler(boundsReader{}, "s3cret", nil))
	defer srv.Close()
	c := NewClient(State{HTTPURL: srv.URL, Token: "s3cret"})
	if lo, hi, err := c.SpanBounds(ctx); lo != 5 || hi != 9 || err != nil {
		t.Errorf("SpanBounds = %d, %d, %v; want 5, 9", lo, hi, err)
	}
	got, err := c.Spans(ctx, evidence.SpanFilter{Newest: true, Fields: evidence.SpanFieldsCore})
	if err != nil || len(got) != 1 || got[0].Name != "newest core" {
		t.Errorf("Spans(newest, core) = %+v, %v: the filter did not reach the store", got, err)
	}

	// A store without SpanBounds answers from Stats (which fails here).
	plain := httptest.NewServer(Handler(fakeReader{}, "s3cret", nil))
	defer plain.Close()
	c = NewClient(State{HTTPURL: plain.URL, Token: "s3cret"})
	if _, _, err := c.SpanBounds(ctx); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("SpanBounds over Stats: error not carried: %v", err)
	}
}
