package eval

import (
	"cmp"
	"fmt"
	"os"
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/debugai/debugai/detect/explain"
	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/ingest"
)

// SelfTimeShift is one service/operation's span self time (its duration
// less the time covered by its children) per second of window, before and
// during the incident.
type SelfTimeShift struct {
	Candidate
	// Before and During are self-time milliseconds per second of window.
	Before float64 `json:"before_ms_per_s"`
	During float64 `json:"during_ms_per_s"`
}

// Increase is During - Before.
func (s SelfTimeShift) Increase() float64 { return s.During - s.Before }

// rawSpan is the part of an OTLP span the baseline needs.
type rawSpan struct {
	trace      pcommon.TraceID
	id, parent pcommon.SpanID
	kind       ptrace.SpanKind
	service    string
	name       string
	start, end int64
}

// SelfTimeIncrease is the trivial baseline: the bundle's
// service/operations ranked by the rise of their span self time between
// the baseline files and the incident files (or between the first and
// second half of the incident files' time range when there is no
// baseline), largest first.
func SelfTimeIncrease(b Bundle) ([]SelfTimeShift, error) {
	during, err := readSpans(b.Incident)
	if err != nil {
		return nil, err
	}
	var before []rawSpan
	if len(b.Baseline) > 0 {
		if before, err = readSpans(b.Baseline); err != nil {
			return nil, err
		}
	} else {
		before, during = splitHalves(during)
	}
	endpoint := endpoints(append(slices.Clip(before), during...))
	return shifts(selfTimeRates(before, endpoint), selfTimeRates(during, endpoint)), nil
}

// endpoints maps each service/operation to the endpoint it runs in, as
// debugai's hypotheses name operations (detect/explain.EntryOperations), so
// that the baseline is scored at the same granularity.
func endpoints(spans []rawSpan) map[explain.Op]string {
	es := make([]evidence.Span, len(spans))
	for i, s := range spans {
		es[i] = evidence.Span{TraceID: evidence.TraceID(s.trace), SpanID: evidence.SpanID(s.id),
			ParentSpanID: evidence.SpanID(s.parent), Kind: evidence.SpanKind(s.kind), Service: s.service,
			Name: s.name, StartNS: s.start, EndNS: s.end}
	}
	return explain.EntryOperations(es)
}

// readSpans decodes the spans of OTLP trace files (log records skipped).
func readSpans(files []string) ([]rawSpan, error) {
	var out []rawSpan
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		err = ingest.ReadOTLPFile(f, name, ingest.FileAuto, func(rec ingest.FileRecord) error {
			if !rec.IsLogs {
				out = appendSpans(out, rec.Traces)
			}
			return nil
		})
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
	}
	return out, nil
}

func appendSpans(out []rawSpan, td ptrace.Traces) []rawSpan {
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		rs := td.ResourceSpans().At(i)
		svc := ""
		if v, ok := rs.Resource().Attributes().Get("service.name"); ok {
			svc = v.AsString()
		}
		for j := 0; j < rs.ScopeSpans().Len(); j++ {
			spans := rs.ScopeSpans().At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				s := spans.At(k)
				out = append(out, rawSpan{trace: s.TraceID(), id: s.SpanID(), parent: s.ParentSpanID(), kind: s.Kind(), service: svc,
					name: s.Name(), start: int64(s.StartTimestamp()), end: int64(s.EndTimestamp())})
			}
		}
	}
	return out
}

// splitHalves splits spans at the middle of their time range, by start.
func splitHalves(spans []rawSpan) (first, second []rawSpan) {
	lo, hi := window(spans)
	mid := lo + (hi-lo)/2
	for _, s := range spans {
		if s.start < mid {
			first = append(first, s)
		} else {
			second = append(second, s)
		}
	}
	return first, second
}

// window is the time range the spans cover.
func window(spans []rawSpan) (lo, hi int64) {
	for i, s := range spans {
		if i == 0 || s.start < lo {
			lo = s.start
		}
		if i == 0 || s.end > hi {
			hi = s.end
		}
	}
	return lo, hi
}

type spanKey struct {
	trace pcommon.TraceID
	id    pcommon.SpanID
}

// selfTimeRates sums each service/endpoint's self time (its operations'
// mapped by endpoint), in milliseconds per second of the spans' window.
func selfTimeRates(spans []rawSpan, endpoint map[explain.Op]string) map[Candidate]float64 {
	children := map[spanKey][][2]int64{}
	for _, s := range spans {
		if !s.parent.IsEmpty() {
			k := spanKey{s.trace, s.parent}
			children[k] = append(children[k], [2]int64{s.start, s.end})
		}
	}
	lo, hi := window(spans)
	secs := max(float64(hi-lo)/1e9, 1e-3)
	out := map[Candidate]float64{}
	for _, s := range spans {
		self := s.end - s.start - covered(s.start, s.end, children[spanKey{s.trace, s.id}])
		op := cmp.Or(endpoint[explain.Op{Service: s.service, Name: s.name}], s.name)
		out[Candidate{Service: s.service, Operation: op}] += float64(max(self, 0)) / 1e6 / secs
	}
	return out
}

// covered is how much of [lo, hi) the intervals cover (their union).
func covered(lo, hi int64, ivs [][2]int64) int64 {
	if len(ivs) == 0 {
		return 0
	}
	slices.SortFunc(ivs, func(a, b [2]int64) int { return cmp.Compare(a[0], b[0]) })
	var total int64
	cur := lo
	for _, iv := range ivs {
		s, e := max(iv[0], cur), min(iv[1], hi)
		if e > s {
			total += e - s
			cur = e
		}
	}
	return total
}

// shifts ranks every key of either window by its self-time increase.
func shifts(before, during map[Candidate]float64) []SelfTimeShift {
	var out []SelfTimeShift
	for k, v := range during {
		out = append(out, SelfTimeShift{Candidate: k, Before: before[k], During: v})
	}
	for k, v := range before {
		if _, ok := during[k]; !ok {
			out = append(out, SelfTimeShift{Candidate: k, Before: v})
		}
	}
	slices.SortFunc(out, func(a, b SelfTimeShift) int {
		if c := cmp.Compare(b.Increase(), a.Increase()); c != 0 {
			return c
		}
		return cmp.Compare(a.String(), b.String())
	})
	return out
}
