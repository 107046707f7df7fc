package tools

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/debugai/debugai/detect/attribution"
	"github.com/debugai/debugai/evidence"
)

// SliceDimensionsInput selects the spans to slice.
type SliceDimensionsInput struct {
	Service      string  `json:"service,omitempty" jsonschema:"only spans of this service"`
	Name         string  `json:"name,omitempty" jsonschema:"only spans with this name (exact), e.g. an endpoint's server span"`
	Since        string  `json:"since,omitempty" jsonschema:"RFC 3339 time or a duration before the end of the stored data (default: the last 5m)"`
	Until        string  `json:"until,omitempty" jsonschema:"RFC 3339 time or a duration before the end of the stored data"`
	SlowQuantile float64 `json:"slow_quantile,omitempty" jsonschema:"spans above this duration quantile are slow (default 0.9; 0.5..0.999)"`
	Limit        int     `json:"limit,omitempty" jsonschema:"rows per page (default 20, at most 100)"`
	Cursor       string  `json:"cursor,omitempty" jsonschema:"next_cursor of the previous page"`
}

// DimensionRow is one (dimension, value) tested for over-representation
// among slow spans.
type DimensionRow struct {
	Dimension   string   `json:"dimension"`
	Value       string   `json:"value"`
	Items       int      `json:"items"`
	Slow        int      `json:"slow"`
	Rate        float64  `json:"rate" jsonschema:"slow share among spans with the value"`
	BaseRate    float64  `json:"base_rate" jsonschema:"slow share among all spans with the dimension"`
	Lift        float64  `json:"lift"`
	Q           float64  `json:"q" jsonschema:"Benjamini–Hochberg adjusted p-value"`
	Significant bool     `json:"significant"`
	Exemplars   []string `json:"exemplars" jsonschema:"span IDs of slow spans with the value"`
}

// SliceDimensionsOutput lists the tested values, significant ones first.
type SliceDimensionsOutput struct {
	Summary     string         `json:"summary"`
	Spans       int            `json:"spans"`
	ThresholdMS float64        `json:"threshold_ms" jsonschema:"slow above this duration"`
	Truncated   bool           `json:"truncated,omitempty" jsonschema:"more spans than the tool reads; the latest were sliced; narrow the window"`
	Dimensions  []DimensionRow `json:"dimensions"`
	NextCursor  string         `json:"next_cursor,omitempty"`
}

// SliceDimensions labels the slowest spans of a window and tests every
// dimension value (service, operation, version, host, route, status, peer,
// database) for over-representation among them (Fisher or z test,
// Benjamini–Hochberg across all values).
func (t *Toolset) SliceDimensions(ctx context.Context, in SliceDimensionsInput) (SliceDimensionsOutput, error) {
	out := SliceDimensionsOutput{Dimensions: []DimensionRow{}}
	pg, err := t.page(in.Limit, in.Cursor)
	if err != nil {
		return out, err
	}
	q := in.SlowQuantile
	if q == 0 {
		q = 0.9
	}
	if q < 0.5 || q > 0.999 {
		return out, argErrorf("slow_quantile", "%v: want 0.5..0.999", in.SlowQuantile)
	}
	w, err := t.window(ctx, in.Since, in.Until, true)
	if err != nil {
		return out, err
	}
	spans, trunc, err := t.scanSpans(ctx, evidence.SpanFilter{Service: in.Service, Name: in.Name, SinceNS: w.since, UntilNS: w.until})
	if err != nil {
		return out, fmt.Errorf("reading spans: %w", err)
	}
	out.Spans, out.Truncated = len(spans), trunc
	if len(spans) < 2 {
		out.Summary = fmt.Sprintf("%d spans match: too few to slice", len(spans))
		return out, nil
	}
	durs := make([]float64, len(spans))
	for i := range spans {
		durs[i] = float64(spans[i].DurationNS())
	}
	slow, thr, err := attribution.LabelSlow(durs, q)
	if err != nil {
		return out, fmt.Errorf("labelling slow spans: %w", err)
	}
	items := make([]attribution.Item, len(spans))
	for i := range spans {
		items[i] = attribution.Item{ID: spans[i].ID(), Slow: slow[i], Dims: spanDims(&spans[i])}
	}
	rep, err := attribution.Slice(items, attribution.DefaultConfig())
	if err != nil {
		return out, fmt.Errorf("slicing: %w", err)
	}
	rows := dimensionRows(&rep)
	out.ThresholdMS = ms(int64(thr))
	if pg.offset < len(rows) {
		out.Dimensions = rows[pg.offset:min(len(rows), pg.offset+pg.limit)]
	}
	out.NextCursor = pg.next(pg.offset+pg.limit < len(rows))
	out.Summary = fmt.Sprintf("%d spans%s, %d slow (above %.1fms, quantile %g); %d values tested, %d significantly over-represented among slow spans",
		rep.Items, truncNote(spans, trunc), rep.Slow, out.ThresholdMS, q, len(rep.Tested), len(rep.Significant))
	if len(rep.Significant) > 0 {
		s := rep.Significant[0]
		out.Summary += fmt.Sprintf("; strongest: %s=%s lift %.2f", s.Dimension, s.Value, s.Lift)
	}
	return out, nil
}

// dimensionRows lists the significant values first (largest lift), then
// the other values that have slow spans; values without slow spans cite
// nothing and are left out.
func dimensionRows(rep *attribution.SliceReport) []DimensionRow {
	var rows []DimensionRow
	add := func(o *attribution.Overrep) {
		ex := o.Exemplars[:min(3, len(o.Exemplars))]
		rows = append(rows, DimensionRow{Dimension: o.Dimension, Value: truncate(o.Value, 80), Items: o.Items, Slow: o.Slow,
			Rate: round3(o.Rate), BaseRate: round3(o.BaseRate), Lift: round3(o.Lift), Q: round3(o.Q),
			Significant: o.Significant, Exemplars: append([]string{}, ex...)})
	}
	for i := range rep.Significant {
		add(&rep.Significant[i])
	}
	for i := range rep.Tested {
		if o := &rep.Tested[i]; !o.Significant && o.Slow > 0 && o.Lift > 1 {
			add(o)
		}
	}
	return rows
}

func spanDims(s *evidence.Span) map[string]string {
	d := map[string]string{"service": s.Service, "operation": s.Service + " " + s.Name, "version": s.Version,
		"host": s.Host, "route": s.HTTPRoute, "peer": s.PeerService, "db": s.DBSystem}
	switch s.StatusCode {
	case evidence.StatusError:
		d["status"] = "error"
	default:
		d["status"] = "ok"
	}
	if s.HTTPStatusCode != 0 {
		d["http_status"] = strconv.FormatInt(s.HTTPStatusCode, 10)
	}
	for k, v := range d {
		if strings.TrimSpace(v) == "" {
			delete(d, k)
		}
	}
	return d
}
