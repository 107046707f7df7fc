package regression

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/debugai/debugai/correlate"
	"github.com/debugai/debugai/evidence"
)

const sec = int64(1e9)

// base is the planted data's epoch (unix ns).
const base = int64(1_800_000_000) * sec

func tid(n int) evidence.TraceID {
	var t evidence.TraceID
	binary.BigEndian.PutUint64(t[8:], uint64(n)+1)
	return t
}

func sid(n int) evidence.SpanID {
	var s evidence.SpanID
	binary.BigEndian.PutUint64(s[:], uint64(n)+1)
	return s
}

// server returns a root SERVER span of trace n.
func server(n int, svc, name, version string, start, dur int64) evidence.Span {
	return evidence.Span{TraceID: tid(n), SpanID: sid(2 * n), Service: svc, Name: name, Version: version,
		ResourceID: "res:" + svc + "-" + version, Kind: evidence.KindServer, StartNS: start, EndNS: start + dur}
}

// jitter returns d scaled by a uniform factor in [1-f, 1+f].
func jitter(r *rand.Rand, d int64, f float64) int64 {
	return int64(float64(d) * (1 - f + 2*f*r.Float64()))
}

func findings(t *testing.T, in Input) []evidence.Finding {
	t.Helper()
	_, fs, err := Analyze(in, DefaultConfig())
	if err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	for i := range fs {
		if err := fs[i].Validate(); err != nil {
			t.Errorf("finding %d: %v", i, err)
		}
		if fs[i].ID != evidence.NewFindingID(fs[i].Kind, fs[i].Subject, fs[i].Refs) {
			t.Errorf("finding %s: id does not derive from its content", fs[i].ID)
		}
	}
	return fs
}

func ofKind(fs []evidence.Finding, kind string) []evidence.Finding {
	var out []evidence.Finding
	for _, f := range fs {
		if f.Kind == kind {
			out = append(out, f)
		}
	}
	return out
}

// versionData: /a slows from ~100ms (v1) to ~150ms (v2), /b does not.
func versionData(seed uint64) []evidence.Span {
	r := rand.New(rand.NewPCG(seed, 1))
	var spans []evidence.Span
	for i := range 80 {
		v, d := "v1", int64(100e6)
		if i >= 40 {
			v, d = "v2", 150e6
		}
		start := base + int64(i)*sec
		spans = append(spans, server(2*i, "api", "GET /a", v, start, jitter(r, d, 0.1)))
		spans = append(spans, server(2*i+1, "api", "GET /b", v, start+sec/2, jitter(r, 100e6, 0.1)))
	}
	return spans
}

func TestKSBetweenVersions(t *testing.T) {
	fs := ofKind(findings(t, Input{Spans: versionData(1)}), KindKS)
	if len(fs) != 1 {
		t.Fatalf("%d latency_ks findings, want 1 (for /a): %+v", len(fs), fs)
	}
	f := fs[0]
	if f.Subject != "api GET /a v1..v2" || f.Refs[0].ID != evidence.KSEvidenceID("api GET /a", "v1", "v2") || f.Confidence < 0.99 {
		t.Errorf("finding %+v", f)
	}
	var deploy []string
	for _, r := range f.Refs {
		if r.Line == evidence.LineDeploy {
			deploy = append(deploy, r.ID)
		}
	}
	if !slices.Equal(deploy, []string{"res:api-v1", "res:api-v2"}) {
		t.Errorf("deploy refs %q, want both versions' resources", deploy)
	}
	if rel := f.Attrs["rel_change"]; rel < 0.4 || rel > 0.6 {
		t.Errorf("rel_change %.2f, want ~0.5", rel)
	}
}

// stepData: one endpoint at ~100ms that steps to ~300ms at base+60s.
func stepData(seed uint64, n int, scale float64, shift int64) []evidence.Span {
	r := rand.New(rand.NewPCG(seed, 2))
	var spans []evidence.Span
	for i := range n {
		start := base + int64(i)*sec
		d := int64(100e6)
		if i >= 60*n/100 {
			d = 300e6
		}
		spans = append(spans, server(i, "shop", "GET /cart", "", start+shift, int64(scale*float64(jitter(r, d, 0.15)))))
	}
	return spans
}

func TestChangepointPlantedStep(t *testing.T) {
	fs := ofKind(findings(t, Input{Spans: stepData(1, 100, 1, 0)}), KindChangepoint)
	if len(fs) == 0 {
		t.Fatal("no latency_changepoint finding")
	}
	for _, f := range fs {
		at := int64(f.Attrs["change_ns"])
		if w := int64(f.Attrs["window_ns"]); at < base+60*sec-w || at > base+60*sec+w {
			t.Errorf("%s: change at %+ds, want 60s ± one window (%v)", f.Subject, (at-base)/sec, w)
		}
		if f.Refs[0].ID != evidence.ChangePointEvidenceID(f.Subject, at) || !strings.HasPrefix(f.Subject, "shop GET /cart p") {
			t.Errorf("refs %v of %s", f.Refs[:1], f.Subject)
		}
		if f.Attrs["level_after_ns"] < 2.5*f.Attrs["level_before_ns"] {
			t.Errorf("levels %v -> %v", f.Attrs["level_before_ns"], f.Attrs["level_after_ns"])
		}
	}
}

// TestChangepointInvariances: the change time moves with a time shift and
// stays put under a duration scale; the input order changes nothing.
func TestChangepointInvariances(t *testing.T) {
	ref := findings(t, Input{Spans: stepData(3, 100, 1, 0)})
	const shift = 12345 * sec
	shifted := findings(t, Input{Spans: stepData(3, 100, 1, shift)})
	scaled := findings(t, Input{Spans: stepData(3, 100, 3, 0)})
	perm := stepData(3, 100, 1, 0)
	rand.New(rand.NewPCG(9, 9)).Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
	permuted := findings(t, Input{Spans: perm})
	if !slices.EqualFunc(ref, permuted, func(a, b evidence.Finding) bool { return a.ID == b.ID && a.Summary == b.Summary }) {
		t.Errorf("shuffled input changed the findings")
	}
	cps := func(fs []evidence.Finding) []int64 {
		var out []int64
		for _, f := range ofKind(fs, KindChangepoint) {
			out = append(out, int64(f.Attrs["change_ns"]))
		}
		slices.Sort(out)
		return out
	}
	want := cps(ref)
	if len(want) == 0 {
		t.Fatal("no change found")
	}
	got := cps(shifted)
	for i := range got {
		got[i] -= shift
	}
	if !slices.Equal(got, want) {
		t.Errorf("shifted change times %v, want %v", got, want)
	}
	if got := cps(scaled); !slices.Equal(got, want) {
		t.Errorf("scaled change times %v, want %v", got, want)
	}
}

// TestNullHasFewFalseAlarms: iid latencies with two versions that do not
// differ; Benjamini–Hochberg at 5% should rarely report anything.
func TestNullHasFewFalseAlarms(t *testing.T) {
	alarms := 0
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 3))
		var spans []evidence.Span
		for i := range 120 {
			v := "v1"
			if i >= 60 {
				v = "v2"
			}
			d := int64(100e6 * math.Exp(0.3*r.NormFloat64()))
			spans = append(spans, server(i, "api", "GET /n", v, base+int64(i)*sec, d))
		}
		fs := findings(t, Input{Spans: spans})
		if n := len(ofKind(fs, KindKS)) + len(ofKind(fs, KindChangepoint)); n > 0 {
			alarms++
			t.Logf("seed %d: %d false alarms, e.g. %s", seed, n, fs[0].Summary)
		}
	}
	if alarms > 3 {
		t.Errorf("%d of 20 null data sets raised an alarm, want at most 3", alarms)
	}
}

func TestTrendBreakPlanted(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	var spans []evidence.Span
	for i := range 200 {
		d := int64(100e6)
		if i >= 100 {
			d += int64(i-100) * 4e6 // +4ms per second after 100s
		}
		spans = append(spans, server(i, "api", "GET /t", "", base+int64(i)*sec, jitter(r, d, 0.05)))
	}
	fs := ofKind(findings(t, Input{Spans: spans}), KindTrendBreak)
	if len(fs) != 1 {
		t.Fatalf("%d trend-break findings, want 1", len(fs))
	}
	f := fs[0]
	at := (int64(f.Attrs["break_ns"]) - base) / sec
	if at < 85 || at > 115 || f.Attrs["slope_after_ns_per_s"] < 2e6 || math.Abs(f.Attrs["slope_before_ns_per_s"]) > 1e6 {
		t.Errorf("break at %ds, slopes %v -> %v: %s", at, f.Attrs["slope_before_ns_per_s"], f.Attrs["slope_after_ns_per_s"], f.Summary)
	}
}

func TestFitTrendAndFDistribution(t *testing.T) {
	if got := incBeta(2, 3, 0.4); math.Abs(got-0.5248) > 1e-12 {
		t.Errorf("I_0.4(2,3) = %v, want 0.5248", got)
	}
	// F(2, 10) upper 5% point is 4.1028.
	if p := fUpper(4.1028, 2, 10); math.Abs(p-0.05) > 1e-4 {
		t.Errorf("P(F(2,10) > 4.1028) = %v, want 0.05", p)
	}
	x := []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	line := make([]float64, len(x))
	hinge := make([]float64, len(x))
	for i, v := range x {
		line[i] = 2 + 0.5*v + 0.01*float64(i%2)
		hinge[i] = 2 + 0.5*v + 3*math.Max(0, v-5) + 0.01*float64(i%2)
	}
	if fit, ok := FitTrend(x, line); !ok || fit.P < 0.05 {
		t.Errorf("straight line: %+v, %v; want no break", fit, ok)
	}
	fit, ok := FitTrend(x, hinge)
	if !ok || fit.P > 1e-6 || fit.Tau != 5 || math.Abs(fit.Slope2-3.5) > 0.05 {
		t.Errorf("hinge at 5: %+v, %v", fit, ok)
	}
}

// lockTraces: each trace is a SERVER span "api GET /l" calling a CLIENT
// "db query" span that waits for a lock from 10ms to 10+w ms, w growing
// with how many traces run at once.
func lockTraces(n int) []evidence.Span {
	var spans []evidence.Span
	for i := range n {
		start := base + int64(i/4)*sec // four at a time
		w := int64(10e6 + 20e6*int64(i%4))
		root := server(i, "api", "GET /l", "", start, 200e6)
		db := evidence.Span{TraceID: tid(i), SpanID: sid(2*i + 1), ParentSpanID: root.SpanID, Service: "db", Name: "query",
			Kind: evidence.KindClient, StartNS: start + 5e6, EndNS: start + 195e6,
			Events: []evidence.SpanEvent{
				{Index: 0, TimeNS: start + 10e6, Name: "Waiting for lock behind 2 transactions"},
				{Index: 1, TimeNS: start + 10e6 + w, Name: "Acquired lock; 1 transactions waiting behind"},
			}}
		spans = append(spans, root, db)
	}
	return spans
}

func TestLockWaitFromSpanEvents(t *testing.T) {
	rep, fs, err := Analyze(Input{Spans: lockTraces(40)}, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	comp := ofKind(fs, KindCriticalPathComponent)
	if len(comp) != 1 || comp[0].Subject != "db/query lock" {
		t.Fatalf("component findings %+v, want db/query lock", comp)
	}
	// Mean wait 40ms of 200ms per trace.
	if s := comp[0].Attrs["share"]; math.Abs(s-0.2) > 1e-9 {
		t.Errorf("share %v, want 0.2", s)
	}
	if !strings.HasPrefix(comp[0].Refs[0].ID, "sev:") || comp[0].Confidence != 1 {
		t.Errorf("refs %v, confidence %v", comp[0].Refs, comp[0].Confidence)
	}
	var sum int64
	for _, c := range rep.Paths[0].Total {
		sum += c
	}
	if sum != 200e6 || rep.Paths[0].Total[CompNetwork] != 0 {
		t.Errorf("components %v do not partition the 200ms path", rep.Paths[0].Total)
	}
}

func TestKernelOverlaysBecomeComponents(t *testing.T) {
	spans := lockTraces(12)
	for i := range spans {
		spans[i].Events = nil
	}
	var ovs []correlate.Overlay
	for i := 1; i < len(spans); i += 2 {
		ovs = append(ovs, correlate.Overlay{SpanIndex: int32(i), SpanID: spans[i].ID(), FutexWaitNS: 60e6, BlockIONS: 30e6,
			Refs: []evidence.Ref{{ID: "kev:n/futex/" + string(rune('a'+i)), Line: evidence.LineKernelFutex}}})
	}
	rep, fs, err := Analyze(Input{Spans: spans, Overlays: ovs}, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if tot := rep.Paths[0].Total; tot[CompLock] != 60e6 || tot[CompIO] != 30e6 || tot[CompSelf] != 110e6 {
		t.Errorf("components %v, want lock 60ms, io 30ms, self 110ms", tot)
	}
	comp := ofKind(fs, KindCriticalPathComponent)
	if len(comp) != 2 || comp[0].Subject != "db/query lock" || comp[1].Subject != "db/query io" {
		t.Fatalf("component findings %+v", comp)
	}
	lines := map[evidence.Line]bool{}
	for _, r := range comp[0].Refs {
		lines[r.Line] = true
	}
	if !lines[evidence.LineKernelFutex] || !lines[evidence.LineTrace] {
		t.Errorf("lock finding cites lines %v, want trace and kernel.futex", lines)
	}
}

func TestConcurrency(t *testing.T) {
	paths := []TracePath{{StartNS: 0, EndNS: 10}, {StartNS: 5, EndNS: 15}, {StartNS: 10, EndNS: 20}, {StartNS: 30, EndNS: 40}}
	if got := concurrency(paths); !slices.Equal(got, []int{2, 2, 2, 0}) {
		t.Errorf("concurrency %v, want [2 2 2 0]", got)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(c *Config){
		"alpha":    func(c *Config) { c.Alpha = 1 },
		"windows":  func(c *Config) { c.MinWindows, c.MaxWindows = 10, 5 },
		"lock":     func(c *Config) { c.LockWaitEnd = " " },
		"exemplar": func(c *Config) { c.Exemplars = 0 },
		"floor":    func(c *Config) { c.FloorNS = math.NaN() },
	} {
		c := DefaultConfig()
		mutate(&c)
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
		if _, _, err := Analyze(Input{}, c); !errors.Is(err, ErrConfig) {
			t.Errorf("Analyze with bad %s: %v", name, err)
		}
	}
}

func TestEmptyInput(t *testing.T) {
	rep, fs, err := Analyze(Input{}, DefaultConfig())
	if err != nil || len(fs) != 0 || rep.Traces != 0 {
		t.Fatalf("empty input: %+v, %v, %v", rep, fs, err)
	}
}
