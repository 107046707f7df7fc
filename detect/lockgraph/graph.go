package lockgraph

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/debugai/debugai/evidence"
)

// Lock is a node of the graph.
type Lock struct {
	// Name is the lock's unique name in the graph: its identity, qualified
	// by its scope unless global (see [Config.LockName]).
	Name string
	// ID is the identity as the lock uprobes reported it.
	ID string
	// Scope is the scope the identity was placed in.
	Scope Scope
	// Address reports whether the identity is address-based.
	Address bool
}

// SitePair is one pair of code sites at which an edge was observed.
type SitePair struct {
	Held      string // where the held lock was taken
	Acquiring string // where the acquiring lock was requested
	Count     int64
}

// Edge is a lock-order edge: To was acquired while From was held.
type Edge struct {
	From, To string // lock names
	// EvidenceID is the stored edge's ID, "edge:<held>><acquiring>" of the
	// unscoped identities: the store keys edges by identity only, so edges
	// of two processes on the same address token share it.
	EvidenceID string
	Count      int64 // summed observations
	FirstNS    int64 // earliest FirstNS (0 when none was set)
	LastNS     int64 // latest LastNS
	// Sites holds the Config.MaxSites most observed site pairs (count
	// descending, then by site); MoreSites counts the distinct pairs left
	// out. Inputs with neither site set add no pair.
	Sites     []SitePair
	MoreSites int
}

// Stats counts what Build saw.
type Stats struct {
	Inputs    int // edges passed in
	Skipped   int // inputs without both identities, or with a negative count
	Locks     int
	Edges     int // distinct (from, to) pairs, self-loops included
	SelfLoops int // distinct self-loop edges (lock acquired while a lock of the same name was held)
}

// Graph is the lock-order graph built from lock edges. It is immutable
// once built and safe for concurrent reads.
type Graph struct {
	cfg    Config
	locks  []Lock // sorted by Name, then ID
	byName map[string]int
	edges  []Edge  // sorted by (from index, to index)
	from   []int32 // edge i goes from[i] -> to[i] (lock indices)
	to     []int32
	out    [][]int32 // per lock: indices of its outgoing non-self edges, by target index
	stats  Stats
}

type lockKey struct {
	id, scope string
	s         Scope
}

type edgeAcc struct {
	rawID string
	f, t  int // lock indices, set once locks are sorted
	count int64
	first int64
	last  int64
	sites map[[2]string]int64
}

// Build aggregates lock edges into a graph. Identities are scoped as
// Config.AddressScope and Config.SymbolScope say; edges between the same
// two scoped locks are merged: counts add up, FirstNS is the earliest
// non-zero, LastNS the latest, site pairs are counted per distinct pair.
// A zero Count is one observation; inputs with an empty identity or a
// negative count are skipped and counted in [Stats.Skipped]. The result
// does not depend on the order of edges.
func Build(edges []evidence.LockEdge, cfg Config) (*Graph, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("lock graph config: %w", err)
	}
	g := &Graph{cfg: cfg, stats: Stats{Inputs: len(edges)}}
	// Intern scoped identities, then accumulate per (from, to) pair.
	intern := make(map[lockKey]int32)
	var keys []lockKey
	id := func(k lockKey) int32 {
		x, ok := intern[k]
		if !ok {
			x = int32(len(keys))
			intern[k] = x
			keys = append(keys, k)
		}
		return x
	}
	acc := make(map[[2]int32]*edgeAcc)
	for i := range edges {
		e := &edges[i]
		if e.Held == "" || e.Acquiring == "" || e.Count < 0 {
			g.stats.Skipped++
			continue
		}
		p := [2]int32{id(cfg.key(e.Held, e)), id(cfg.key(e.Acquiring, e))}
		a := acc[p]
		if a == nil {
			a = &edgeAcc{rawID: e.ID()}
			acc[p] = a
		}
		n := max(e.Count, 1)
		a.count += n
		if e.FirstNS != 0 && (a.first == 0 || e.FirstNS < a.first) {
			a.first = e.FirstNS
		}
		a.last = max(a.last, e.LastNS)
		if e.HeldSite != "" || e.AcquiringSite != "" {
			if a.sites == nil {
				a.sites = make(map[[2]string]int64, 1)
			}
			a.sites[[2]string{e.HeldSite, e.AcquiringSite}] += n
		}
	}

	// Locks, sorted: indices (and so enumeration order) never depend on
	// input order.
	order := make([]int32, len(keys)) // sorted position -> interned id
	for i := range order {
		order[i] = int32(i)
	}
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = nameOf(k.id, k.s, k.scope)
	}
	slices.SortFunc(order, func(a, b int32) int {
		ka, kb := &keys[a], &keys[b]
		return cmp.Or(strings.Compare(names[a], names[b]), strings.Compare(ka.id, kb.id),
			cmp.Compare(ka.s, kb.s), strings.Compare(ka.scope, kb.scope))
	})
	index := make([]int, len(keys)) // interned id -> sorted position
	g.locks = make([]Lock, len(keys))
	g.byName = make(map[string]int, len(keys))
	for i, x := range order {
		k := keys[x]
		g.locks[i] = Lock{Name: names[x], ID: k.id, Scope: k.s, Address: cfg.IsAddress(k.id)}
		index[x] = i
		if _, dup := g.byName[names[x]]; !dup {
			g.byName[names[x]] = i
		}
	}

	accs := make([]*edgeAcc, 0, len(acc))
	for p, a := range acc {
		a.f, a.t = index[p[0]], index[p[1]]
		accs = append(accs, a)
	}
	slices.SortFunc(accs, func(a, b *edgeAcc) int {
		return cmp.Or(cmp.Compare(a.f, b.f), cmp.Compare(a.t, b.t))
	})
	g.edges = make([]Edge, len(accs))
	g.from = make([]int32, len(accs))
	g.to = make([]int32, len(accs))
	g.out = make([][]int32, len(g.locks))
	for i, a := range accs {
		f, t := a.f, a.t
		g.from[i], g.to[i] = int32(f), int32(t)
		g.edges[i] = Edge{
			From: g.locks[f].Name, To: g.locks[t].Name, EvidenceID: a.rawID,
			Count: a.count, FirstNS: a.first, LastNS: a.last,
		}
		g.edges[i].Sites, g.edges[i].MoreSites = topSites(a.sites, cfg.MaxSites)
		if f == t {
			g.stats.SelfLoops++
		} else {
			g.out[f] = append(g.out[f], int32(i))
		}
	}
	g.stats.Locks, g.stats.Edges = len(g.locks), len(g.edges)
	return g, nil
}

// key is the scoped identity of id as observed by e.
func (c Config) key(id string, e *evidence.LockEdge) lockKey {
	s := c.scopeOf(id)
	return lockKey{id: id, scope: scopeKey(s, e.Node, e.Service, e.PID), s: s}
}

func topSites(m map[[2]string]int64, limit int) ([]SitePair, int) {
	if len(m) == 0 {
		return nil, 0
	}
	s := make([]SitePair, 0, len(m))
	for k, n := range m {
		s = append(s, SitePair{Held: k[0], Acquiring: k[1], Count: n})
	}
	slices.SortFunc(s, func(a, b SitePair) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Held, b.Held), strings.Compare(a.Acquiring, b.Acquiring))
	})
	if len(s) <= limit {
		return s, 0
	}
	return slices.Clip(s[:limit]), len(s) - limit
}

// Config returns the configuration the graph was built with.
func (g *Graph) Config() Config { return g.cfg }

// Stats returns the build counts.
func (g *Graph) Stats() Stats { return g.stats }

// Locks returns the locks sorted by name. The slice is shared: do not
// modify it.
func (g *Graph) Locks() []Lock { return g.locks }

// Edges returns the edges sorted by (from, to) lock name. The slice is
// shared: do not modify it.
func (g *Graph) Edges() []Edge { return g.edges }

// Lock returns the lock with the given name.
func (g *Graph) Lock(name string) (Lock, bool) {
	i, ok := g.byName[name]
	if !ok {
		return Lock{}, false
	}
	return g.locks[i], true
}

// Edge returns the edge from one lock name to another.
func (g *Graph) Edge(from, to string) (Edge, bool) {
	f, ok1 := g.byName[from]
	t, ok2 := g.byName[to]
	if !ok1 || !ok2 {
		return Edge{}, false
	}
	if i, ok := g.edgeIndex(int32(f), int32(t)); ok {
		return g.edges[i], true
	}
	return Edge{}, false
}

// edgeIndex finds the edge f -> t by binary search (edges are sorted by
// (from, to) index).
func (g *Graph) edgeIndex(f, t int32) (int, bool) {
	i := sort.Search(len(g.from), func(i int) bool {
		return g.from[i] > f || (g.from[i] == f && g.to[i] >= t)
	})
	return i, i < len(g.from) && g.from[i] == f && g.to[i] == t
}
