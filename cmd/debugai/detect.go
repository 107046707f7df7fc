package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/debugai/debugai/analyze"
	"github.com/debugai/debugai/detect/explain"
	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/evidence/duckdb"
	"github.com/debugai/debugai/evidence/remote"
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

While a running serve owns the store, detect reads through serve's API
and stores the findings through it (--no-store only prints them).`

// defaultMaxItems bounds the spans (and kernel events, lock edges) one
// detect run loads.
const defaultMaxItems = 2_000_000

type detectFlags struct {
	store, since, until, baselineSince, baselineUntil, bundle, baselineBundle, logLevel *string
	asJSON, noStore                                                                     *bool
	maxItems                                                                            *int
}

// runDetect parses detect's flags, runs the detection (detectStore) and
// prints it.
func runDetect(ctx context.Context, args []string, env *cmdEnv) (err error) {
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
	f.bundle = fs.String("bundle", "", "analyze this incident bundle folder in a temporary store (its baseline.* files are the baseline)")
	f.baselineBundle = fs.String("baseline-bundle", "", "with --bundle: take the baseline from this bundle folder instead (its baseline.* files, else all its trace files)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("detect takes no arguments, got %d", fs.NArg())
	}
	if *f.baselineBundle != "" && *f.bundle == "" {
		return usagef("detect: --baseline-bundle needs --bundle (for a store: import the recording and name its window with --baseline-since/--baseline-until)")
	}
	var plan *analyze.Plan
	if *f.bundle != "" {
		store, p, cleanup, err := bundleStore(ctx, fs, *f.bundle, *f.baselineBundle, "no-store", env)
		if err != nil {
			return err
		}
		defer cleanup()
		*f.store, plan = store, p
	}
	if *f.maxItems < 1 {
		return usagef("detect: --max-items %d: must be at least 1", *f.maxItems)
	}
	logger, err := newLogger(env.stderr, *f.logLevel)
	if err != nil {
		return err
	}
	req := detectRequest{store: *f.store, noStore: *f.noStore, since: *f.since, until: *f.until,
		baselineSince: *f.baselineSince, baselineUntil: *f.baselineUntil, plan: plan, maxItems: *f.maxItems}
	res, err := detectStore(ctx, req, logger)
	if err != nil {
		return err
	}
	return printDetect(env.stdout, res.in, res.findings, res.counts, res.stored, *f.asJSON)
}

// detectRequest is one detection over a store: its windows (the flags, or
// a plan decided by the caller, e.g. a bundle's files) and whether to
// store the findings.
type detectRequest struct {
	store, since, until, baselineSince, baselineUntil string
	plan                                              *analyze.Plan
	noStore                                           bool
	maxItems                                          int
}

// detectResult is what a detection found.
type detectResult struct {
	in       *analyze.Input
	findings []evidence.Finding
	counts   []int
	stored   bool
}

// detectStore opens the store and runs package analyze's pipeline over
// the request's windows, storing the findings unless req.noStore.
func detectStore(ctx context.Context, req detectRequest, logger *slog.Logger) (res detectResult, err error) {
	r, w, closeStore, err := openDetectStore(ctx, req.store, req.noStore, logger)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, closeStore()) }()
	st, err := r.Stats(ctx)
	if err != nil {
		return res, fmt.Errorf("reading stats: %w", err)
	}
	plan := req.plan
	if plan == nil {
		p, err := resolvePlan(st, req.since, req.until, req.baselineSince, req.baselineUntil)
		if err != nil {
			return res, err
		}
		plan = &p
	}
	if res.in, err = analyze.Load(ctx, r, st, *plan, req.maxItems, req.store); err != nil {
		return res, err
	}
	if res.findings, res.counts, err = analyze.Detect(res.in); err != nil {
		return res, err
	}
	if w != nil {
		if err := w.WriteFindings(ctx, res.findings); err != nil {
			return res, fmt.Errorf("storing findings: %w", err)
		}
		res.stored = true
	}
	return res, nil
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
		// A running serve owns the store: read through its API and store
		// the findings through it.
		state, serr := remote.ReadState(path)
		if serr != nil {
			return nil, nil, nil, fmt.Errorf("store %s is locked by another process and no running serve publishes it (%v); run detect with --no-store to print the findings: %w", path, serr, err)
		}
		logger.Debug("store is owned by a running serve; detecting through its API", "pid", state.PID)
		c := remote.NewClient(state)
		return c, c, func() error { return nil }, nil
	}
	if err != nil {
		return nil, nil, nil, err
	}
	return st, st, st.Close, nil
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

// resolvePlan is analyze.ResolvePlan with window errors as usage errors.
func resolvePlan(st evidence.Stats, since, until, bsince, buntil string) (analyze.Plan, error) {
	p, err := analyze.ResolvePlan(st, since, until, bsince, buntil)
	if we := (*analyze.WindowError)(nil); errors.As(err, &we) {
		return p, usagef("%v", we)
	}
	return p, err
}

func printDetect(w io.Writer, in *analyze.Input, fs []evidence.Finding, counts []int, stored, asJSON bool) error {
	out := detectOutput{Since: analyze.FmtNS(in.SinceNS), Until: analyze.FmtNS(in.UntilNS), Spans: len(in.Spans),
		KernelEvents: len(in.Kernel), LockEdges: len(in.Edges), Detectors: map[string]int{}, Stored: stored, Findings: fs,
		Compared:       in.Describe(),
		BaselineTraces: len(in.BaseTraces), BaselineSpans: in.BaseSpans, Explained: explainedOf(in.Model)}
	if out.Findings == nil {
		out.Findings = []evidence.Finding{}
	}
	var per []string
	for i, name := range analyze.Families() {
		out.Detectors[name] = counts[i]
		per = append(per, fmt.Sprintf("%s %d", name, counts[i]))
	}
	if asJSON {
		return printJSON(w, out)
	}
	fmt.Fprintf(w, "window %s .. %s: %d spans, %d kernel events, %d lock edges\n",
		out.Since, out.Until, out.Spans, out.KernelEvents, out.LockEdges)
	fmt.Fprintf(w, "compared: %s\n", out.Compared)
	var shares []string
	for _, e := range out.Explained {
		if e.Explained >= analyze.MinExplainedFinding {
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
