package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
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
	"github.com/debugai/debugai/evidence/duckdb"
)

const detectUsage = `detect [flags]

Runs every detector over the evidence of a time window of the store, ranks
the findings by the share of the incident's change their location explains
(docs/ranking.md), stores them in the store (a finding's ID derives from its
content, so re-running replaces it) and prints them, highest score first.
The detector families:

  critpath     critical-path share per operation, and the components of an
               operation's critical-path time (lock, network, I/O, run queue)
  lockgraph    lock-order inversions among the stored lock edges
  regression   KS tests between versions (and baseline/incident), change
               points (PELT, MBIC) and trend breaks per endpoint and per
               critical-path component
  attribution  Shapley attribution of the p95 change between versions (and
               baseline/incident) to critical-path components
  patterns     kernel mechanisms: lock convoys, run-queue starvation,
               retransmit tails, I/O and page-fault stalls
  shape        changed trace shape: missing or extra calls, traces ending
               early, error status (needs a baseline)
  explain      one change_explained finding per service that explains at
               least 5 % of the incident's change

--since and --until take an RFC 3339 time or a duration; a duration counts
back from the end of the stored data (the latest span end), not from now, so
"--since 10m" is the last ten minutes of a recording. The defaults cover all
stored spans. A window with kernel events or lock edges and no spans (the
node's records of traces a sampler dropped) is analyzed too: the lock-order
and kernel detectors run on it alone, judged without a baseline, and the
"compared" line says it was kernel-only.

The baseline: --baseline-since/--baseline-until name it; with only --since
it is the window of equal length before the incident; with neither there is
none (findings judge the incident on its own). --bundle DIR analyzes an
incident bundle in a temporary store, its baseline.* files being the
baseline whatever their timestamps; --baseline-bundle DIR2 takes the
baseline from another bundle instead (DIR2's baseline.* files, else all its
trace files), e.g. a recording of normal operation from another day. To
compare a store with a recording, import the recording into the store and
name its window with --baseline-since/--baseline-until. A requested
baseline with fewer than 10 traces is refused.

While a running serve owns the store, findings cannot be stored: use
--no-store to print them (reading through the serve).`

// defaultMaxItems bounds the spans (and kernel events, lock edges) one
// detect run loads.
const defaultMaxItems = 2_000_000

// detectInput is what the detectors look at: the incident's spans and the
// baseline's, in one slice (so that findings may cite either), told apart
// by baseTraces.
type detectInput struct {
	spans    []evidence.Span
	kernel   []evidence.KernelEvent
	edges    []evidence.LockEdge
	overlays []correlate.Overlay
	assign   []correlate.Assignment // kernel events joined to spans
	// sinceNS and untilNS bound the incident (the window findings without
	// their own get).
	sinceNS int64
	untilNS int64
	// plan is what was compared with what.
	plan comparePlan
	// baseTraces are the baseline's traces (nil: no baseline).
	baseTraces map[evidence.TraceID]bool
	baseSpans  int
	// kernelOnly: the incident window holds kernel events or lock edges
	// but no spans; the detectors that read spans have nothing to read.
	kernelOnly bool

	reg     *regression.Report // memoized by regress
	regFind []evidence.Finding
	shape   *shape.Result // set by runShapeDetector
	// model is the change decomposition that ranks the findings.
	model *explain.Model
}

// isBaseline reports whether sp belongs to the baseline.
func (in *detectInput) isBaseline(sp *evidence.Span) bool { return in.baseTraces[sp.TraceID] }

// kernelBaselinePredicate marks kernel events that fall in a baseline
// window and in no incident window (nil without a baseline).
func (in *detectInput) kernelBaselinePredicate() func(*evidence.KernelEvent) bool {
	if len(in.baseTraces) == 0 {
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
		return within(in.plan.baseline, k.TimeNS) && !within(in.plan.incident, k.TimeNS)
	}
}

// baselinePredicate is isBaseline, or nil without a baseline.
func (in *detectInput) baselinePredicate() func(*evidence.Span) bool {
	if len(in.baseTraces) == 0 {
		return nil
	}
	return in.isBaseline
}

// detectorFamily is one detector family run by detect, in output order. Adding a
// family (e.g. detect/patterns) is one line in detectors.
type detectorFamily struct {
	name string
	run  func(in *detectInput) ([]evidence.Finding, error)
}

var detectors = []detectorFamily{
	{"critpath", runCritpathDetector},
	{"lockgraph", runLockgraphDetector},
	{"regression", runRegressionDetector},
	{"attribution", runAttributionDetector},
	{"patterns", runPatternsDetector},
	{"shape", runShapeDetector},
}

type detectFlags struct {
	store, since, until, baselineSince, baselineUntil, bundle, baselineBundle, logLevel *string
	asJSON, noStore                                                                     *bool
	maxItems                                                                            *int
}

func runDetect(ctx context.Context, args []string, env *cmdEnv) error {
	return runDetectPlan(ctx, args, nil, env)
}

// runDetectPlan is detect with a comparison decided by the caller (a
// bundle's baseline files) instead of the window flags, when plan is set.
func runDetectPlan(ctx context.Context, args []string, plan *comparePlan, env *cmdEnv) (err error) {
	fs := newFlagSet("detect", detectUsage, env)
	f := detectFlags{
		store:         storeFlag(fs, env),
		since:         fs.String("since", "", "start of the window: RFC 3339 time, or a duration before the end of the stored data (default: all)"),
		until:         fs.String("until", "", "end of the window (exclusive): RFC 3339 time, or a duration before the end of the stored data (default: the end)"),
		baselineSince: fs.String("baseline-since", "", "start of the baseline window (RFC 3339 or duration, as --since; default: the start of the stored data)"),
		baselineUntil: fs.String("baseline-until", "", "end of the baseline window (exclusive); alone, everything before it is the baseline and the incident starts there"),
		asJSON:        fs.Bool("json", false, "print JSON instead of a table"),
		noStore:       fs.Bool("no-store", false, "print the findings without storing them (reads through a running serve that owns the store)"),
		maxItems:      fs.Int("max-items", defaultMaxItems, "most spans (and kernel events) to load; a larger window is an error"),
		logLevel:      fs.String("log-level", "warn", "log level: debug, info, warn, error"),
	}
	if plan == nil {
		f.bundle = fs.String("bundle", "", "analyze this incident bundle folder in a temporary store (its baseline.* files are the baseline)")
		f.baselineBundle = fs.String("baseline-bundle", "", "with --bundle: take the baseline from this bundle folder instead (its baseline.* files, else all its trace files)")
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("detect takes no arguments, got %d", fs.NArg())
	}
	if f.baselineBundle != nil && *f.baselineBundle != "" && *f.bundle == "" {
		return usagef("detect: --baseline-bundle needs --bundle (for a store: import the recording and name its window with --baseline-since/--baseline-until)")
	}
	if f.bundle != nil && *f.bundle != "" {
		if err := bundleConflicts(fs, "store", "since", "until", "baseline-since", "baseline-until", "no-store"); err != nil {
			return err
		}
		tmp, err := os.MkdirTemp("", "debugai-bundle-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		*f.store = filepath.Join(tmp, "bundle.duckdb")
		if plan, err = importBundle(ctx, *f.bundle, *f.baselineBundle, *f.store, env); err != nil {
			return err
		}
	}
	if *f.maxItems < 1 {
		return usagef("detect: --max-items %d: must be at least 1", *f.maxItems)
	}
	logger, err := newLogger(env.stderr, *f.logLevel)
	if err != nil {
		return err
	}
	r, w, closeStore, err := openDetectStore(ctx, *f.store, *f.noStore, logger)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeStore()) }()
	st, err := r.Stats(ctx)
	if err != nil {
		return fmt.Errorf("reading stats: %w", err)
	}
	if plan == nil {
		p, err := resolvePlan(st, *f.since, *f.until, *f.baselineSince, *f.baselineUntil)
		if err != nil {
			return err
		}
		plan = &p
	}
	in, err := loadComparison(ctx, r, st, *plan, *f.maxItems, *f.store)
	if err != nil {
		return err
	}
	findings, counts, err := runDetectors(in)
	if err != nil {
		return err
	}
	if w != nil {
		if err := w.WriteFindings(ctx, findings); err != nil {
			return fmt.Errorf("storing findings: %w", err)
		}
	}
	return printDetect(env.stdout, in, findings, counts, w != nil, *f.asJSON)
}

// openDetectStore opens the store read-write (to store the findings), or
// for reading only with --no-store.
func openDetectStore(ctx context.Context, path string, noStore bool, logger *slog.Logger) (evidence.Reader, evidence.FindingWriter, func() error, error) {
	if noStore {
		r, closeR, err := openReader(ctx, path, logger)
		return r, nil, closeR, err
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil, fmt.Errorf("store %s does not exist: run `debugai import` or `debugai serve` first", path)
	}
	st, err := duckdb.Open(ctx, path, duckdb.Options{Logger: logger})
	if errors.Is(err, duckdb.ErrLocked) {
		return nil, nil, nil, fmt.Errorf("store %s is owned by another process (a running serve?): findings cannot be stored; run detect with --no-store to print them: %w", path, err)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	return st, st, st.Close, nil
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

// parseWindowTime parses an RFC 3339 time, or a duration before end.
func parseWindowTime(s string, end int64) (int64, error) {
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

func fmtNS(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

// runDetectors runs every detector family, in order, and gives findings
// without a data window the analysed window.
func runDetectors(in *detectInput) ([]evidence.Finding, []int, error) {
	if len(in.kernel) > 0 {
		cfg := correlate.DefaultConfig()
		as, _, err := correlate.Join(in.spans, in.kernel, cfg)
		if err != nil {
			return nil, nil, fmt.Errorf("joining kernel events to spans: %w", err)
		}
		in.assign = as
		if in.overlays, err = correlate.Overlays(in.spans, in.kernel, as, cfg); err != nil {
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
	model, err := explain.Build(explain.Input{Spans: in.spans, IsBaseline: in.baselinePredicate(), Overlays: in.overlays, Shape: in.shape,
		Kernel: in.kernel, KernelIsBaseline: in.kernelBaselinePredicate()}, explain.DefaultConfig())
	if err != nil {
		return nil, nil, fmt.Errorf("ranking: %w", err)
	}
	in.model = model
	ix := explain.NewIndex(in.spans, in.kernel, in.edges)
	model.Corroborate(out, ix)
	out = append(out, model.Findings(in.spans, in.baselinePredicate(), in.shape, minExplainedFinding)...)
	model.Score(out, ix)
	for i := range out {
		if out[i].StartNS == 0 && out[i].EndNS == 0 {
			out[i].StartNS, out[i].EndNS = in.sinceNS, in.untilNS-1
		}
	}
	return out, counts, nil
}

// minExplainedFinding is the least share of the change a candidate must
// explain to be reported as a change_explained finding of its own.
const minExplainedFinding = 0.05

// runShapeDetector compares the traces' call structure with the
// baseline's (nothing without a baseline).
func runShapeDetector(in *detectInput) ([]evidence.Finding, error) {
	res, fs, err := shape.Analyze(shape.Input{Spans: in.spans, IsBaseline: in.baselinePredicate()}, shape.DefaultConfig())
	if err != nil {
		return nil, err
	}
	in.shape = &res
	return fs, nil
}

// regress runs detect/regression once per input.
func (in *detectInput) regress() (*regression.Report, []evidence.Finding, error) {
	if in.reg == nil {
		rep, fs, err := regression.Analyze(regression.Input{Spans: in.spans, Overlays: in.overlays, IsBaseline: in.baselinePredicate()},
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
func runCritpathDetector(in *detectInput) ([]evidence.Finding, error) {
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
	_, cfs, err := critpath.Analyze(in.spans, critpath.DefaultConfig())
	return append(out, cfs...), err
}

func runLockgraphDetector(in *detectInput) ([]evidence.Finding, error) {
	if len(in.edges) == 0 {
		return nil, nil
	}
	cfg := lockgraph.DefaultConfig()
	_, fs, err := lockgraph.Analyze(in.edges, lockWaits(in, cfg), cfg)
	return fs, err
}

func runRegressionDetector(in *detectInput) ([]evidence.Finding, error) {
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
func runAttributionDetector(in *detectInput) ([]evidence.Finding, error) {
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
		root := &in.spans[p.Root]
		row := make([]float64, regression.NumComponents)
		for c, ns := range p.Total {
			row[c] = float64(ns)
		}
		ep := root.Service + " " + root.Name
		if root.Version != "" {
			add(key{ep, "version " + root.Version}, row, p.Root)
		}
		if in.baseTraces != nil {
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

func attributeGroups(in *detectInput, endpoint string, a, b *attrGroup, cfg attribution.Config) ([]evidence.Finding, error) {
	res, err := attribution.Attribute(regression.ComponentNames[:], a.rows, b.rows, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", endpoint, err)
	}
	scope := attribution.Scope{Endpoint: endpoint, From: strings.Fields(a.label)[1], To: strings.Fields(b.label)[1]}
	for _, r := range b.roots[:min(5, len(b.roots))] {
		scope.ExemplarIDs = append(scope.ExemplarIDs, in.spans[r].ID())
	}
	if strings.HasPrefix(a.label, "version ") {
		for _, r := range []int{a.roots[0], b.roots[0]} {
			if id := in.spans[r].ResourceID; id != "" {
				scope.DeployIDs = append(scope.DeployIDs, id)
			}
		}
	}
	return res.Findings(scope)
}

// detectOutput is the JSON shape of detect's output.
type detectOutput struct {
	Since        string `json:"since"`
	Until        string `json:"until"`
	Spans        int    `json:"spans"`
	KernelEvents int    `json:"kernel_events"`
	LockEdges    int    `json:"lock_edges"`
	// Compared says what the incident was compared with.
	Compared       string         `json:"compared"`
	BaselineTraces int            `json:"baseline_traces"`
	BaselineSpans  int            `json:"baseline_spans"`
	Detectors      map[string]int `json:"detectors"`
	Stored         bool           `json:"stored"`
	// Explained is the ranking model's decomposition: what share of the
	// change each service explains, most first (docs/ranking.md).
	Explained []explainedService `json:"explained"`
	Findings  []evidence.Finding `json:"findings"`
}

// explainedService is one candidate of the ranking model.
type explainedService struct {
	Service     string               `json:"service"`
	Explained   float64              `json:"explained_share"`
	Latency     float64              `json:"latency_share"`
	Shape       float64              `json:"shape_share"`
	DeltaNS     float64              `json:"delta_ns"`
	Q           float64              `json:"q"`
	Significant bool                 `json:"significant"`
	Ops         []explainedOperation `json:"operations,omitempty"`
}

type explainedOperation struct {
	Name      string  `json:"name"`
	Explained float64 `json:"explained_share"`
	DeltaNS   float64 `json:"delta_ns"`
	Q         float64 `json:"q"`
}

// maxExplainedOps bounds the operations listed per service.
const maxExplainedOps = 3

func explainedOf(m *explain.Model) []explainedService {
	out := []explainedService{}
	if m == nil {
		return out
	}
	for _, c := range m.Candidates {
		e := explainedService{Service: c.Service, Explained: c.Explained, Latency: c.Latency, Shape: c.Shape,
			DeltaNS: c.Delta(), Q: c.Q, Significant: c.Significant}
		for _, op := range c.Ops[:min(len(c.Ops), maxExplainedOps)] {
			e.Ops = append(e.Ops, explainedOperation{Name: op.Op.Name, Explained: op.Explained, DeltaNS: op.Delta(), Q: op.Q})
		}
		out = append(out, e)
	}
	return out
}

func printDetect(w io.Writer, in *detectInput, fs []evidence.Finding, counts []int, stored, asJSON bool) error {
	out := detectOutput{Since: fmtNS(in.sinceNS), Until: fmtNS(in.untilNS), Spans: len(in.spans),
		KernelEvents: len(in.kernel), LockEdges: len(in.edges), Detectors: map[string]int{}, Stored: stored, Findings: fs,
		Compared:       in.describe(),
		BaselineTraces: len(in.baseTraces), BaselineSpans: in.baseSpans, Explained: explainedOf(in.model)}
	if out.Findings == nil {
		out.Findings = []evidence.Finding{}
	}
	var per []string
	for i, d := range detectors {
		out.Detectors[d.name] = counts[i]
		per = append(per, fmt.Sprintf("%s %d", d.name, counts[i]))
	}
	if asJSON {
		return printJSON(w, out)
	}
	fmt.Fprintf(w, "window %s .. %s: %d spans, %d kernel events, %d lock edges\n",
		out.Since, out.Until, out.Spans, out.KernelEvents, out.LockEdges)
	fmt.Fprintf(w, "compared: %s\n", out.Compared)
	var shares []string
	for _, e := range out.Explained {
		if e.Explained >= minExplainedFinding {
			shares = append(shares, fmt.Sprintf("%s %.0f %%", e.Service, 100*e.Explained))
		}
	}
	if len(shares) > 0 {
		fmt.Fprintf(w, "explained: %s\n", strings.Join(shares, ", "))
	}
	verb := "found"
	if stored {
		verb = "stored"
	}
	fmt.Fprintf(w, "%s %d findings (%s)\n", verb, len(fs), strings.Join(per, ", "))
	if len(fs) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\n#\tKIND\tSUBJECT\tSCORE\tCONF")
	for i, f := range fs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%.3g\t%.2f\n", i+1, f.Kind, f.Subject, f.Score, f.Confidence)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for i, f := range fs {
		fmt.Fprintf(w, "\n%d. %s\n   %s\n", i+1, f.ID, f.Summary)
		var refs []string
		for _, r := range f.Refs[:min(4, len(f.Refs))] {
			refs = append(refs, r.ID+" ("+string(r.Line)+")")
		}
		if more := len(f.Refs) - len(refs); more > 0 {
			refs = append(refs, fmt.Sprintf("+%d more", more))
		}
		fmt.Fprintf(w, "   cites %s\n", strings.Join(refs, ", "))
	}
	return nil
}
