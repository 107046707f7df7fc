package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"

	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/evidence/duckdb"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/detect/*.txtar")

// TestDetectScenarios runs testdata/detect/*.txtar. Each archive's comment
// is a script, one command per line (# starts a comment):
//
//	[!] <debugai command> ARGS...  run debugai with --store <temp store>
//	                               added; ! expects it to fail
//	exitcode N                     the last command's exit code
//	[!] stdout|stderr REGEXP       the last command's output matches
//	cmp stdout FILE                stdout equals the archive file FILE
//	                               (go test -update rewrites it)
//	finding N KIND SUBJECT         the last --json output's N-th finding
//	first KIND SUBJECT             the first finding of KIND there
//	attr-between KIND ATTR LO HI   that finding's attr, in unix seconds
//	                               when its name ends in _ns, is in [LO, HI]
//	stored-findings N              the store holds N findings
//
// Arguments may be double-quoted. $WORK is the directory holding the
// archive's files; a path under ../../../shared skips the test when absent.
func TestDetectScenarios(t *testing.T) {
	t.Setenv("DEBUGAI_HMAC_KEY", testKey)
	files, err := filepath.Glob(filepath.Join("testdata", "detect", "*.txtar"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			runScenario(t, file)
		})
	}
}

type scenario struct {
	t        *testing.T
	file     string
	ar       *txtar.Archive
	work     string
	store    string
	stdout   string
	stderr   string
	err      error
	dirty    bool // the archive's goldens changed (-update)
	lastJSON *detectOutput
}

func runScenario(t *testing.T, file string) {
	ar, err := txtar.ParseFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := &scenario{t: t, file: file, ar: ar, work: t.TempDir()}
	s.store = filepath.Join(s.work, "store", "ev.duckdb")
	for _, f := range ar.Files {
		if err := os.WriteFile(filepath.Join(s.work, f.Name), f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, line := range strings.Split(string(ar.Comment), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		args, err := splitArgs(strings.ReplaceAll(line, "$WORK", s.work))
		if err != nil {
			t.Fatalf("%s:%d: %v", file, i+1, err)
		}
		if msg := s.exec(args); msg != "" {
			t.Fatalf("%s:%d: %s: %s", file, i+1, line, msg)
		}
	}
	if s.dirty {
		if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// exec runs one script line and returns what failed, if anything.
func (s *scenario) exec(args []string) string {
	neg := args[0] == "!"
	if neg {
		args = args[1:]
	}
	switch args[0] {
	case "exitcode":
		if want := atoi(s.t, args[1]); exitCode(s.err, &bytes.Buffer{}) != want {
			return fmt.Sprintf("exit code %d, want %d (err %v)", exitCode(s.err, &bytes.Buffer{}), want, s.err)
		}
	case "stdout", "stderr":
		out := map[string]string{"stdout": s.stdout, "stderr": s.stderr}[args[0]]
		re, err := regexp.Compile(args[1])
		if err != nil {
			return err.Error()
		}
		if re.MatchString(out) == neg {
			return fmt.Sprintf("%s (negated: %v) does not hold; %s:\n%s", args[0], neg, args[0], out)
		}
	case "cmp":
		return s.cmp(args[2])
	case "finding", "first", "has", "attr-between":
		return s.checkFinding(args)
	case "stored-findings":
		return s.storedFindings(atoi(s.t, args[1]))
	default:
		return s.run(neg, args)
	}
	return ""
}

func (s *scenario) run(neg bool, args []string) string {
	for _, a := range args {
		if strings.HasPrefix(a, "../../../shared/") {
			if _, err := os.Stat(a); err != nil {
				s.t.Skipf("shared test data %s not found (it lives beside the repository in CI): %v", a, err)
			}
		}
	}
	full := append([]string{args[0], "--store", s.store}, args[1:]...)
	s.stdout, s.stderr, s.err = runCLI(s.t, full...)
	if s.err != nil {
		s.stderr += "debugai: " + s.err.Error() + "\n" // as main prints it
	}
	s.lastJSON = nil
	var out detectOutput
	if args[0] == "detect" && json.Unmarshal([]byte(s.stdout), &out) == nil {
		s.lastJSON = &out
	}
	if (s.err != nil) != neg {
		return fmt.Sprintf("err = %v (want failure: %v)\nstdout:\n%s\nstderr:\n%s", s.err, neg, s.stdout, s.stderr)
	}
	return ""
}

func (s *scenario) cmp(name string) string {
	for i := range s.ar.Files {
		f := &s.ar.Files[i]
		if f.Name != name {
			continue
		}
		if *update {
			f.Data, s.dirty = []byte(s.stdout), true
			return ""
		}
		if string(f.Data) != s.stdout {
			return fmt.Sprintf("stdout differs from %s (go test -run TestDetectScenarios -update rewrites it):\n got:\n%s\nwant:\n%s", name, s.stdout, f.Data)
		}
		return ""
	}
	if *update {
		s.ar.Files = append(s.ar.Files, txtar.File{Name: name, Data: []byte(s.stdout)})
		s.dirty = true
		return ""
	}
	return "no archive file " + name + " (go test -update creates it)"
}

func (s *scenario) checkFinding(args []string) string {
	if s.lastJSON == nil {
		return "the last command printed no detect --json output"
	}
	fs := s.lastJSON.Findings
	var f *evidence.Finding
	switch args[0] {
	case "finding":
		if n := atoi(s.t, args[1]); n >= 1 && n <= len(fs) {
			f = &fs[n-1]
		}
		if f == nil || f.Kind != args[2] || f.Subject != args[3] {
			return fmt.Sprintf("finding %s is %+v, want %s %q", args[1], f, args[2], args[3])
		}
		return ""
	}
	if args[0] == "has" {
		for i := range fs {
			if fs[i].Kind == args[1] && fs[i].Subject == args[2] {
				return ""
			}
		}
		return fmt.Sprintf("no %s finding about %q", args[1], args[2])
	}
	for i := range fs {
		if fs[i].Kind == args[1] {
			f = &fs[i]
			break
		}
	}
	if f == nil {
		return "no finding of kind " + args[1]
	}
	if args[0] == "first" {
		if f.Subject != args[2] {
			return fmt.Sprintf("first %s finding is about %q, want %q: %s", args[1], f.Subject, args[2], f.Summary)
		}
		return ""
	}
	v, ok := f.Attrs[args[2]]
	if strings.HasSuffix(args[2], "_ns") {
		v /= 1e9
	}
	lo, _ := strconv.ParseFloat(args[3], 64)
	hi, _ := strconv.ParseFloat(args[4], 64)
	if !ok || v < lo || v > hi {
		return fmt.Sprintf("%s %s = %.3f (present %v), want in [%s, %s]: %s", args[1], args[2], v, ok, args[3], args[4], f.Summary)
	}
	return ""
}

func (s *scenario) storedFindings(want int) string {
	st, err := duckdb.Open(context.Background(), s.store, duckdb.Options{ReadOnly: true})
	if err != nil {
		return err.Error()
	}
	defer st.Close()
	fs, err := st.Findings(context.Background(), evidence.FindingFilter{Limit: 10_000})
	if err != nil {
		return err.Error()
	}
	if len(fs) != want {
		return fmt.Sprintf("store holds %d findings, want %d", len(fs), want)
	}
	for _, f := range fs {
		if item, err := st.Get(context.Background(), f.ID); err != nil || item.Finding == nil {
			return fmt.Sprintf("Get(%s) = %+v, %v", f.ID, item, err)
		}
		if ref := f.Refs[0].ID; evidence.IDKind(ref) == "cp" || evidence.IDKind(ref) == "ks" {
			if item, err := st.Get(context.Background(), ref); err != nil || item.Finding == nil {
				return fmt.Sprintf("Get(%s) = %+v, %v", ref, item, err)
			}
		}
	}
	return ""
}

// splitArgs splits a line at spaces, keeping double-quoted runs whole; \"
// is a literal quote.
func splitArgs(line string) ([]string, error) {
	var args []string
	var cur strings.Builder
	inQuote, has := false, false
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case c == '\\' && i+1 < len(line) && line[i+1] == '"':
			cur.WriteByte('"')
			i++
		case c == '"':
			inQuote, has = !inQuote, true
		case c == ' ' && !inQuote:
			if has {
				args = append(args, cur.String())
				cur.Reset()
				has = false
			}
		default:
			cur.WriteByte(c)
			has = true
		}
	}
	if inQuote {
		return nil, fmt.Errorf("unterminated quote")
	}
	if has {
		args = append(args, cur.String())
	}
	return args, nil
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return n
}

// TestDetectLockGraphOverStoredEdges: lock edges written to the store reach
// lockgraph through the Reader, and the stored inversion's citations resolve.
func TestDetectLockGraphOverStoredEdges(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ev.duckdb")
	st, err := duckdb.Open(ctx, path, duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const t0 = int64(1_800_000_000e9)
	b := &evidence.Batch{
		Spans: []evidence.Span{{TraceID: evidence.TraceID{1}, SpanID: evidence.SpanID{1}, Service: "bank", Name: "transfer",
			Kind: evidence.KindServer, StartNS: t0, EndNS: t0 + 5e6}},
		LockEdges: []evidence.LockEdge{
			{Service: "bank", Node: "n1", PID: 7, Held: "(*Account).mu#from", Acquiring: "(*Account).mu#to", Count: 9, FirstNS: t0, LastNS: t0 + 1e6},
			{Service: "bank", Node: "n1", PID: 7, Held: "(*Account).mu#to", Acquiring: "(*Account).mu#from", Count: 4, FirstNS: t0 + 2e6, LastNS: t0 + 3e6},
			{Service: "bank", Node: "n1", PID: 7, Held: "old", Acquiring: "older", Count: 1, FirstNS: t0 - 100e9, LastNS: t0 - 90e9},
		},
	}
	if err := st.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runCLI(t, "detect", "--store", path, "--json")
	if err != nil {
		t.Fatalf("detect: %v\n%s", err, errOut)
	}
	var res detectOutput
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.LockEdges != 2 || res.Detectors["lockgraph"] != 1 {
		t.Fatalf("lock edges %d (want 2 in the window), lockgraph findings %d (want 1):\n%s", res.LockEdges, res.Detectors["lockgraph"], out)
	}
	ro, err := duckdb.Open(ctx, path, duckdb.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	fs, err := ro.Findings(ctx, evidence.FindingFilter{Kinds: []string{"lock_inversion"}})
	if err != nil || len(fs) != 1 {
		t.Fatalf("stored lock inversions %+v, %v", fs, err)
	}
	for _, ref := range fs[0].Refs {
		if item, err := ro.Get(ctx, ref.ID); err != nil || item.LockEdge == nil {
			t.Errorf("Get(%s) = %+v, %v", ref.ID, item, err)
		}
	}
}

// TestDetectLockInversionImpact stores an AB-BA cycle and futex waits on
// one of its locks (named by the collector's symbol, stamped with the
// span), and expects the inversion's impact: the waits' share of the
// root span time, citing the wait events.
func TestDetectLockInversionImpact(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ev.duckdb")
	st, err := duckdb.Open(ctx, path, duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const t0 = int64(1_800_000_000e9)
	trace, span := evidence.TraceID{7}, evidence.SpanID{7}
	wait := func(seq uint64, name string, ns int64) evidence.KernelEvent {
		return evidence.KernelEvent{Node: "n1", Stream: "futex_wait-x", Seq: seq, Type: evidence.KernelFutexWait,
			TimeNS: t0 + 5e6, DurationNS: ns, PID: 7, TID: 8, Addr: 0xc000010000, TraceID: trace, SpanID: span,
			Attrs: evidence.Attrs{{Key: evidence.AttrLockName, Value: evidence.StringValue(name)}}}
	}
	b := &evidence.Batch{
		Spans: []evidence.Span{{TraceID: trace, SpanID: span, Service: "bank", Name: "transfer",
			Kind: evidence.KindServer, StartNS: t0, EndNS: t0 + 10e6}},
		KernelEvents: []evidence.KernelEvent{wait(0, "main.muA", 2e6), wait(1, "main.muA", 1e6), wait(2, "main.other", 3e6)},
		LockEdges: []evidence.LockEdge{
			{Node: "n1", PID: 7, Held: "main.muA", Acquiring: "main.muB", Count: 9, FirstNS: t0, LastNS: t0 + 1e6},
			{Node: "n1", PID: 7, Held: "main.muB", Acquiring: "main.muA", Count: 4, FirstNS: t0 + 2e6, LastNS: t0 + 3e6},
		},
	}
	if err := st.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, errOut, err := runCLI(t, "detect", "--store", path, "--json"); err != nil {
		t.Fatalf("detect: %v\n%s", err, errOut)
	}
	ro, err := duckdb.Open(ctx, path, duckdb.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	fs, err := ro.Findings(ctx, evidence.FindingFilter{Kinds: []string{"lock_inversion"}})
	if err != nil || len(fs) != 1 {
		t.Fatalf("stored lock inversions %+v, %v", fs, err)
	}
	f := fs[0]
	if f.Attrs["impact_known"] != 1 || f.Attrs["wait_ns"] != 3e6 || f.Attrs["total_ns"] != 10e6 {
		t.Errorf("impact attrs %v: want 3 ms of waits on main.muA out of 10 ms", f.Attrs)
	}
	var kevRefs int
	for _, r := range f.Refs {
		if r.Line == evidence.LineKernelFutex {
			kevRefs++
		}
	}
	if kevRefs != 2 {
		t.Errorf("%d futex-wait citations, want the 2 waits on main.muA: %v", kevRefs, f.Refs)
	}
}

// TestDetectBundle analyzes a recorded bundle in a temporary store: its
// baseline files are the baseline, the ranking model's decomposition is
// printed with the findings, and the flags a bundle decides are refused.
func TestDetectBundle(t *testing.T) {
	dir := filepath.Join("..", "..", "eval", "incidents", "cpuquota")
	out, errOut, err := runCLI(t, "detect", "--bundle", dir, "--json")
	if err != nil {
		t.Fatalf("detect --bundle: %v\n%s", err, errOut)
	}
	var res detectOutput
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.BaselineTraces < 10 || !strings.Contains(res.Compared, "bundle") {
		t.Errorf("compared %q with %d baseline traces, want the bundle's baseline files", res.Compared, res.BaselineTraces)
	}
	if len(res.Explained) == 0 || res.Explained[0].Service != "ledger" || !res.Explained[0].Significant {
		t.Fatalf("explained %+v, want ledger first and significant (the throttled service)", res.Explained)
	}
	if len(res.Findings) == 0 || res.Findings[0].Score < res.Findings[len(res.Findings)-1].Score {
		t.Errorf("findings not ranked by score: %d findings", len(res.Findings))
	}
	text, _, err := runCLI(t, "detect", "--bundle", dir)
	if err != nil || !regexp.MustCompile(`explained: ledger \d+ %`).MatchString(text) {
		t.Errorf("text output (err %v) lacks the explained line:\n%s", err, text)
	}
	// The baseline from another recording (the control bundle "none",
	// recorded an hour before, on the same services).
	out, errOut, err = runCLI(t, "detect", "--bundle", dir, "--baseline-bundle", filepath.Join(filepath.Dir(dir), "none"), "--json")
	if err != nil {
		t.Fatalf("detect --baseline-bundle: %v\n%s", err, errOut)
	}
	var other detectOutput
	if err := json.Unmarshal([]byte(out), &other); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(other.Compared, "the baseline bundle none") || other.BaselineTraces < 10 || other.Compared[strings.Index(other.Compared, "baseline"):] == res.Compared[strings.Index(res.Compared, "baseline"):] {
		t.Errorf("compared %q (%d traces, %d spans), want the other bundle's baseline", other.Compared, other.BaselineTraces, other.BaselineSpans)
	}
	if len(other.Explained) == 0 || other.Explained[0].Service != "ledger" {
		t.Errorf("explained %+v against the other baseline, want ledger first", other.Explained)
	}
	for _, args := range [][]string{
		{"--baseline-bundle", dir},
		{"--bundle", dir, "--since", "1h"},
		{"--bundle", dir, "--store", filepath.Join(t.TempDir(), "x.duckdb")},
		{"--bundle", dir, "--no-store"},
	} {
		_, _, err := runCLI(t, append([]string{"detect"}, args...)...)
		if exitCode(err, &bytes.Buffer{}) != 2 || !strings.Contains(fmt.Sprint(err), "--bundle") {
			t.Errorf("detect %v: %v; want a usage error", args, err)
		}
	}
	_, _, err = runCLI(t, "detect", "--bundle", filepath.Join(t.TempDir(), "absent"))
	if exitCode(err, &bytes.Buffer{}) != 2 || !strings.Contains(fmt.Sprint(err), "--bundle") {
		t.Errorf("absent bundle: %v; want a usage error naming --bundle", err)
	}
}

// TestDetectKernelOnly: a store with kernel events and lock edges and no
// spans (a node's records whose traces were sampled away) is evidence:
// detect runs the lock-order detector on it and says the window was
// kernel-only, and investigate reports on it instead of refusing.
func TestDetectKernelOnly(t *testing.T) {
	store := filepath.Join(t.TempDir(), "ev.duckdb")
	kernel := filepath.Join("..", "..", "eval", "incidents", "lockinv", "kernel.otlp.jsonl.gz")
	if _, errOut, err := runCLI(t, "import", "--store", store, kernel); err != nil {
		t.Fatalf("import: %v\n%s", err, errOut)
	}
	out, errOut, err := runCLI(t, "detect", "--store", store, "--json")
	if err != nil {
		t.Fatalf("detect: %v\n%s", err, errOut)
	}
	var res detectOutput
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.Compared, "kernel-only window") || res.KernelEvents == 0 || res.LockEdges == 0 {
		t.Errorf("compared %q, %d kernel events, %d lock edges; want a kernel-only window", res.Compared, res.KernelEvents, res.LockEdges)
	}
	if res.Detectors["lockgraph"] == 0 {
		t.Errorf("no lock inversion found on the lock edges alone: %v", res.Detectors)
	}
	rep := filepath.Join(t.TempDir(), "r")
	if _, errOut, err := runCLI(t, "investigate", "--store", store, "--out", rep); err != nil {
		t.Fatalf("investigate: %v\n%s", err, errOut)
	}
	md, err := os.ReadFile(filepath.Join(rep, "report.md"))
	if err != nil || !strings.Contains(string(md), "kernel-only window") || !strings.Contains(string(md), "lock\\_inversion") {
		t.Errorf("report (%v) does not say it was kernel-only or lacks the inversion", err)
	}
}
