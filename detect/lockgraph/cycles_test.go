package lockgraph

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/debugai/debugai/evidence"
)

func subjects(cs []Cycle) []string {
	out := make([]string, len(cs))
	for i := range cs {
		out[i] = cs[i].Subject()
	}
	return out
}

func TestCycles(t *testing.T) {
	selfLoops := DefaultConfig()
	selfLoops.ReportSelfLoops = true
	len3 := DefaultConfig()
	len3.MaxCycleLen = 3
	minCount := DefaultConfig()
	minCount.MinEdgeCount = 2
	tests := []struct {
		name  string
		edges []evidence.LockEdge
		cfg   Config
		want  []string
	}{
		{"AB-BA", []evidence.LockEdge{e("muB", "muA", 1), e("muA", "muB", 4)}, DefaultConfig(), []string{"muA<->muB"}},
		{"ABC", []evidence.LockEdge{e("A", "B", 1), e("B", "C", 1), e("C", "A", 1)}, DefaultConfig(), []string{"A->B->C->A"}},
		{"ABC rotated input", []evidence.LockEdge{e("C", "A", 1), e("B", "C", 1), e("A", "B", 1)}, DefaultConfig(), []string{"A->B->C->A"}},
		{"DAG", []evidence.LockEdge{e("A", "B", 9), e("A", "C", 9), e("B", "C", 9), e("C", "D", 9), e("B", "D", 9)}, DefaultConfig(), nil},
		{"empty", nil, DefaultConfig(), nil},
		{"self-loop not reported by default", []evidence.LockEdge{e("A", "A", 5)}, DefaultConfig(), nil},
		{"symbolic self-loop reported on request", []evidence.LockEdge{e("A", "A", 5), e("A", "B", 1), e("B", "A", 1)}, selfLoops,
			[]string{"A->A", "A<->B"}},
		{"address self-loop never reported", []evidence.LockEdge{e("0x10", "0x10", 5)}, selfLoops, nil},
		{"both orientations of a 3-cycle", []evidence.LockEdge{
			e("A", "B", 1), e("B", "C", 1), e("C", "A", 1), e("A", "C", 1), e("C", "B", 1), e("B", "A", 1),
		}, DefaultConfig(), []string{"A<->B", "A<->C", "B<->C", "A->B->C->A", "A->C->B->A"}},
		{"length bound", []evidence.LockEdge{
			e("A", "B", 1), e("B", "C", 1), e("C", "D", 1), e("D", "A", 1), // 4-cycle
			e("X", "Y", 1), e("Y", "Z", 1), e("Z", "X", 1), // 3-cycle
		}, len3, []string{"X->Y->Z->X"}},
		{"length 4 at default", []evidence.LockEdge{e("A", "B", 1), e("B", "C", 1), e("C", "D", 1), e("D", "A", 1)},
			DefaultConfig(), []string{"A->B->C->D->A"}},
		{"length 5 beyond default", []evidence.LockEdge{e("A", "B", 1), e("B", "C", 1), e("C", "D", 1), e("D", "E", 1), e("E", "A", 1)},
			DefaultConfig(), nil},
		{"stronger inversion first", []evidence.LockEdge{
			e("A", "B", 1), e("B", "A", 1), e("Y", "Z", 7), e("Z", "Y", 3),
		}, DefaultConfig(), []string{"Y<->Z", "A<->B"}},
		{"min edge count", []evidence.LockEdge{e("A", "B", 5), e("B", "A", 1), e("Y", "Z", 2), e("Z", "Y", 2)},
			minCount, []string{"Y<->Z"}},
		{"duplicates summed before min count", []evidence.LockEdge{e("A", "B", 1), e("A", "B", 1), e("B", "A", 2)},
			minCount, []string{"A<->B"}},
		{"chord: 2-cycle and 3-cycle share edges", []evidence.LockEdge{
			e("A", "B", 1), e("B", "A", 1), e("B", "C", 1), e("C", "A", 1),
		}, DefaultConfig(), []string{"A<->B", "A->B->C->A"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, truncated := mustBuild(t, tt.edges, tt.cfg).Cycles()
			if s := subjects(got); !slices.Equal(s, tt.want) || truncated {
				t.Errorf("cycles %q (truncated %v), want %q", s, truncated, tt.want)
			}
		})
	}
}

func TestCycleEdgesAndSites(t *testing.T) {
	g := mustBuild(t, []evidence.LockEdge{
		sites(e("muA", "muB", 12), "transfer bank.go:41", "transfer bank.go:45", 100, 500),
		sites(e("muB", "muA", 3), "audit bank.go:80", "audit bank.go:82", 200, 900),
	}, DefaultConfig())
	cs, _ := g.Cycles()
	if len(cs) != 1 {
		t.Fatalf("%d cycles", len(cs))
	}
	c := cs[0]
	if !slices.Equal(c.Locks, []string{"muA", "muB"}) || c.Count != 15 || c.MinCount != 3 || c.FirstNS != 100 || c.LastNS != 900 {
		t.Errorf("cycle %+v", c)
	}
	if c.Edges[0].From != "muA" || c.Edges[1].From != "muB" ||
		c.Edges[0].Sites[0].Held != "transfer bank.go:41" || c.Edges[1].Sites[0].Acquiring != "audit bank.go:82" {
		t.Errorf("edges %+v", c.Edges)
	}
	if c.Impact.Known {
		t.Error("impact known without wait data")
	}
}

func TestCyclesTruncated(t *testing.T) {
	// A complete digraph on 5 locks: 10 two-cycles, 20 three-cycles, ...
	var in []evidence.LockEdge
	for _, a := range "ABCDE" {
		for _, b := range "ABCDE" {
			if a != b {
				in = append(in, e(string(a), string(b), 1))
			}
		}
	}
	cfg := DefaultConfig()
	all, truncated := mustBuild(t, in, cfg).Cycles()
	if len(all) != 10+20+30 || truncated { // C(5,2) + 2·C(5,3) + 6·C(5,4)
		t.Fatalf("%d cycles (truncated %v), want 60", len(all), truncated)
	}
	cfg.MaxCycles = 15
	some, truncated := mustBuild(t, in, cfg).Cycles()
	if len(some) != 15 || !truncated {
		t.Fatalf("%d cycles (truncated %v), want 15, truncated", len(some), truncated)
	}
	for i, c := range some {
		if want := 2 + min(i/10, 1); c.Len() != want {
			t.Errorf("cycle %d has %d locks, want %d (shortest first)", i, c.Len(), want)
		}
	}
	cfg.MaxCycles = 60
	if _, truncated := mustBuild(t, in, cfg).Cycles(); truncated {
		t.Error("truncated at exactly MaxCycles cycles")
	}
}

// TestCyclesMatchBruteForce compares against a plain enumeration of every
// simple path on small random graphs: same cycle set, each once.
func TestCyclesMatchBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	total := 0
	defer func() {
		if total < 1000 {
			t.Errorf("only %d cycles over all graphs: weak test", total)
		} else {
			t.Logf("%d cycles", total)
		}
	}()
	for iter := range 1000 {
		n := 2 + r.IntN(6)
		in := randomEdges(r, n, r.IntN(4*n))
		cfg := DefaultConfig()
		cfg.MaxCycleLen = 2 + r.IntN(5)
		cfg.MaxCycles = MaxCyclesLimit
		got, _ := mustBuild(t, in, cfg).Cycles()
		want := bruteCycles(in, cfg.MaxCycleLen)
		gs := subjects(got)
		slices.Sort(gs)
		total += len(want)
		if !slices.Equal(gs, want) {
			t.Fatalf("iter %d: cycles\n got %q\nwant %q", iter, gs, want)
		}
	}
}

func bruteCycles(in []evidence.LockEdge, maxLen int) []string {
	adj := map[string]map[string]bool{}
	for _, x := range in {
		if x.Held != x.Acquiring {
			if adj[x.Held] == nil {
				adj[x.Held] = map[string]bool{}
			}
			adj[x.Held][x.Acquiring] = true
		}
	}
	seen := map[string]bool{}
	var path []string
	var walk func(u string)
	walk = func(u string) {
		for v := range adj[u] {
			if v == path[0] && len(path) >= 2 {
				// Canonical rotation: start at the smallest name.
				k := slices.Index(path, slices.Min(path))
				rot := append(slices.Clone(path[k:]), path[:k]...)
				c := Cycle{Locks: rot}
				seen[c.Subject()] = true
			}
			if slices.Contains(path, v) || len(path) >= maxLen {
				continue
			}
			path = append(path, v)
			walk(v)
			path = path[:len(path)-1]
		}
	}
	for u := range adj {
		path = []string{u}
		walk(u)
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func TestCyclesReportedOnce(t *testing.T) {
	// Every rotation and repetition of a cycle's edges gives one cycle.
	base := []evidence.LockEdge{e("A", "B", 1), e("B", "C", 1), e("C", "D", 1), e("D", "A", 1)}
	for i := range base {
		in := append(slices.Clone(base[i:]), base[:i]...)
		in = append(in, base...)
		got, _ := mustBuild(t, in, DefaultConfig()).Cycles()
		if s := subjects(got); len(s) != 1 || s[0] != "A->B->C->D->A" || !strings.HasPrefix(got[0].Edges[0].EvidenceID, "edge:A>") {
			t.Errorf("rotation %d: %q", i, s)
		}
	}
}
