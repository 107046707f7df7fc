package lockgraph

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/debugai/debugai/evidence"
)

// e builds an edge in process n1/1 of service svc.
func e(held, acq string, count int64) evidence.LockEdge {
	return evidence.LockEdge{Node: "n1", Service: "svc", PID: 1, Held: held, Acquiring: acq, Count: count}
}

// at sets the process of an edge.
func at(x evidence.LockEdge, node string, pid int64) evidence.LockEdge {
	x.Node, x.PID = node, pid
	return x
}

// sites sets the code sites and times of an edge.
func sites(x evidence.LockEdge, held, acq string, first, last int64) evidence.LockEdge {
	x.HeldSite, x.AcquiringSite, x.FirstNS, x.LastNS = held, acq, first, last
	return x
}

func mustBuild(t testing.TB, edges []evidence.LockEdge, cfg Config) *Graph {
	t.Helper()
	g, err := Build(edges, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestBuildSumsDuplicates(t *testing.T) {
	g := mustBuild(t, []evidence.LockEdge{
		sites(e("muA", "muB", 2), "f a.go:1", "f a.go:2", 300, 400),
		sites(e("muA", "muB", 0), "f a.go:1", "f a.go:2", 100, 200), // zero count: one observation
		sites(e("muA", "muB", 5), "g b.go:7", "g b.go:9", 0, 900),   // FirstNS unset
		e("muA", "muB", 1), // no sites
		{Held: "", Acquiring: "muB", Count: 1},
		{Held: "muA", Acquiring: "muB", Count: -1},
	}, DefaultConfig())
	st := g.Stats()
	if st != (Stats{Inputs: 6, Skipped: 2, Locks: 2, Edges: 1}) {
		t.Fatalf("stats %+v", st)
	}
	got, ok := g.Edge("muA", "muB")
	if !ok {
		t.Fatal("edge muA->muB missing")
	}
	want := Edge{
		From: "muA", To: "muB", EvidenceID: "edge:muA>muB", Count: 9, FirstNS: 100, LastNS: 900,
		Sites: []SitePair{{"g b.go:7", "g b.go:9", 5}, {"f a.go:1", "f a.go:2", 3}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("edge\n got %+v\nwant %+v", got, want)
	}
	if _, ok := g.Edge("muB", "muA"); ok {
		t.Error("reverse edge present")
	}
}

func TestBuildBoundsSites(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxSites = 2
	var in []evidence.LockEdge
	for i, n := range []int64{1, 4, 4, 2} {
		s := string(rune('a' + i))
		in = append(in, sites(e("A", "B", n), s+".go:1", s+".go:2", 1, 1))
	}
	got, _ := mustBuild(t, in, cfg).Edge("A", "B")
	want := []SitePair{{"b.go:1", "b.go:2", 4}, {"c.go:1", "c.go:2", 4}}
	if !reflect.DeepEqual(got.Sites, want) || got.MoreSites != 2 {
		t.Errorf("sites %+v (+%d), want %+v (+2)", got.Sites, got.MoreSites, want)
	}
}

func TestScoping(t *testing.T) {
	// The same address tokens in two processes: an AB-BA only when the
	// processes are merged. The same symbols in two processes: one lock.
	addr := []evidence.LockEdge{
		at(e("0xc000010000", "0xc000010040", 3), "n1", 10),
		at(e("0xc000010040", "0xc000010000", 3), "n1", 11),
		at(e("0xc000010040", "0xc000010000", 3), "n2", 10),
	}
	sym := []evidence.LockEdge{
		at(e("main.muA", "main.muB", 3), "n1", 10),
		at(e("main.muB", "main.muA", 3), "n2", 11),
	}
	global := DefaultConfig()
	global.AddressScope = ScopeGlobal
	perProc := DefaultConfig()
	perProc.SymbolScope = ScopeProcess
	tests := []struct {
		name   string
		edges  []evidence.LockEdge
		cfg    Config
		locks  []string
		cycles int
	}{
		{"address per process", addr, DefaultConfig(),
			[]string{"0xc000010000@n1/10", "0xc000010000@n1/11", "0xc000010000@n2/10", "0xc000010040@n1/10", "0xc000010040@n1/11", "0xc000010040@n2/10"}, 0},
		{"address global", addr, global, []string{"0xc000010000", "0xc000010040"}, 1},
		{"symbol global", sym, DefaultConfig(), []string{"main.muA", "main.muB"}, 1},
		{"symbol per process", sym, perProc, []string{"main.muA@n1/10", "main.muA@n2/11", "main.muB@n1/10", "main.muB@n2/11"}, 0},
		{"mixed: symbol global, address scoped", []evidence.LockEdge{
			at(e("main.mu", "0x10", 1), "n1", 1),
			at(e("0x10", "main.mu", 1), "n1", 1),
			at(e("0x10", "main.mu", 1), "n1", 2),
		}, DefaultConfig(), []string{"0x10@n1/1", "0x10@n1/2", "main.mu"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := mustBuild(t, tt.edges, tt.cfg)
			var names []string
			for _, l := range g.Locks() {
				names = append(names, l.Name)
			}
			if !slices.Equal(names, tt.locks) {
				t.Errorf("locks %q, want %q", names, tt.locks)
			}
			if c, _ := g.Cycles(); len(c) != tt.cycles {
				t.Errorf("%d cycles, want %d", len(c), tt.cycles)
			}
		})
	}
}

func TestScopedEdgesShareEvidenceID(t *testing.T) {
	g := mustBuild(t, []evidence.LockEdge{at(e("0x1", "0x2", 1), "n1", 1), at(e("0x1", "0x2", 1), "n1", 2)}, DefaultConfig())
	for _, ed := range g.Edges() {
		if ed.EvidenceID != "edge:0x1>0x2" {
			t.Errorf("%s->%s: evidence id %q", ed.From, ed.To, ed.EvidenceID)
		}
	}
	if len(g.Edges()) != 2 {
		t.Errorf("%d edges, want 2", len(g.Edges()))
	}
}

func TestIsAddressAndLockName(t *testing.T) {
	c := DefaultConfig()
	for id, want := range map[string]bool{
		"0xc000010000": true, "0XDEAD": true, "addr:7f00": true, "futex:1234": true, "140737": true,
		"main.muA": false, "main.(*Bank).mu": false, "bank.go:41": false, "": false, "x0x1": false,
	} {
		if got := c.IsAddress(id); got != want {
			t.Errorf("IsAddress(%q) = %v", id, got)
		}
	}
	if got := c.LockName("0x10", "n1", "svc", 42); got != "0x10@n1/42" {
		t.Errorf("address name %q", got)
	}
	if got := c.LockName("main.mu", "n1", "svc", 42); got != "main.mu" {
		t.Errorf("symbol name %q", got)
	}
	c.SymbolScope = ScopeService
	if got := c.LockName("main.mu", "n1", "", 42); got != "main.mu@" {
		t.Errorf("service-scoped name without service %q", got)
	}
}

func TestBuildOrderIndependent(t *testing.T) {
	in := randomEdges(rand.New(rand.NewPCG(1, 2)), 30, 200)
	want := mustBuild(t, in, DefaultConfig())
	r := rand.New(rand.NewPCG(3, 4))
	for range 5 {
		shuffled := slices.Clone(in)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		got := mustBuild(t, shuffled, DefaultConfig())
		if !reflect.DeepEqual(got.Locks(), want.Locks()) || !reflect.DeepEqual(got.Edges(), want.Edges()) {
			t.Fatal("graph depends on input order")
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"default", func(*Config) {}, ""},
		{"cycle len 1", func(c *Config) { c.MaxCycleLen = 1 }, "max cycle length 1: must be in [2, 8]"},
		{"cycle len 9", func(c *Config) { c.MaxCycleLen = 9 }, "max cycle length 9: must be in [2, 8]"},
		{"max cycles", func(c *Config) { c.MaxCycles = 0 }, "max cycles 0: must be in [1, 100000]"},
		{"max sites", func(c *Config) { c.MaxSites = 0 }, "max sites 0: must be in [1, 100]"},
		{"min edge count", func(c *Config) { c.MinEdgeCount = 0 }, "min edge count 0: must be at least 1"},
		{"half count", func(c *Config) { c.ConfidenceHalfCount = 0 }, "confidence half count 0: must be at least 1"},
		{"wait refs", func(c *Config) { c.MaxWaitRefs = -1 }, "max wait refs -1: must be in [0, 1000]"},
		{"address scope", func(c *Config) { c.AddressScope = 7 }, "address scope scope(7): unknown"},
		{"symbol scope", func(c *Config) { c.SymbolScope = 9 }, "symbol scope scope(9): unknown"},
		{"empty prefix", func(c *Config) { c.AddressPrefixes = []string{"0x", ""} }, "address prefixes: empty prefix would match every identity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mod(&c)
			err := c.Validate()
			if got := errString(err); got != tt.want {
				t.Errorf("Validate() = %q, want %q", got, tt.want)
			}
			if tt.want != "" {
				if _, err := Build(nil, c); err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("Build error %v", err)
				}
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// randomEdges returns m random edges over n symbolic locks, with sites,
// counts and times.
func randomEdges(r *rand.Rand, n, m int) []evidence.LockEdge {
	out := make([]evidence.LockEdge, m)
	for i := range out {
		a, b := r.IntN(n), r.IntN(n)
		out[i] = sites(e(lockID(a), lockID(b), r.Int64N(5)), "h.go:"+lockID(r.IntN(3)), "a.go:"+lockID(r.IntN(3)),
			r.Int64N(1000), 1000+r.Int64N(1000))
	}
	return out
}

func lockID(i int) string { return "L" + string(rune('a'+i/26)) + string(rune('a'+i%26)) }
