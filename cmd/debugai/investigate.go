package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/debugai/debugai/agent"
	"github.com/debugai/debugai/agent/hypothesis"
	"github.com/debugai/debugai/analyze"
	"github.com/debugai/debugai/eval"
	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/evidence/duckdb"
	"github.com/debugai/debugai/report"
)

const investigateUsage = `investigate [flags]

Runs the detectors over a window of the store, then an investigator that
writes a root-cause hypothesis citing stored evidence, which the verifier
accepts only when two independent evidence lines back it. Prints the
report (Markdown, or --json) and writes it with its charts and ticket
payloads to --out.

The investigator is deterministic (offline, no model) unless --llm is
given: then an OpenAI-compatible chat-completions API drives the same
read-only tools (--llm-base-url, --llm-model, DEBUGAI_LLM_API_KEY or
OPENAI_API_KEY; Ollama: http://127.0.0.1:11434/v1, llama.cpp:
http://127.0.0.1:8080/v1). A hypothesis that never passes the verifier is
reported as unconfirmed, never as the root cause.

--bundle DIR investigates an incident bundle (its *.otlp.jsonl.gz files)
in a fresh temporary store instead of --store; its baseline.* files are the
baseline. --baseline-bundle DIR2 takes the baseline from another bundle
instead (DIR2's baseline.* files, else all its trace files): a recording of
normal operation made at another time or place. To compare a live store
with a recording, import the recording into the store and name its window
with --baseline-since/--baseline-until.

Exit codes: 0 done (or nothing the --fail-on policy fails on), 1 error,
2 usage, 3 accepted root cause (--fail-on accepted|any), 4 unconfirmed
hypothesis (--fail-on any).`

type investigateFlags struct {
	store, since, until, baselineSince, baselineUntil, bundle, baselineBundle, out, failOn, services, logLevel, jira *string
	llm, asJSON, noDetect                                                                                            *bool
	llmCfg                                                                                                           agent.LLMConfig
}

// exitStatus carries a non-error exit code (the CI gates of --fail-on).
type exitStatus struct {
	code int
	msg  string
}

func (e exitStatus) Error() string { return e.msg }

func addInvestigateFlags(fs *flag.FlagSet, env *cmdEnv) *investigateFlags {
	f := &investigateFlags{llmCfg: agent.LLMConfigFromEnv()}
	f.store = storeFlag(fs, env)
	f.since = fs.String("since", "", "start of the incident window: RFC 3339 time, or a duration before the end of the stored data (default: all)")
	f.until = fs.String("until", "", "end of the window (exclusive), as --since (default: the end)")
	f.bundle = fs.String("bundle", "", "investigate this incident bundle folder in a temporary store (its baseline.* files are the baseline)")
	f.baselineBundle = fs.String("baseline-bundle", "", "with --bundle: take the baseline from this bundle folder instead (its baseline.* files, else all its trace files)")
	f.baselineSince = fs.String("baseline-since", "", "start of the baseline window, as detect's")
	f.baselineUntil = fs.String("baseline-until", "", "end of the baseline window, as detect's (default baseline: the window of equal length before --since)")
	f.out = fs.String("out", "", "folder for report.md, report.json, the SVG charts and ticket payloads (default: $XDG_DATA_HOME/debugai/reports/<time>)")
	f.failOn = fs.String("fail-on", "none", "exit non-zero for CI gates: none, accepted (3 on an accepted root cause) or any (also 4 on an unconfirmed one)")
	f.services = fs.String("services", "", "comma-separated services the incident is about (default: all)")
	f.asJSON = fs.Bool("json", false, "print the report as JSON instead of Markdown")
	f.noDetect = fs.Bool("no-detect", false, "use the findings already stored instead of running the detectors first")
	f.logLevel = fs.String("log-level", "warn", "log level: debug, info, warn, error")
	f.jira = fs.String("jira-project", "", "also write jira-issue.json, a Jira Cloud create-issue payload for this project key")
	addLLMFlags(fs, f)
	return f
}

// addLLMFlags registers --llm and the --llm-* flags that configure the
// LLM investigator (investigate and eval share them).
func addLLMFlags(fs *flag.FlagSet, f *investigateFlags) {
	f.llm = fs.Bool("llm", false, "drive the investigation with an LLM (OpenAI-compatible API) instead of the deterministic investigator")
	fs.StringVar(&f.llmCfg.BaseURL, "llm-base-url", f.llmCfg.BaseURL, "OpenAI-compatible API base URL; env DEBUGAI_LLM_BASE_URL")
	fs.StringVar(&f.llmCfg.Model, "llm-model", f.llmCfg.Model, "model name; env DEBUGAI_LLM_MODEL")
	fs.IntVar(&f.llmCfg.MaxSteps, "llm-max-steps", f.llmCfg.MaxSteps, "model calls at most")
	fs.DurationVar(&f.llmCfg.MaxWall, "llm-max-time", f.llmCfg.MaxWall, "wall time at most")
	fs.BoolVar(&f.llmCfg.Stream, "llm-stream", false, "stream model responses")
}

func runInvestigate(ctx context.Context, args []string, env *cmdEnv) (err error) {
	fs := newFlagSet("investigate", investigateUsage, env)
	f := addInvestigateFlags(fs, env)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("investigate takes no arguments, got %d", fs.NArg())
	}
	failOn, err := report.ParseFailOn(*f.failOn)
	if err != nil {
		return usagef("%v", err)
	}
	if *f.llm {
		if err := f.llmCfg.Validate(); err != nil {
			return usagef("investigate --llm: %v", err)
		}
	}
	logger, err := newLogger(env.stderr, *f.logLevel)
	if err != nil {
		return err
	}
	store := *f.store
	var plan *analyze.Plan // a bundle's baseline files against its incident files
	if *f.baselineBundle != "" && *f.bundle == "" {
		return usagef("investigate: --baseline-bundle needs --bundle (for a store: import the recording and name its window with --baseline-since/--baseline-until)")
	}
	if *f.bundle != "" {
		tmpStore, p, cleanup, err := bundleStore(ctx, fs, *f.bundle, *f.baselineBundle, "no-detect", env)
		if err != nil {
			return err
		}
		defer cleanup()
		store, plan = tmpStore, p
	}
	var compared string
	if !*f.noDetect {
		if compared, err = detectQuietly(ctx, store, *f.since, *f.until, *f.baselineSince, *f.baselineUntil, plan, env); err != nil {
			return err
		}
	}
	rep, err := investigateStore(ctx, store, plan, compared, f, logger, env)
	if err != nil {
		return err
	}
	if rep == nil {
		return nil
	}
	code, err := report.ExitCode(rep.Status, failOn)
	if err != nil {
		return err
	}
	if code != 0 {
		return exitStatus{code: code, msg: fmt.Sprintf("investigate: %s root cause (--fail-on %s)", rep.Status, failOn)}
	}
	return nil
}

// bundleStore imports a bundle (with another's baseline, when
// baselineDir is set) into a fresh temporary store, after refusing the
// flags a bundle decides itself (and the command's own, conflicting); the
// caller runs cleanup when done with the store.
func bundleStore(ctx context.Context, fs *flag.FlagSet, dir, baselineDir, conflicting string, env *cmdEnv) (string, *analyze.Plan, func(), error) {
	if err := bundleConflicts(fs, "store", "since", "until", "baseline-since", "baseline-until", conflicting); err != nil {
		return "", nil, nil, err
	}
	tmp, err := os.MkdirTemp("", "debugai-bundle-")
	if err != nil {
		return "", nil, nil, err
	}
	cleanup := func() { os.RemoveAll(tmp) }
	store := filepath.Join(tmp, "bundle.duckdb")
	plan, err := importBundle(ctx, dir, baselineDir, store, env)
	if err != nil {
		cleanup()
		return "", nil, nil, err
	}
	return store, plan, cleanup, nil
}

// importBundle imports every OTLP file of a bundle folder into store and
// returns the comparison its files define: the incident files against the
// baseline files, whatever their timestamps. With baselineDir, another
// bundle's files are the baseline instead of the bundle's own: its
// baseline.* files when it has any (a recording of normal operation next
// to an incident), else all of its trace files.
func importBundle(ctx context.Context, dir, baselineDir, store string, env *cmdEnv) (*analyze.Plan, error) {
	b, err := eval.OpenBundle(dir)
	if err != nil {
		return nil, usagef("--bundle %v", err)
	}
	source := analyze.SourceBundle
	if baselineDir != "" {
		bb, err := eval.OpenBundle(baselineDir)
		if err != nil {
			return nil, usagef("--baseline-bundle %v", err)
		}
		base := bb.Baseline
		if len(base) == 0 {
			base = bb.Incident
		}
		if len(base) == 0 {
			return nil, usagef("--baseline-bundle %s: it holds no trace files", baselineDir)
		}
		b = eval.Bundle{Dir: b.Dir, Baseline: base, Incident: b.Incident, Kernel: slices.Concat(b.Kernel, bb.Kernel)}
		source = analyze.SourceOtherBundle + " " + bb.Name()
	}
	quiet := &cmdEnv{stdin: env.stdin, stdout: io.Discard, stderr: env.stderr, getenv: env.getenv}
	if err := runImport(ctx, append([]string{"--store", store}, b.Files()...), quiet); err != nil {
		return nil, fmt.Errorf("importing bundle %s: %w", dir, err)
	}
	split, err := b.Split()
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", dir, err)
	}
	if len(split.Incident) == 0 {
		return nil, fmt.Errorf("bundle %s: its incident files hold no spans", dir)
	}
	p := &analyze.Plan{Incident: split.Incident, Source: analyze.SourceNone}
	if len(split.Baseline) > 0 {
		p.Baseline, p.BaselineTraces, p.Source, p.Explicit = split.Baseline, split.BaselineTraces, source, true
	}
	return p, nil
}

// detectQuietly runs the detectors over the window (or the plan, a
// bundle's), storing the findings, and returns what was compared with
// what (detect's "compared" line).
func detectQuietly(ctx context.Context, store, since, until, bsince, buntil string, plan *analyze.Plan, env *cmdEnv) (string, error) {
	logger, err := newLogger(env.stderr, "warn")
	if err != nil {
		return "", err
	}
	res, err := detectStore(ctx, detectRequest{store: store, since: since, until: until, baselineSince: bsince, baselineUntil: buntil,
		plan: plan, maxItems: defaultMaxItems}, logger)
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			return "", err
		}
		return "", fmt.Errorf("detecting (use --no-detect to investigate the stored findings): %w", err)
	}
	return res.in.Describe(), nil
}

// investigateStore opens the store, investigates, writes and prints the
// report. It returns nil when no hypothesis could be formed.
func investigateStore(ctx context.Context, store string, plan *analyze.Plan, compared string, f *investigateFlags, logger *slog.Logger, env *cmdEnv) (*report.Report, error) {
	r, closeR, err := openWritableReader(ctx, store, logger)
	if err != nil {
		return nil, err
	}
	defer closeR()
	scope, err := incidentScope(ctx, r, *f.since, *f.until, *f.baselineSince, *f.baselineUntil, *f.services, plan)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	res, err := runInvestigator(ctx, r, scope, f, logger, env)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(env.stderr, "investigate: %s after %d attempt(s), %d step(s), %s%s\n", res.Status, res.Attempts, res.Steps,
		time.Since(start).Round(time.Millisecond), tokensNote(res.Tokens))
	if res.Hypothesis == nil {
		fmt.Fprintf(env.stdout, "No hypothesis: %s.\n", res.StopReason)
		return nil, nil
	}
	rep, err := report.Build(ctx, r, *res.Hypothesis, res.Verdict, report.Options{Scope: scope, Compared: compared, GeneratedAtNS: time.Now().UnixNano()})
	if err != nil {
		return nil, fmt.Errorf("building the report: %w", err)
	}
	if err := emitReport(ctx, r, &rep, reportOutput{dir: *f.out, asJSON: *f.asJSON, jiraProject: *f.jira}, env); err != nil {
		return nil, err
	}
	return &rep, nil
}

func tokensNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(", %d tokens", n)
}

// incidentScope resolves the incident window and its baseline against
// the stored data: plan when a bundle gave one, else the window flags (as
// detect resolves them).
func incidentScope(ctx context.Context, r evidence.Reader, since, until, bsince, buntil, services string, plan *analyze.Plan) (hypothesis.Scope, error) {
	st, err := r.Stats(ctx)
	if err != nil {
		return hypothesis.Scope{}, fmt.Errorf("reading store stats: %w", err)
	}
	if st.Spans == 0 && st.KernelEvents == 0 && st.LockEdges == 0 {
		return hypothesis.Scope{}, errors.New("the store holds no spans, kernel events or lock edges: import or receive evidence first")
	}
	if plan == nil {
		p, err := resolvePlan(st, since, until, bsince, buntil)
		if err != nil {
			return hypothesis.Scope{}, err
		}
		plan = &p
	}
	var sc hypothesis.Scope
	for i, w := range plan.Incident {
		if i == 0 || w.SinceNS < sc.SinceNS {
			sc.SinceNS = w.SinceNS
		}
		sc.UntilNS = max(sc.UntilNS, w.UntilNS)
	}
	sc.Baseline = plan.Baseline
	for i, s := range strings.Split(services, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		// Services are matched exactly (as the verifier matches a
		// hypothesis' location), so a misspelt one would only make every
		// hypothesis fail: say so now.
		if !slices.Contains(st.Services, s) {
			return sc, usagef("--services: entry %d names no service of the store (names are matched exactly; debugai stats lists them)", i+1)
		}
		sc.Services = append(sc.Services, s)
	}
	return sc, nil
}

// runInvestigator runs the deterministic investigator, or the LLM loop.
func runInvestigator(ctx context.Context, r evidence.Reader, scope hypothesis.Scope, f *investigateFlags, logger *slog.Logger, env *cmdEnv) (agent.Result, error) {
	fr, ok := r.(agent.FindingLister)
	if !ok {
		return agent.Result{}, errors.New("this store cannot list findings")
	}
	if !*f.llm {
		return agent.NewDeterministic(fr, r).Investigate(ctx, agent.Incident{Scope: scope})
	}
	cfg := f.llmCfg
	cfg.Progress, cfg.Logger = env.stderr, logger
	return investigateLLM(ctx, r, fr, scope, cfg, logger)
}

// openWritableReader opens the store read-write (so that the report is
// stored), or reads through a running serve that owns it.
func openWritableReader(ctx context.Context, path string, logger *slog.Logger) (evidence.Reader, func() error, error) {
	if _, err := os.Stat(path); err == nil {
		st, err := duckdb.Open(ctx, path, duckdb.Options{Logger: logger})
		if err == nil {
			return st, st.Close, nil
		}
		if !errors.Is(err, duckdb.ErrLocked) {
			return nil, nil, err
		}
	}
	return openReader(ctx, path, logger)
}
