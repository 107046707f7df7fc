package patterns

import (
	"cmp"
	"slices"

	"github.com/debugai/debugai/evidence"
)

// callRelease is how a Go mutex convoy's holder is seen waiting on a
// downstream call: the goroutine that holds the lock parks in the
// netpoller while its call is in flight, so no thread of it blocks, but
// the lock is released as each call returns. callRelease measures that:
// the share of the lock's waits that end within ConvoyConfig.CallSlackNS
// after a client span of the same process ends.
type callRelease struct {
	share    float64 // waits released right after a call returned
	expected float64 // the share that random timing would give
	calls    []int32 // the client spans (x.spans) that released them
	names    map[string]int
}

// callReleases computes callRelease for a convoy's waits.
func (x *index) callReleases(cv *convoy) callRelease {
	c := &x.cfg.Convoy
	if len(cv.waits) == 0 || len(x.spans) == 0 {
		return callRelease{}
	}
	proc := x.eventProc(&x.events[cv.waits[0]])
	type end struct {
		t    int64
		span int32
	}
	var ends []end
	lo, hi := int64(0), int64(0)
	for _, s := range x.spansOfProc()[proc] {
		sp := &x.spans[s]
		if lo == 0 || sp.StartNS < lo {
			lo = sp.StartNS
		}
		hi = max(hi, sp.EndNS)
		if sp.Kind == evidence.KindClient {
			ends = append(ends, end{sp.EndNS, s})
		}
	}
	if len(ends) == 0 || hi <= lo {
		return callRelease{}
	}
	slices.SortFunc(ends, func(a, b end) int { return cmp.Or(cmp.Compare(a.t, b.t), cmp.Compare(a.span, b.span)) })
	r := callRelease{names: map[string]int{}}
	var hits int
	seen := map[int32]bool{}
	for _, w := range cv.waits {
		t := x.eventTime(&x.events[w])
		// the last client span ending at or before t
		i, _ := slices.BinarySearchFunc(ends, t+1, func(e end, t int64) int { return cmp.Compare(e.t, t) })
		if i == 0 || t-ends[i-1].t > c.CallSlackNS {
			continue
		}
		hits++
		if s := ends[i-1].span; !seen[s] {
			seen[s] = true
			r.calls = append(r.calls, s)
			r.names[x.spans[s].Service+"/"+x.spans[s].Name]++
		}
	}
	r.share = float64(hits) / float64(len(cv.waits))
	r.expected = min(1, float64(len(ends))*float64(c.CallSlackNS)/float64(hi-lo))
	return r
}

// heldAcrossCalls: most waits were released right after a call returned,
// far more often than chance.
func (r callRelease) heldAcrossCalls(c *ConvoyConfig) bool {
	return r.share >= c.MinCallReleaseShare && r.share >= 2*r.expected
}
