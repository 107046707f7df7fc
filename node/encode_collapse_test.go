package node

import (
	"testing"
	"time"

	"github.com/debugai/debugai/bpf"
	"github.com/debugai/debugai/bpf/symbolize"
)

// TestCollapseEdgesBySites: edges between per-request locks at the same
// call sites are exported once; count updates of the first address pair
// and edges at other sites or in other processes pass.
func TestCollapseEdgesBySites(t *testing.T) {
	e := newEncoder("n1", nil, symbolize.New(), bpf.Clock{}, time.Unix(0, 0))
	edge := func(pid uint32, held, acq, hs, as uint64) bpf.LockEdge {
		return bpf.LockEdge{PID: pid, Held: held, Acquiring: acq, HeldSite: hs, AcquiringSite: as, Count: 1}
	}
	tests := []struct {
		name string
		e    bpf.LockEdge
		want bool // collapsed
	}{
		{"first at its sites", edge(1, 0x10, 0x20, 0xa, 0xb), false},
		{"count update of the same locks", edge(1, 0x10, 0x20, 0xa, 0xb), false},
		{"other locks, same sites", edge(1, 0x30, 0x40, 0xa, 0xb), true},
		{"other locks, same sites again", edge(1, 0x50, 0x60, 0xa, 0xb), true},
		{"other sites", edge(1, 0x30, 0x40, 0xa, 0xc), false},
		{"other process", edge(2, 0x30, 0x40, 0xa, 0xb), false},
	}
	for _, tt := range tests {
		if got := e.collapsed(tt.e); got != tt.want {
			t.Errorf("%s: collapsed = %v, want %v", tt.name, got, tt.want)
		}
	}
	if e.collapsedEdges != 2 {
		t.Errorf("collapsedEdges = %d, want 2", e.collapsedEdges)
	}
}
