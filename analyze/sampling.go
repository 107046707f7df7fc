package analyze

import (
	"fmt"
	"math"
	"slices"

	"github.com/debugai/debugai/detect/attribution"
	"github.com/debugai/debugai/detect/explain"
	"github.com/debugai/debugai/detect/regression"
	"github.com/debugai/debugai/detect/shape"
	"github.com/debugai/debugai/evidence"
)

// Sampling is what the stored data say about trace sampling
// (docs/sampling.md). The node stamps the kernel events of every traced
// request with its trace id, whether or not the trace is kept later; a
// stamped event whose trace has no stored span points at a trace that
// was not kept (tail sampling, or a trace lost on the way).
type Sampling struct {
	// StampedEvents counts the kernel events stamped with a trace id that
	// lie within the stored spans' time range (less a margin at each end);
	// MissingEvents those whose trace has no stored span.
	StampedEvents, MissingEvents int
	// StampedTraces and MissingTraces count the same by distinct trace.
	StampedTraces, MissingTraces int
	// Sampled: enough stamped traces (MinSampledTraces) and at least
	// MinMissingShare of them not stored, in one window at least.
	Sampled bool
	// WindowShare is, when the incident and baseline windows were judged
	// apart, the largest share of stamped traces not stored in one of
	// them (0 otherwise).
	WindowShare float64
}

// Thresholds of DetectSampling. Unsampled stores show a missing share
// near zero (only traces cut by a window's edge); a tail sampler keeping
// errors, slow traces and a few percent of the rest leaves most stamped
// traces unstored. A fifth is far from both.
const (
	MinSampledTraces = 20
	MinMissingShare  = 0.2
)

// AttrTracesNotKept is the finding attribute that marks a statistic
// computed over tail-sampled traces: the share of stamped traces that
// were not kept.
const AttrTracesNotKept = "traces_not_kept_share"

// DetectSampling compares the trace ids stamped on kernel events with the
// stored spans. Kernel events near the ends of the spans' time range are
// left out (their trace may have started before the window or not have
// arrived yet), as are events of a service with no stored span when the
// event names its service.
func DetectSampling(spans []evidence.Span, kernel []evidence.KernelEvent) Sampling {
	return detectSelected(spans, kernel, nil, nil)
}

// detectSelected is DetectSampling over the spans and kernel events the
// predicates select (nil: all).
func detectSelected(spans []evidence.Span, kernel []evidence.KernelEvent,
	spanSel func(*evidence.Span) bool, kevSel func(*evidence.KernelEvent) bool) Sampling {
	var s Sampling
	traces := map[evidence.TraceID]bool{}
	services := map[string]bool{}
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for i := range spans {
		sp := &spans[i]
		if spanSel != nil && !spanSel(sp) {
			continue
		}
		traces[sp.TraceID] = true
		services[sp.Service] = true
		lo, hi = min(lo, sp.StartNS), max(hi, sp.EndNS)
	}
	if len(traces) == 0 {
		return s
	}
	margin := min(int64(1e9), (hi-lo)/20)
	lo, hi = lo+margin, hi-margin
	var zero evidence.TraceID
	stamped := map[evidence.TraceID]bool{}
	for i := range kernel {
		k := &kernel[i]
		if k.TraceID == zero || k.TimeNS < lo || k.TimeNS > hi || (k.Service != "" && !services[k.Service]) ||
			(kevSel != nil && !kevSel(k)) {
			continue
		}
		s.StampedEvents++
		kept := traces[k.TraceID]
		if !kept {
			s.MissingEvents++
		}
		stamped[k.TraceID] = kept
	}
	s.StampedTraces = len(stamped)
	for _, kept := range stamped {
		if !kept {
			s.MissingTraces++
		}
	}
	s.Sampled = s.StampedTraces >= MinSampledTraces && s.MissingTraceShare() >= MinMissingShare
	return s
}

// detectSampling runs DetectSampling over the incident's and the
// baseline's evidence apart (a pass over a window of slow, all-kept
// traces against a sampled baseline is as biased as one sampled
// throughout) and sums them: Sampled when either window is.
func (in *Input) detectSampling() Sampling {
	isBase, kernelBase := in.baselinePredicate(), in.kernelBaselinePredicate()
	if isBase == nil || kernelBase == nil {
		return DetectSampling(in.Spans, in.Kernel)
	}
	not := func(f func(*evidence.Span) bool) func(*evidence.Span) bool {
		return func(sp *evidence.Span) bool { return !f(sp) }
	}
	notK := func(f func(*evidence.KernelEvent) bool) func(*evidence.KernelEvent) bool {
		return func(k *evidence.KernelEvent) bool { return !f(k) }
	}
	inc := detectSelected(in.Spans, in.Kernel, not(isBase), notK(kernelBase))
	base := detectSelected(in.Spans, in.Kernel, isBase, kernelBase)
	return Sampling{
		StampedEvents: inc.StampedEvents + base.StampedEvents, MissingEvents: inc.MissingEvents + base.MissingEvents,
		StampedTraces: inc.StampedTraces + base.StampedTraces, MissingTraces: inc.MissingTraces + base.MissingTraces,
		Sampled: inc.Sampled || base.Sampled, WindowShare: max(inc.MissingTraceShare(), base.MissingTraceShare()),
	}
}

// MissingTraceShare is the share of stamped traces not stored (0 without
// any).
func (s Sampling) MissingTraceShare() float64 {
	if s.StampedTraces == 0 {
		return 0
	}
	return float64(s.MissingTraces) / float64(s.StampedTraces)
}

// MissingEventShare is the share of stamped kernel events whose trace is
// not stored (0 without any).
func (s Sampling) MissingEventShare() float64 {
	if s.StampedEvents == 0 {
		return 0
	}
	return float64(s.MissingEvents) / float64(s.StampedEvents)
}

// Note says what sampling means for the analysis ("" when the traces do
// not look sampled).
func (s Sampling) Note() string {
	if !s.Sampled {
		return ""
	}
	window := ""
	if s.WindowShare > 0 {
		window = fmt.Sprintf("; %.0f %% in the most sampled window", 100*s.WindowShare)
	}
	return fmt.Sprintf("traces are tail-sampled: %.0f %% of stamped kernel events point at traces that were not kept "+
		"(%d of %d traces%s); latency percentiles, change points, distribution tests and shares of traces describe the kept traces, "+
		"not the service's requests", 100*s.MissingEventShare(), s.MissingTraces, s.StampedTraces, window)
}

// sampledKinds are the finding kinds whose numbers are statistics over
// the stored traces' distribution (percentiles, change points, KS tests,
// shares of traces or of the mean critical path), which tail sampling
// biases. Findings about individual traces, kernel events and lock edges
// are not marked.
var sampledKinds = []string{
	regression.KindKS, regression.KindChangepoint, regression.KindComponentChangepoint, regression.KindTrendBreak,
	attribution.KindAttribution, attribution.KindOverrepresented, shape.Kind, explain.Kind,
}

// sampledSuffix ends the summary of a finding marked as computed over
// tail-sampled traces.
const sampledSuffix = " [over tail-sampled traces: the kept traces' distribution, not the service's]"

// markSampled marks the findings whose statistics tail sampling biases:
// the summary says so and AttrTracesNotKept holds the share of stamped
// traces not kept. Nothing changes when s is not Sampled.
func markSampled(fs []evidence.Finding, s Sampling) {
	if !s.Sampled {
		return
	}
	for i := range fs {
		f := &fs[i]
		if !slices.Contains(sampledKinds, f.Kind) {
			continue
		}
		f.Summary += sampledSuffix
		if f.Attrs == nil {
			f.Attrs = map[string]float64{}
		}
		f.Attrs[AttrTracesNotKept] = s.MissingTraceShare()
	}
}
