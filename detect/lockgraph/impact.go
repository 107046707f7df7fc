package lockgraph

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/debugai/debugai/evidence"
)

// Waits is time spent waiting on locks, the input of impact. Later stages
// derive it from futex waits whose address matches a lock (C/pthread) and
// from Go semacquire waits; this package only sums it.
type Waits struct {
	// TotalNS is the time the waits are a share of: the critical-path time
	// (or total span time) of the traces in scope. Must be > 0.
	TotalNS int64
	// ByLock maps a lock name, as [Config.LockName] forms it, to the time
	// waited on that lock. A lock of the graph without an entry had no
	// observed wait.
	ByLock map[string]Wait
}

// Wait is the time waited on one lock and the evidence behind it.
type Wait struct {
	NS int64 // >= 0
	// Refs cite the wait events (kev:... IDs). A Ref without a Line is on
	// the kernel.futex line.
	Refs []evidence.Ref
}

// Validate reports negative waits, a non-positive total or a ref without
// an ID, wrapping ErrBadWaits.
func (w *Waits) Validate() error {
	if w.TotalNS <= 0 {
		return fmt.Errorf("total %d ns: must be positive: %w", w.TotalNS, ErrBadWaits)
	}
	names := make([]string, 0, len(w.ByLock))
	for n := range w.ByLock {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		x := w.ByLock[n]
		if x.NS < 0 {
			return fmt.Errorf("lock %q: wait %d ns: must not be negative: %w", n, x.NS, ErrBadWaits)
		}
		for _, r := range x.Refs {
			if r.ID == "" {
				return fmt.Errorf("lock %q: ref without id: %w", n, ErrBadWaits)
			}
		}
	}
	return nil
}

// Impact is the share of time spent waiting on a cycle's locks.
type Impact struct {
	// Known is false when no wait data was given: the impact is then
	// unknown, which is not the same as zero, and the other fields are
	// zero.
	Known bool
	// WaitNS sums the waits on the cycle's locks; TotalNS is Waits.TotalNS.
	WaitNS, TotalNS int64
	// Share is WaitNS/TotalNS, capped at 1 (waits of concurrent threads can
	// add up to more than the critical path).
	Share float64
	// Refs cite the wait events, sorted by (line, ID), at most
	// Config.MaxWaitRefs; MoreRefs counts the distinct refs left out.
	Refs     []evidence.Ref
	MoreRefs int
}

// Impact computes the impact of waits on the locks of c, citing at most
// maxRefs wait refs. A nil w gives the unknown impact. w is assumed valid
// (see [Waits.Validate]).
func (w *Waits) Impact(c *Cycle, maxRefs int) Impact {
	if w == nil {
		return Impact{}
	}
	maxRefs = max(maxRefs, 0)
	im := Impact{Known: true, TotalNS: w.TotalNS}
	var refs []evidence.Ref
	for _, name := range c.Locks {
		x, ok := w.ByLock[name]
		if !ok {
			continue
		}
		im.WaitNS += x.NS
		for _, r := range x.Refs {
			if r.Line == "" {
				r.Line = evidence.LineKernelFutex
			}
			refs = append(refs, r)
		}
	}
	if w.TotalNS > 0 {
		im.Share = min(1, float64(im.WaitNS)/float64(w.TotalNS))
	}
	refs = sortRefs(refs)
	if len(refs) > maxRefs {
		im.MoreRefs = len(refs) - maxRefs
		refs = refs[:maxRefs]
	}
	if len(refs) > 0 {
		im.Refs = slices.Clip(refs)
	}
	return im
}

// sortRefs sorts by (line, ID) and removes duplicates.
func sortRefs(refs []evidence.Ref) []evidence.Ref {
	slices.SortFunc(refs, func(a, b evidence.Ref) int {
		return cmp.Or(strings.Compare(string(a.Line), string(b.Line)), strings.Compare(a.ID, b.ID))
	})
	return slices.Compact(refs)
}
