package lockgraph

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/debugai/debugai/evidence"
)

func analyze(t testing.TB, in []evidence.LockEdge, w *Waits, cfg Config) (Report, []evidence.Finding) {
	t.Helper()
	r, fs, err := Analyze(in, w, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, fs
}

func TestFindingABBA(t *testing.T) {
	in := []evidence.LockEdge{
		sites(e("muA", "muB", 20), "transfer bank.go:41", "transfer bank.go:45", 100, 500),
		sites(e("muB", "muA", 5), "audit bank.go:80", "audit bank.go:82", 200, 900),
	}
	_, fs := analyze(t, in, nil, DefaultConfig())
	if len(fs) != 1 {
		t.Fatalf("%d findings", len(fs))
	}
	f := fs[0]
	wantRefs := []evidence.Ref{{ID: "edge:muA>muB", Line: evidence.LineLock}, {ID: "edge:muB>muA", Line: evidence.LineLock}}
	if f.Kind != KindInversion || f.Subject != "muA<->muB" || !reflect.DeepEqual(f.Refs, wantRefs) {
		t.Errorf("finding %+v", f)
	}
	if f.ID != evidence.NewFindingID(KindInversion, "muA<->muB", wantRefs) {
		t.Errorf("id %s", f.ID)
	}
	if f.Confidence != 0.5 || f.Score != 0.5 { // weakest edge 5 = ConfidenceHalfCount
		t.Errorf("confidence %v score %v", f.Confidence, f.Score)
	}
	if _, ok := f.Attrs["share"]; ok || f.Attrs["impact_known"] != 0 {
		t.Errorf("unknown impact has attrs %v", f.Attrs)
	}
	for _, s := range []string{"muA->muB 20x (held at transfer bank.go:41, acquiring at transfer bank.go:45)",
		"muB->muA 5x (held at audit bank.go:80", "impact unknown"} {
		if !strings.Contains(f.Summary, s) {
			t.Errorf("summary %q lacks %q", f.Summary, s)
		}
	}
}

func TestFindingImpact(t *testing.T) {
	in := []evidence.LockEdge{
		at(e("0x10", "0x20", 10), "n1", 7), at(e("0x20", "0x10", 10), "n1", 7),
		at(e("0x10", "0x20", 10), "n1", 8), // another process: no cycle there
	}
	cfg := DefaultConfig()
	cfg.MaxWaitRefs = 2
	w := &Waits{TotalNS: 1_000_000, ByLock: map[string]Wait{
		cfg.LockName("0x10", "n1", "svc", 7): {NS: 150_000, Refs: []evidence.Ref{{ID: "kev:n1/futex/9"}, {ID: "kev:n1/futex/3"}}},
		cfg.LockName("0x20", "n1", "svc", 7): {NS: 50_000, Refs: []evidence.Ref{{ID: "kev:n1/futex/3"}, {ID: "kev:n1/sem/1", Line: evidence.LineKernelSched}}},
		cfg.LockName("0x10", "n1", "svc", 8): {NS: 900_000}, // not in the cycle
	}}
	r, fs := analyze(t, in, w, cfg)
	if len(fs) != 1 || len(r.Cycles) != 1 {
		t.Fatalf("%d findings", len(fs))
	}
	im := r.Cycles[0].Impact
	wantRefs := []evidence.Ref{{ID: "kev:n1/futex/3", Line: evidence.LineKernelFutex}, {ID: "kev:n1/futex/9", Line: evidence.LineKernelFutex}}
	if !im.Known || im.WaitNS != 200_000 || im.Share != 0.2 || !reflect.DeepEqual(im.Refs, wantRefs) || im.MoreRefs != 1 {
		t.Errorf("impact %+v", im)
	}
	f := fs[0]
	if f.Subject != "0x10@n1/7<->0x20@n1/7" || f.Attrs["share"] != 0.2 || f.Attrs["impact_known"] != 1 {
		t.Errorf("finding %+v", f)
	}
	if want := f.Confidence * (LatentWeight + 0.2); f.Score != want {
		t.Errorf("score %v, want %v", f.Score, want)
	}
	lines := map[evidence.Line]int{}
	for _, r := range f.Refs {
		lines[r.Line]++
	}
	if lines[evidence.LineLock] != 2 || lines[evidence.LineKernelFutex] != 2 {
		t.Errorf("refs %+v", f.Refs)
	}
	if !strings.Contains(f.Summary, "20.0% of 1ms") {
		t.Errorf("summary %q", f.Summary)
	}

	// Wait data given but none on the cycle's locks: known, zero.
	r, _ = analyze(t, in, &Waits{TotalNS: 10}, cfg)
	if im := r.Cycles[0].Impact; !im.Known || im.Share != 0 {
		t.Errorf("impact %+v, want known zero", im)
	}
	// Waits of concurrent threads can exceed the total: capped.
	r, _ = analyze(t, in, &Waits{TotalNS: 10, ByLock: map[string]Wait{"0x10@n1/7": {NS: 50}}}, cfg)
	if im := r.Cycles[0].Impact; im.Share != 1 || im.WaitNS != 50 {
		t.Errorf("impact %+v, want share capped at 1", im)
	}
}

func TestBadWaits(t *testing.T) {
	in := []evidence.LockEdge{e("A", "B", 1), e("B", "A", 1)}
	for _, tt := range []struct {
		w    Waits
		want string
	}{
		{Waits{}, "lock waits: total 0 ns: must be positive: invalid lock wait data"},
		{Waits{TotalNS: 5, ByLock: map[string]Wait{"B": {NS: 1}, "A": {NS: -1}}}, `lock waits: lock "A": wait -1 ns: must not be negative: invalid lock wait data`},
		{Waits{TotalNS: 5, ByLock: map[string]Wait{"A": {Refs: []evidence.Ref{{Line: evidence.LineKernelFutex}}}}}, `lock waits: lock "A": ref without id: invalid lock wait data`},
	} {
		_, _, err := Analyze(in, &tt.w, DefaultConfig())
		if !errors.Is(err, ErrBadWaits) || err.Error() != tt.want {
			t.Errorf("error %v, want %q", err, tt.want)
		}
	}
	if _, _, err := Analyze(in, nil, Config{}); err == nil || !strings.HasPrefix(err.Error(), "lock graph config: ") {
		t.Errorf("zero config: %v", err)
	}
}

func TestConfidenceGrowsWithWeakestEdge(t *testing.T) {
	prev := 0.0
	for _, n := range []int64{1, 2, 5, 20, 100, 10000} {
		_, fs := analyze(t, []evidence.LockEdge{e("A", "B", 10000), e("B", "A", n)}, nil, DefaultConfig())
		c := fs[0].Confidence
		if c <= prev || c >= 1 {
			t.Errorf("weakest edge %d: confidence %v after %v", n, c, prev)
		}
		prev = c
	}
}

// TestFindingsDeterministic: the same edges in any order, and repeated
// runs, give identical reports and findings (IDs included).
func TestFindingsDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	in := randomEdges(r, 12, 60)
	cfg := DefaultConfig()
	cfg.ReportSelfLoops = true
	waits := &Waits{TotalNS: 1e9, ByLock: map[string]Wait{}}
	for i := range 12 {
		waits.ByLock[lockID(i)] = Wait{NS: int64(i) * 1e6, Refs: []evidence.Ref{{ID: "kev:n/s/" + lockID(i)}}}
	}
	wantReport, want := analyze(t, in, waits, cfg)
	if len(want) < 10 {
		t.Fatalf("only %d findings: weak test", len(want))
	}
	ids := map[string]bool{}
	for _, f := range want {
		if ids[f.ID] {
			t.Errorf("duplicate finding id %s (%s)", f.ID, f.Subject)
		}
		ids[f.ID] = true
	}
	for range 10 {
		shuffled := slices.Clone(in)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		gotReport, got := analyze(t, shuffled, waits, cfg)
		if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotReport, wantReport) {
			t.Fatal("findings depend on input order")
		}
	}
}

// TestFindingIDGolden pins one ID: a change in subject or refs would
// break stored reports' citations.
func TestFindingIDGolden(t *testing.T) {
	_, fs := analyze(t, []evidence.LockEdge{e("muB", "muA", 1), e("muA", "muB", 1)}, nil, DefaultConfig())
	if got, want := fs[0].ID, "finding:8743635aad1ce7c81d836b87"; got != want {
		t.Errorf("id %s, want %s", got, want)
	}
}
