package patterns

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/debugai/debugai/evidence"
)

// lockKey names one lock: a futex address within a process.
type lockKey struct {
	node string
	pid  int64
	addr uint64
}

func (k lockKey) String() string {
	return "0x" + strconv.FormatUint(k.addr, 16) + "@" + k.node + "/" + strconv.FormatInt(k.pid, 10)
}

// threadKey names one thread.
type threadKey struct {
	node     string
	pid, tid int64
}

// convoy is one lock's long waits and its dominant holder.
type convoy struct {
	key      lockKey
	waits    []int32 // long waits on the lock
	totalNS  int64
	holder   int64 // dominant waker tid
	holderNS int64
	// goMutex: a Go sync.Mutex, whose holder is a goroutine that the
	// runtime moves between OS threads, so every releasing thread stands
	// for it; holders lists them.
	goMutex bool
	holders []int64
	waiters int
	holds   []interval // union of the holder's hold windows
	blocked []interval // holder's own blocking, clipped to holds
	retx    int64
	hevents []int32 // holder events inside hold windows
}

type interval struct{ lo, hi int64 }

// lockConvoys implements lock_convoy (see the package documentation).
func (x *index) lockConvoys() ([]evidence.Finding, error) {
	c := &x.cfg.Convoy
	byLock := map[lockKey][]int32{}
	for i := range x.events {
		ev := &x.events[i]
		if ev.Type == evidence.KernelFutexWait && ev.Addr != 0 && ev.DurationNS >= max(c.MinWaitNS, 1) {
			k := lockKey{ev.Node, ev.PID, ev.Addr}
			byLock[k] = append(byLock[k], int32(i))
		}
	}
	var cands []*convoy
	holders := map[threadKey][]*convoy{}
	for k, waits := range byLock {
		cv := x.dominantHolder(k, waits)
		if cv == nil {
			continue
		}
		cands = append(cands, cv)
		for _, tid := range cv.holders {
			tk := threadKey{k.node, k.pid, tid}
			holders[tk] = append(holders[tk], cv)
		}
	}
	if len(cands) == 0 {
		return nil, nil
	}
	x.holderActivity(holders)
	var out []evidence.Finding
	for _, cv := range cands {
		if f, ok := x.convoyFinding(cv); ok {
			out = append(out, f)
		}
	}
	return out, nil
}

// dominantHolder sums a lock's long waits per waker and returns the convoy
// when one waker dominates; nil otherwise.
func (x *index) dominantHolder(k lockKey, waits []int32) *convoy {
	c := &x.cfg.Convoy
	if len(waits) < c.MinWaits {
		return nil
	}
	cv := &convoy{key: k, waits: waits, goMutex: isGoMutexWait(&x.events[waits[0]])}
	byWaker := map[int64]int64{}
	waiters := map[int64]bool{}
	for _, i := range waits {
		ev := &x.events[i]
		cv.totalNS += ev.DurationNS
		waiters[ev.TID] = true
		// A Go waiter often resumes on the thread its releaser ran on:
		// goroutines, not threads, hold Go mutexes.
		if ev.WakerTID > 0 && (cv.goMutex || ev.WakerTID != ev.TID) {
			byWaker[ev.WakerTID] += ev.DurationNS
		}
	}
	for tid, ns := range byWaker {
		if ns > cv.holderNS || ns == cv.holderNS && tid < cv.holder {
			cv.holder, cv.holderNS = tid, ns
		}
	}
	cv.holders = []int64{cv.holder}
	if cv.goMutex {
		cv.holders, cv.holderNS = slices.Sorted(maps.Keys(byWaker)), 0
		for _, ns := range byWaker {
			cv.holderNS += ns
		}
	} else {
		delete(waiters, cv.holder)
	}
	cv.waiters = len(waiters) // for a Go mutex: the threads its waiting goroutines ran on
	if cv.holder == 0 || cv.waiters < 2 || cv.totalNS < c.MinTotalWaitNS || float64(cv.holderNS) < c.DominantShare*float64(cv.totalNS) {
		return nil
	}
	for _, i := range waits {
		ev := &x.events[i]
		if ev.WakerTID == cv.holder || cv.goMutex && ev.WakerTID > 0 {
			t := x.eventTime(ev)
			cv.holds = append(cv.holds, interval{t - ev.DurationNS, t})
		}
	}
	cv.holds = union(cv.holds)
	return cv
}

// isGoMutexWait reports a futex_wait record of a contended Go sync.Mutex
// (debugai.lock.kind=go_mutex: the node's Go lock-wait probes).
func isGoMutexWait(ev *evidence.KernelEvent) bool {
	v, ok := ev.Attrs.Get(attrLockKind)
	return ok && v.String() == "go_mutex"
}

// attrLockKind names the lock flavour of a futex_wait record.
const attrLockKind = "debugai.lock.kind"

// holderActivity finds, in one pass over the events, what each dominant
// holder did during its hold windows.
func (x *index) holderActivity(holders map[threadKey][]*convoy) {
	for i := range x.events {
		ev := &x.events[i]
		cvs, ok := holders[threadKey{ev.Node, ev.PID, ev.TID}]
		if !ok {
			continue
		}
		t := x.eventTime(ev)
		for _, cv := range cvs {
			switch ev.Type {
			case evidence.KernelTCPRetransmit:
				if covers(cv.holds, t) {
					cv.retx += max(ev.Value, 1)
					cv.hevents = append(cv.hevents, int32(i))
				}
			case evidence.KernelBlockIO, evidence.KernelFsync, evidence.KernelOffCPU, evidence.KernelFutexWait:
				// A futex wait of a Go thread is an idle M parking (Go
				// lock waits are on the lock's own address): not the
				// holding goroutine blocking.
				if ev.Type == evidence.KernelFutexWait && (ev.Addr == cv.key.addr || cv.goMutex) {
					continue
				}
				if n := len(cv.blocked); clip(cv.holds, interval{t - max(ev.DurationNS, 0), t}, &cv.blocked) > n {
					cv.hevents = append(cv.hevents, int32(i))
				}
			}
		}
	}
}

func (x *index) convoyFinding(cv *convoy) (evidence.Finding, bool) {
	c := &x.cfg.Convoy
	holdNS, blockedNS := length(cv.holds), length(union(cv.blocked))
	blockedShare := 0.0
	if holdNS > 0 {
		blockedShare = min(1, float64(blockedNS)/float64(holdNS))
	}
	var calls callRelease
	if blockedShare < c.MinHolderBlockedShare && cv.retx == 0 {
		if !cv.goMutex {
			return evidence.Finding{}, false
		}
		if calls = x.callReleases(cv); !calls.heldAcrossCalls(c) {
			return evidence.Finding{}, false
		}
	}
	share := float64(cv.holderNS) / float64(cv.totalNS)
	var refs refSet
	top := topK(len(cv.waits), x.cfg.MaxRefs, func(i int) int64 { return x.events[cv.waits[i]].DurationNS })
	for _, i := range top {
		refs.event(&x.events[cv.waits[i]])
	}
	kinds := map[evidence.KernelEventType]int{}
	he := topK(len(cv.hevents), x.cfg.MaxRefs, func(i int) int64 { return x.events[cv.hevents[i]].DurationNS })
	for _, i := range he {
		refs.event(&x.events[cv.hevents[i]])
	}
	for _, i := range cv.hevents {
		kinds[x.events[i].Type]++
	}
	x.lockEdgeRefs(cv.key, &refs)
	if len(x.spans) > 0 {
		if err := x.join(); err == nil {
			for _, i := range top {
				if s := x.evSpan[cv.waits[i]]; s >= 0 {
					refs.span(&x.spans[s])
				}
			}
		}
	}
	for _, i := range topK(len(calls.calls), x.cfg.MaxRefs, func(i int) int64 { return x.spans[calls.calls[i]].DurationNS() }) {
		refs.span(&x.spans[calls.calls[i]])
	}
	blocked := max(blockedShare, calls.share)
	if cv.retx > 0 {
		blocked = 1
	}
	subject := cv.key.String()
	svc := x.events[cv.waits[0]].Service
	holder := fmt.Sprintf("holder tid %d", cv.holder)
	if cv.goMutex {
		holder = fmt.Sprintf("the holding goroutine (Go sync.Mutex released on %d threads)", len(cv.holders))
	}
	summary := fmt.Sprintf("%d waits (%v) by %d threads on lock %s%s queue behind %s (%.0f%% of the wait time), which is itself blocked %.0f%% of its hold time%s",
		len(cv.waits), roundDur(cv.totalNS), cv.waiters, subject, inService(svc), holder, 100*share,
		100*blockedShare, holderDetail(kinds, cv.retx))
	if len(calls.calls) > 0 {
		summary = fmt.Sprintf("%d waits (%v) by %d threads on lock %s%s queue behind %s (%.0f%% of the wait time), which holds it across downstream calls: %.0f%% of the waits ended within %v after a client span of the process returned (%s; %.0f%% by chance)",
			len(cv.waits), roundDur(cv.totalNS), cv.waiters, subject, inService(svc), holder, 100*share,
			100*calls.share, roundDur(c.CallSlackNS), dominant(calls.names), 100*calls.expected)
	}
	attrs := map[string]float64{
		"waits": float64(len(cv.waits)), "wait_ns": float64(cv.totalNS), "waiters": float64(cv.waiters),
		"holder_tid": float64(cv.holder), "holder_share": share, "hold_ns": float64(holdNS),
		"holder_blocked_ns": float64(blockedNS), "holder_blocked_share": blockedShare,
		"holder_retransmits": float64(cv.retx), "addr": float64(cv.key.addr), "pid": float64(cv.key.pid),
	}
	if len(calls.calls) > 0 {
		attrs["call_release_share"], attrs["call_release_expected"] = calls.share, calls.expected
	}
	f := newFinding(KindLockConvoy, subject, summary, float64(cv.holderNS)/1e9,
		share*(1+blocked)/2, refs.refs, attrs)
	f.Service, f.Operation = x.holderOperation(cv, calls.calls)
	return f, true
}

// holderOperation is where a convoy is caused: the operation (the entry
// span of its service) in which the holder blocked while holding the lock
// — its blocking events inside hold windows, or the downstream calls whose
// return released it — weighted by time. The waiters' operations only
// show where the queue was felt. Empty when no holder activity is joined
// to a span.
func (x *index) holderOperation(cv *convoy, calls []int32) (string, string) {
	if len(x.spans) == 0 {
		return "", ""
	}
	if err := x.join(); err != nil {
		return "", ""
	}
	weight := map[int32]int64{}
	for _, i := range cv.hevents {
		if s := x.evSpan[i]; s >= 0 {
			weight[x.entryOf(s)] += max(x.events[i].DurationNS, 1)
		}
	}
	for _, s := range calls {
		weight[x.entryOf(s)] += max(x.spans[s].DurationNS(), 1)
	}
	byOp := map[[2]string]int64{}
	for s, w := range weight {
		byOp[[2]string{x.spans[s].Service, x.spans[s].Name}] += w
	}
	var best [2]string
	var bestW int64
	for op, w := range byOp {
		if w > bestW || w == bestW && (op[0] < best[0] || op[0] == best[0] && op[1] < best[1]) {
			best, bestW = op, w
		}
	}
	return best[0], best[1]
}

// entryOf is the outermost span of i's service and unit of work on its
// path to the root: the operation i runs in. A job handed off by a request
// is a unit of its own (evidence.Span.HandedOffFrom). A parent cycle ends the walk where it
// closes.
func (x *index) entryOf(i int32) int32 {
	for range x.spans {
		s := &x.spans[i]
		if s.ParentSpanID.IsZero() || s.ParentSpanID == s.SpanID {
			return i
		}
		p, ok := x.spanByID(s.TraceID, s.ParentSpanID)
		if !ok || p == i || x.spans[p].Service != s.Service || s.HandedOffFrom(&x.spans[p]) {
			return i
		}
		i = p
	}
	return i
}

func inService(svc string) string {
	if svc == "" {
		return ""
	}
	return " in " + svc
}

func holderDetail(kinds map[evidence.KernelEventType]int, retx int64) string {
	var parts []string
	for _, k := range []evidence.KernelEventType{evidence.KernelBlockIO, evidence.KernelFsync, evidence.KernelTCPRetransmit,
		evidence.KernelFutexWait, evidence.KernelOffCPU} {
		if n := kinds[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, k))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	s := " (" + strings.Join(parts, ", ")
	if retx > 0 {
		s += fmt.Sprintf("; %d retransmits", retx)
	}
	return s + ")"
}

// lockEdgeRefs cites the lock-order edges that name the lock's address.
func (x *index) lockEdgeRefs(k lockKey, refs *refSet) {
	hex := "0x" + strconv.FormatUint(k.addr, 16)
	match := func(id string) bool {
		id = strings.ToLower(id)
		id = strings.TrimPrefix(strings.TrimPrefix(id, "addr:"), "futex:")
		return id == hex
	}
	n := 0
	for i := range x.edges {
		e := &x.edges[i]
		if e.PID != 0 && e.PID != k.pid || e.Node != "" && e.Node != k.node {
			continue
		}
		if (match(e.Held) || match(e.Acquiring)) && n < x.cfg.MaxRefs {
			refs.add(e.ID(), evidence.LineLock)
			n++
		}
	}
}

// union sorts intervals and merges overlapping ones.
func union(iv []interval) []interval {
	if len(iv) == 0 {
		return nil
	}
	slices.SortFunc(iv, func(a, b interval) int { return cmp.Or(cmp.Compare(a.lo, b.lo), cmp.Compare(a.hi, b.hi)) })
	out := iv[:1]
	for _, v := range iv[1:] {
		last := &out[len(out)-1]
		if v.lo <= last.hi {
			last.hi = max(last.hi, v.hi)
			continue
		}
		out = append(out, v)
	}
	return out
}

func length(iv []interval) int64 {
	var n int64
	for _, v := range iv {
		n += v.hi - v.lo
	}
	return n
}

// covers reports whether t lies in one of the sorted, disjoint intervals.
func covers(iv []interval, t int64) bool {
	i, _ := slices.BinarySearchFunc(iv, t, func(v interval, t int64) int { return cmp.Compare(v.lo, t) })
	return i < len(iv) && iv[i].lo == t || i > 0 && iv[i-1].hi >= t
}

// clip appends the parts of v inside the sorted, disjoint intervals to
// out and returns the new length of out.
func clip(iv []interval, v interval, out *[]interval) int {
	i, _ := slices.BinarySearchFunc(iv, v.lo, func(w interval, t int64) int { return cmp.Compare(w.hi, t) })
	for ; i < len(iv) && iv[i].lo < v.hi; i++ {
		lo, hi := max(iv[i].lo, v.lo), min(iv[i].hi, v.hi)
		if hi > lo {
			*out = append(*out, interval{lo, hi})
		}
	}
	return len(*out)
}
