package tools

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/debugai/debugai/detect/lockgraph"
	"github.com/debugai/debugai/evidence"
)

// maxLockEdges bounds the lock edges one lock_graph call reads.
const maxLockEdges = 10_000

// LockGraphInput selects lock-order edges.
type LockGraphInput struct {
	Service string `json:"service,omitempty" jsonschema:"only edges observed in this service"`
	Node    string `json:"node,omitempty" jsonschema:"only edges observed on this node"`
	Since   string `json:"since,omitempty" jsonschema:"edges last seen at or after: RFC 3339 time or a duration before the end of the stored data"`
	Until   string `json:"until,omitempty" jsonschema:"edges first seen before (same forms)"`
	Limit   int    `json:"limit,omitempty" jsonschema:"edge rows per page (default 20, at most 100)"`
	Cursor  string `json:"cursor,omitempty" jsonschema:"next_cursor of the previous page"`
}

// CycleRow is a lock-order inversion: a cycle of the lock graph.
type CycleRow struct {
	Subject string   `json:"subject"`
	Locks   []string `json:"locks"`
	EdgeIDs []string `json:"edge_ids" jsonschema:"edge: IDs of the cycle's edges (evidence line lock)"`
	Count   int64    `json:"count" jsonschema:"observations summed over the edges"`
	First   string   `json:"first,omitempty"`
	Last    string   `json:"last,omitempty"`
}

// EdgeRow is one stored lock-order edge: acquiring was taken while held
// was held.
type EdgeRow struct {
	ID            string `json:"id" jsonschema:"edge:<held>><acquiring>"`
	Held          string `json:"held"`
	Acquiring     string `json:"acquiring"`
	HeldSite      string `json:"held_site,omitempty"`
	AcquiringSite string `json:"acquiring_site,omitempty"`
	Service       string `json:"service,omitempty"`
	PID           int64  `json:"pid,omitempty"`
	Count         int64  `json:"count"`
	InCycle       bool   `json:"in_cycle,omitempty"`
}

// LockGraphOutput holds the inversions first, then a page of edges
// (edges on a cycle first, then by count).
type LockGraphOutput struct {
	Summary    string     `json:"summary"`
	Cycles     []CycleRow `json:"cycles"`
	Edges      []EdgeRow  `json:"edges"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

// LockGraph builds the lock graph of the stored lock-order edges and
// reports its cycles (lock-order inversions) and edges.
func (t *Toolset) LockGraph(ctx context.Context, in LockGraphInput) (LockGraphOutput, error) {
	out := LockGraphOutput{Cycles: []CycleRow{}, Edges: []EdgeRow{}}
	pg, err := t.page(in.Limit, in.Cursor)
	if err != nil {
		return out, err
	}
	w, err := t.window(ctx, in.Since, in.Until, false)
	if err != nil {
		return out, err
	}
	if t.lr == nil {
		return out, errors.New("this store does not list lock edges")
	}
	edges, err := t.lr.LockEdges(ctx, evidence.LockEdgeFilter{Service: in.Service, Node: in.Node,
		SinceNS: w.since, UntilNS: w.until, Limit: maxLockEdges})
	if err != nil {
		return out, fmt.Errorf("reading lock edges: %w", err)
	}
	if len(edges) == 0 {
		out.Summary = "no lock-order edges stored for this filter (they come from the node collector's lock uprobes)"
		return out, nil
	}
	rep, _, err := lockgraph.Analyze(edges, nil, lockgraph.DefaultConfig())
	if err != nil {
		return out, fmt.Errorf("lock graph: %w", err)
	}
	inCycle := map[string]bool{}
	for _, c := range rep.Cycles {
		row := CycleRow{Subject: c.Subject(), Locks: c.Locks, Count: c.Count, First: fmtOptNS(c.FirstNS), Last: fmtOptNS(c.LastNS)}
		for _, e := range c.Edges {
			row.EdgeIDs = append(row.EdgeIDs, e.EvidenceID)
			inCycle[e.EvidenceID] = true
		}
		if len(out.Cycles) < 10 {
			out.Cycles = append(out.Cycles, row)
		}
	}
	rows := make([]EdgeRow, len(edges))
	for i := range edges {
		e := &edges[i]
		rows[i] = EdgeRow{ID: e.ID(), Held: e.Held, Acquiring: e.Acquiring, HeldSite: e.HeldSite, AcquiringSite: e.AcquiringSite,
			Service: e.Service, PID: e.PID, Count: e.Count, InCycle: inCycle[e.ID()]}
	}
	slices.SortStableFunc(rows, func(a, b EdgeRow) int {
		return cmp.Or(-cmp.Compare(btoi(a.InCycle), btoi(b.InCycle)), cmp.Compare(b.Count, a.Count))
	})
	if pg.offset < len(rows) {
		out.Edges = rows[pg.offset:min(len(rows), pg.offset+pg.limit)]
	}
	out.NextCursor = pg.next(pg.offset+pg.limit < len(rows))
	out.Summary = fmt.Sprintf("%d lock-order edges, %d locks, %d cycles (lock-order inversions)%s",
		len(edges), rep.Stats.Locks, len(rep.Cycles), map[bool]string{true: " (enumeration truncated)", false: ""}[rep.Truncated])
	if len(rep.Cycles) > 0 {
		out.Summary += "; first: " + rep.Cycles[0].Subject()
	}
	return out, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
