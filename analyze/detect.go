package analyze

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/debugai/debugai/agent/hypothesis"
	"github.com/debugai/debugai/correlate"
	"github.com/debugai/debugai/detect/attribution"
	"github.com/debugai/debugai/detect/critpath"
	"github.com/debugai/debugai/detect/explain"
	"github.com/debugai/debugai/detect/lockgraph"
	"github.com/debugai/debugai/detect/regression"
	"github.com/debugai/debugai/detect/shape"
	"github.com/debugai/debugai/evidence"
)

// Input is what the detectors look at: the incident's spans and the
// baseline's, in one slice (so that findings may cite either), told apart
// by baseTraces.
type Input struct {
	Spans    []evidence.Span
	Kernel   []evidence.KernelEvent
	Edges    []evidence.LockEdge
	overlays []correlate.Overlay
	assign   []correlate.Assignment // kernel events joined to spans
	// sinceNS and untilNS bound the incident (the window findings without
	// their own get).
	SinceNS int64
	UntilNS int64
	// plan is what was compared with what.
	Plan Plan
	// baseTraces are the baseline's traces (nil: no baseline).
	BaseTraces map[evidence.TraceID]bool
	BaseSpans  int
	// kernelOnly: the incident window holds kernel events or lock edges
	// but no spans; the detectors that read spans have nothing to read.
	KernelOnly bool

	reg     *regression.Report // memoized by regress
	regFind []evidence.Finding
	shape   *shape.Result // set by runShapeDetector
	// model is the change decomposition that ranks the findings.
	Model *explain.Model
	// Sampling is what Detect found about trace sampling (sampling.go).
	Sampling Sampling
}

// isBaseline reports whether sp belongs to the baseline.
func (in *Input) isBaseline(sp *evidence.Span) bool { return in.BaseTraces[sp.TraceID] }

// kernelBaselinePredicate marks kernel events that fall in a baseline
// window and in no incident window (nil without a baseline).
func (in *Input) kernelBaselinePredicate() func(*evidence.KernelEvent) bool {
	if len(in.BaseTraces) == 0 {
		return nil
	}
	within := func(ws []hypothesis.Window, t int64) bool {
		for _, w := range ws {
			if w.Contains(t) {
				return true
			}
		}
		return false
	}
	return func(k *evidence.KernelEvent) bool {
		return within(in.Plan.Baseline, k.TimeNS) && !within(in.Plan.Incident, k.TimeNS)
	}
}

// baselinePredicate is isBaseline, or nil without a baseline.
func (in *Input) baselinePredicate() func(*evidence.Span) bool {
	if len(in.BaseTraces) == 0 {
		return nil
	}
	return in.isBaseline
}

// detectorFamily is one detector family, in output order. Adding a family
// (e.g. detect/patterns) is one line in detectors.
type detectorFamily struct {
	name string
	run  func(in *Input) ([]evidence.Finding, error)
}

// Families names the detector families in the order Detect runs them and
// counts their findings.
func Families() []string {
	out := make([]string, len(detectors))
	for i, d := range detectors {
		out[i] = d.name
	}
	return out
}

var detectors = []detectorFamily{
	{"critpath", runCritpathDetector},
	{"lockgraph", runLockgraphDetector},
	{"regression", runRegressionDetector},
	{"attribution", runAttributionDetector},
	{"patterns", runPatternsDetector},
	{"shape", runShapeDetector},
}

// loadPaged reads pages until one comes back short; more than maxItems is
// an error.
func loadPaged[T any](ctx context.Context, maxItems int, what string, page func(limit, offset int) ([]T, error)) ([]T, error) {
	const pageSize = 20_000
	var out []T
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p, err := page(pageSize, len(out))
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", what, err)
		}
		out = append(out, p...)
		if len(out) > maxItems {
			return nil, fmt.Errorf("the window holds more than %d %s (--max-items): narrow it with --since and --until", maxItems, what)
		}
		if len(p) < pageSize {
			return out, nil
		}
	}
}

// ParseWindowTime parses an RFC 3339 time, or a duration before end.
func ParseWindowTime(s string, end int64) (int64, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UnixNano(), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is neither an RFC 3339 time (2006-01-02T15:04:05Z) nor a duration (10m)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("duration %s: must not be negative", s)
	}
	return end - int64(d), nil
}

func FmtNS(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

// Detect runs every detector family, in order, and gives findings
// without a data window the analysed window.
func Detect(in *Input) ([]evidence.Finding, []int, error) {
	in.Sampling = in.detectSampling()
	if len(in.Kernel) > 0 {
		cfg := correlate.DefaultConfig()
		as, _, err := correlate.Join(in.Spans, in.Kernel, cfg)
		if err != nil {
			return nil, nil, fmt.Errorf("joining kernel events to spans: %w", err)
		}
		in.assign = as
		if in.overlays, err = correlate.Overlays(in.Spans, in.Kernel, as, cfg); err != nil {
			return nil, nil, fmt.Errorf("kernel overlays: %w", err)
		}
	}
	var out []evidence.Finding
	counts := make([]int, len(detectors))
	for i, d := range detectors {
		fs, err := d.run(in)
		if err != nil {
			return nil, nil, fmt.Errorf("detector %s: %w", d.name, err)
		}
		counts[i] = len(fs)
		out = append(out, fs...)
	}
	model, err := explain.Build(explain.Input{Spans: in.Spans, IsBaseline: in.baselinePredicate(), Overlays: in.overlays, Shape: in.shape,
		Kernel: in.Kernel, KernelIsBaseline: in.kernelBaselinePredicate()}, explain.DefaultConfig())
	if err != nil {
		return nil, nil, fmt.Errorf("ranking: %w", err)
	}
	in.Model = model
	ix := explain.NewIndex(in.Spans, in.Kernel, in.Edges)
	model.Corroborate(out, ix)
	out = append(out, model.Findings(in.Spans, in.baselinePredicate(), in.shape, MinExplainedFinding)...)
	model.Score(out, ix)
	for i := range out {
		if out[i].StartNS == 0 && out[i].EndNS == 0 {
			out[i].StartNS, out[i].EndNS = in.SinceNS, in.UntilNS-1
		}
	}
	markSampled(out, in.Sampling)
	return out, counts, nil
}

// MinExplainedFinding is the least share of the change a candidate must
// explain to be reported as a change_explained finding of its own.
const MinExplainedFinding = 0.05

// runShapeDetector compares the traces' call structure with the
// baseline's (nothing without a baseline).
func runShapeDetector(in *Input) ([]evidence.Finding, error) {
	res, fs, err := shape.Analyze(shape.Input{Spans: in.Spans, IsBaseline: in.baselinePredicate()}, shape.DefaultConfig())
	if err != nil {
		return nil, err
	}
	in.shape = &res
	return fs, nil
}

// regress runs detect/regression once per input.
func (in *Input) regress() (*regression.Report, []evidence.Finding, error) {
	if in.reg == nil {
		rep, fs, err := regression.Analyze(regression.Input{Spans: in.Spans, Overlays: in.overlays, IsBaseline: in.baselinePredicate()},
			regression.DefaultConfig())
		if err != nil {
			return nil, nil, err
		}
		in.reg, in.regFind = &rep, fs
	}
	return in.reg, in.regFind, nil
}

// runCritpathDetector reports the components of critical-path time
// (lock, network, ...) first, then critpath's dominant operations.
func runCritpathDetector(in *Input) ([]evidence.Finding, error) {
	_, rfs, err := in.regress()
	if err != nil {
		return nil, err
	}
	var out []evidence.Finding
	for _, f := range rfs {
		if f.Kind == regression.KindCriticalPathComponent {
			out = append(out, f)
		}
	}
	_, cfs, err := critpath.Analyze(in.Spans, critpath.DefaultConfig())
	return append(out, cfs...), err
}

func runLockgraphDetector(in *Input) ([]evidence.Finding, error) {
	if len(in.Edges) == 0 {
		return nil, nil
	}
	cfg := lockgraph.DefaultConfig()
	_, fs, err := lockgraph.Analyze(in.Edges, lockWaits(in, cfg), cfg)
	return fs, err
}

func runRegressionDetector(in *Input) ([]evidence.Finding, error) {
	_, rfs, err := in.regress()
	if err != nil {
		return nil, err
	}
	var out []evidence.Finding
	for _, f := range rfs {
		if f.Kind != regression.KindCriticalPathComponent {
			out = append(out, f)
		}
	}
	return out, nil
}

// attrGroup is the traces of one endpoint in one group (version or window).
type attrGroup struct {
	label string
	rows  [][]float64
	roots []int // root span positions
}

// runAttributionDetector attributes the p95 change of each endpoint's
// traces between consecutive versions (and baseline/current) to the
// critical-path components.
func runAttributionDetector(in *Input) ([]evidence.Finding, error) {
	rep, _, err := in.regress()
	if err != nil {
		return nil, err
	}
	type key struct{ endpoint, label string }
	groups := map[key]*attrGroup{}
	var order []key
	add := func(k key, row []float64, root int) {
		g := groups[k]
		if g == nil {
			g = &attrGroup{label: k.label}
			groups[k] = g
			order = append(order, k)
		}
		g.rows = append(g.rows, row)
		g.roots = append(g.roots, root)
	}
	for _, p := range rep.Paths {
		root := &in.Spans[p.Root]
		row := make([]float64, regression.NumComponents)
		for c, ns := range p.Total {
			row[c] = float64(ns)
		}
		ep := root.Service + " " + root.Name
		if root.Version != "" {
			add(key{ep, "version " + root.Version}, row, p.Root)
		}
		if in.BaseTraces != nil {
			label := "incident"
			if in.isBaseline(root) {
				label = "baseline"
			}
			add(key{ep, "window " + label}, row, p.Root)
		}
	}
	cfg := attribution.DefaultConfig()
	var out []evidence.Finding
	for i, a := range order {
		for _, b := range order[i+1:] {
			ga, gb := groups[a], groups[b]
			if a.endpoint != b.endpoint || strings.Fields(a.label)[0] != strings.Fields(b.label)[0] ||
				len(ga.rows) < 8 || len(gb.rows) < 8 {
				continue
			}
			fs, err := attributeGroups(in, a.endpoint, ga, gb, cfg)
			if err != nil {
				return nil, err
			}
			out = append(out, fs...)
			break // consecutive groups only
		}
	}
	return out, nil
}

func attributeGroups(in *Input, endpoint string, a, b *attrGroup, cfg attribution.Config) ([]evidence.Finding, error) {
	res, err := attribution.Attribute(regression.ComponentNames[:], a.rows, b.rows, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", endpoint, err)
	}
	scope := attribution.Scope{Endpoint: endpoint, From: strings.Fields(a.label)[1], To: strings.Fields(b.label)[1]}
	for _, r := range b.roots[:min(5, len(b.roots))] {
		scope.ExemplarIDs = append(scope.ExemplarIDs, in.Spans[r].ID())
	}
	if strings.HasPrefix(a.label, "version ") {
		for _, r := range []int{a.roots[0], b.roots[0]} {
			if id := in.Spans[r].ResourceID; id != "" {
				scope.DeployIDs = append(scope.DeployIDs, id)
			}
		}
	}
	return res.Findings(scope)
}
