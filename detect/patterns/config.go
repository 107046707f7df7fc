package patterns

import (
	"errors"
	"fmt"
	"math"

	"github.com/debugai/debugai/correlate"
)

// Errors returned for unusable input. Test with errors.Is.
var (
	// ErrConfig wraps every Config.Validate failure.
	ErrConfig = errors.New("invalid patterns config")
)

// Finding kinds, named as the hypothesis patterns (ARCHITECTURE.md).
const (
	KindLockConvoy     = "lock_convoy"
	KindStarvation     = "starvation"
	KindRetransmitTail = "retransmit_tail"
	KindIOLatency      = "io_latency"
	KindPageFaultStorm = "page_fault_storm"
	KindNetworkGap     = "network_gap"
	KindNPlusOne       = "n_plus_one"
	KindPoolSaturation = "pool_saturation"
	// KindServiceNetworkDelay and KindServiceStall name the one service
	// that the grown network gaps share (the callee side or the caller
	// side); one detector produces both.
	KindServiceNetworkDelay = "service_network_delay"
	KindServiceStall        = "service_stall"
)

// AllKinds lists every kind in the order [Analyze] runs the detectors.
var AllKinds = []string{
	KindLockConvoy, KindStarvation, KindRetransmitTail, KindIOLatency,
	KindPageFaultStorm, KindNetworkGap, KindServiceNetworkDelay, KindServiceStall, KindNPlusOne, KindPoolSaturation,
}

// MaxRefsLimit bounds Config.MaxRefs.
const MaxRefsLimit = 1000

// Config configures [Analyze]. Start from [DefaultConfig].
type Config struct {
	// Kinds selects the detectors to run; empty runs all of AllKinds.
	Kinds []string
	// Join configures the span/event join (correlate.Join) and the node
	// mapping used when events are matched to spans by process.
	Join correlate.Config
	// SlowQuantile, in (0, 1), is the per-endpoint duration quantile above
	// which a span is slow (0.95: above the endpoint's p95).
	SlowQuantile float64
	// MinEndpointSpans is the fewest spans an endpoint (service, span name)
	// needs before its spans are labelled slow or fast (>= 2).
	MinEndpointSpans int
	// Alpha, in (0, 1), is the significance level of the one-sided tests
	// (Fisher exact, Kolmogorov–Smirnov) and the false discovery rate of
	// the Benjamini–Hochberg correction across endpoints.
	Alpha float64
	// MaxRefs bounds the refs each finding cites per evidence role, in
	// [1, MaxRefsLimit].
	MaxRefs int

	Convoy     ConvoyConfig
	Starvation StarvationConfig
	Retransmit RetransmitConfig
	IO         IOConfig
	Faults     FaultConfig
	Gap        GapConfig
	NPlusOne   NPlusOneConfig
	Pool       PoolConfig
}

// ConvoyConfig configures lock_convoy.
type ConvoyConfig struct {
	// MinWaitNS is the shortest futex wait that counts as a convoy wait.
	MinWaitNS int64
	// MinWaits is the fewest long waits on one lock (>= 2).
	MinWaits int
	// MinTotalWaitNS is the least summed long-wait time on the lock: a
	// few milliseconds of queueing in a whole window is no incident.
	MinTotalWaitNS int64
	// DominantShare, in (0, 1], is the share of the lock's long-wait time
	// that one waker (the releasing holder) must account for.
	DominantShare float64
	// MinHolderBlockedShare, in (0, 1], is the share of the holder's hold
	// windows that it spends blocked itself (block I/O, off-CPU, a futex
	// wait on another address). A TCP retransmit of the holder inside a
	// hold window also qualifies.
	MinHolderBlockedShare float64
	// A Go mutex holder that waits on a downstream call parks its
	// goroutine without blocking a thread: such a convoy qualifies when at
	// least MinCallReleaseShare of the waits end within CallSlackNS after
	// a client span of the process ends (and twice as often as random
	// timing would give).
	CallSlackNS         int64
	MinCallReleaseShare float64
}

// StarvationConfig configures starvation.
type StarvationConfig struct {
	// MinEvents is the fewest runqueue_delay events of a cgroup.
	MinEvents int
	// MinSpans is the fewest spans with run-queue delay in the cgroup.
	MinSpans int
	// MinSpanFraction, in [0, 1], is the least share of all the window's
	// spans that must be affected: a busy CPU that delays a handful of
	// requests among thousands is scheduling noise, not an incident's
	// cause (a CPU-heavy regression shows such delays as a symptom).
	MinSpanFraction float64
	// MinShare, in (0, 1], is the run-queue share of those spans' time.
	MinShare float64
	// MinP90DelayNS is the smallest p90 of single run-queue delays: short
	// delays are normal scheduling, not a busy CPU.
	MinP90DelayNS int64
	// MinThrottleRecords and MinThrottledNS are the fewest cpu_throttle
	// records, and the least throttled time, of a process;
	// MinThrottledSlowSpans the fewest of its slow spans that ran while it
	// was throttled.
	MinThrottleRecords    int
	MinThrottledNS        int64
	MinThrottledSlowSpans int
	// ThrottleIntervalNS is the interval a cpu_throttle record covers when
	// it does not say.
	ThrottleIntervalNS int64
}

// RetransmitConfig configures retransmit_tail.
type RetransmitConfig struct {
	// MinSlowWithRetransmit is the fewest slow spans of an endpoint that
	// saw a retransmit.
	MinSlowWithRetransmit int
	// MinRateRatio (>= 1) is the least ratio of the retransmit rate of slow
	// spans to that of fast spans (smoothed by +1/+2, see the package doc).
	MinRateRatio float64
}

// IOConfig configures io_latency.
type IOConfig struct {
	// MinSlowWithIO is the fewest slow spans with block I/O.
	MinSlowWithIO int
	// MinShare, in (0, 1], is the block I/O share of slow spans' time.
	MinShare float64
	// MinExplained, in (0, 1], is the share of the slow-minus-fast latency
	// difference that the slow-minus-fast block I/O difference explains.
	MinExplained float64
}

// FaultConfig configures page_fault_storm.
type FaultConfig struct {
	// WindowNS is the width of the fault-counting windows.
	WindowNS int64
	// MinFaults is the fewest major faults in a storm window.
	MinFaults int64
	// BurstFactor (>= 1): a storm window holds at least this many times the
	// process's median faults per window (over windows from its first to
	// its last fault).
	BurstFactor float64
	// MinSlowSpans is the fewest slow spans overlapping the storm windows.
	MinSlowSpans int
}

// GapConfig configures network_gap.
type GapConfig struct {
	// MinCalls is the fewest client/server pairs on an edge.
	MinCalls int
	// MinGapNS is the smallest median gap reported without a baseline.
	MinGapNS int64
	// MinShare, in (0, 1], is the median share of the client span's time
	// that lies outside the server span.
	MinShare float64
	// MinIncreaseNS is the smallest increase of the median gap over the
	// baseline (when a baseline is given).
	MinIncreaseNS int64
	// MinPairCalls is the fewest calls from one caller service to one
	// callee service (all their operations) for the pair to count in
	// service_network_delay and service_stall.
	MinPairCalls int
	// CrossServiceRPC treats a parent and child of different services as a
	// client/server pair when both lack span kinds (data such as Nezha's
	// carries none).
	CrossServiceRPC bool
}

// NPlusOneConfig configures n_plus_one.
type NPlusOneConfig struct {
	// MinCalls is the fewest calls of one operation under one parent.
	MinCalls int
	// MinSequential, in (0, 1], is the share of consecutive call pairs that
	// do not overlap.
	MinSequential float64
	// MinParents is the fewest parents showing the pattern.
	MinParents int
	// MinShare, in [0, 1], is the share of the parents' time spent in the
	// calls.
	MinShare float64
}

// PoolConfig configures pool_saturation.
type PoolConfig struct {
	// MinQueued is the fewest queued calls (calls of a concurrent fan-out
	// that started at least MinWaitNS after their batch).
	MinQueued int
	// MinWaitNS is the least delay after the batch start that counts as
	// queueing.
	MinWaitNS int64
	// HandoffNS: a queued call is handed a slot when it starts within
	// HandoffNS after another call of the operation ended while the
	// operation was at its concurrency plateau.
	HandoffNS int64
	// MinHandoffShare, in (0, 1], is the share of queued calls that start
	// at such a handoff.
	MinHandoffShare float64
	// MinPoolSize (>= 2): smaller plateaus are serialization, which
	// lock_convoy and n_plus_one cover.
	MinPoolSize int
}

// DefaultConfig returns the defaults documented on each field's pattern in
// the package documentation.
func DefaultConfig() Config {
	return Config{
		Join:             correlate.DefaultConfig(),
		SlowQuantile:     0.95,
		MinEndpointSpans: 20,
		Alpha:            0.05,
		MaxRefs:          5,
		Convoy: ConvoyConfig{MinWaitNS: 1_000_000, MinWaits: 5, MinTotalWaitNS: 100_000_000, DominantShare: 0.5,
			MinHolderBlockedShare: 0.3, CallSlackNS: 500_000, MinCallReleaseShare: 0.5},
		Starvation: StarvationConfig{MinEvents: 20, MinSpans: 5, MinSpanFraction: 0.01, MinShare: 0.1, MinP90DelayNS: 1_000_000,
			MinThrottleRecords: 2, MinThrottledNS: 10_000_000, MinThrottledSlowSpans: 3, ThrottleIntervalNS: 200_000_000},
		Retransmit: RetransmitConfig{MinSlowWithRetransmit: 3, MinRateRatio: 2},
		IO:         IOConfig{MinSlowWithIO: 3, MinShare: 0.3, MinExplained: 0.5},
		Faults:     FaultConfig{WindowNS: 1_000_000_000, MinFaults: 20, BurstFactor: 4, MinSlowSpans: 3},
		Gap: GapConfig{MinCalls: 5, MinPairCalls: 2, MinGapNS: 100_000_000, MinShare: 0.5, MinIncreaseNS: 20_000_000,
			CrossServiceRPC: true},
		NPlusOne: NPlusOneConfig{MinCalls: 5, MinSequential: 0.9, MinParents: 3, MinShare: 0.3},
		Pool: PoolConfig{MinQueued: 5, MinWaitNS: 1_000_000, HandoffNS: 2_000_000, MinHandoffShare: 0.5,
			MinPoolSize: 2},
	}
}

// Validate reports the first invalid field, wrapping ErrConfig.
func (c Config) Validate() error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

func (c Config) validate() error {
	for _, k := range c.Kinds {
		if !isKind(k) {
			return fmt.Errorf("kind %q: unknown", k)
		}
	}
	if err := c.Join.Validate(); err != nil {
		return err
	}
	for _, chk := range []check{
		{"slow quantile", c.SlowQuantile, 0, 1, false, false},
		{"alpha", c.Alpha, 0, 1, false, false},
		{"convoy dominant share", c.Convoy.DominantShare, 0, 1, false, true},
		{"convoy holder blocked share", c.Convoy.MinHolderBlockedShare, 0, 1, false, true},
		{"convoy call release share", c.Convoy.MinCallReleaseShare, 0, 1, false, true},
		{"starvation share", c.Starvation.MinShare, 0, 1, false, true},
		{"starvation span fraction", c.Starvation.MinSpanFraction, 0, 1, true, true},
		{"retransmit rate ratio", c.Retransmit.MinRateRatio, 1, math.MaxFloat64, true, true},
		{"io share", c.IO.MinShare, 0, 1, false, true},
		{"io explained", c.IO.MinExplained, 0, 1, false, true},
		{"fault burst factor", c.Faults.BurstFactor, 1, math.MaxFloat64, true, true},
		{"gap share", c.Gap.MinShare, 0, 1, false, true},
		{"n+1 sequential share", c.NPlusOne.MinSequential, 0, 1, false, true},
		{"n+1 share", c.NPlusOne.MinShare, 0, 1, true, true},
		{"pool handoff share", c.Pool.MinHandoffShare, 0, 1, false, true},
	} {
		if err := chk.validate(); err != nil {
			return err
		}
	}
	for _, n := range []count{
		{"min endpoint spans", int64(c.MinEndpointSpans), 2, 1 << 40},
		{"max refs", int64(c.MaxRefs), 1, MaxRefsLimit},
		{"convoy min wait ns", c.Convoy.MinWaitNS, 0, math.MaxInt64},
		{"convoy min total wait ns", c.Convoy.MinTotalWaitNS, 0, math.MaxInt64},
		{"convoy call slack ns", c.Convoy.CallSlackNS, 0, math.MaxInt64},
		{"convoy min waits", int64(c.Convoy.MinWaits), 2, math.MaxInt64},
		{"starvation min events", int64(c.Starvation.MinEvents), 1, math.MaxInt64},
		{"starvation min spans", int64(c.Starvation.MinSpans), 1, math.MaxInt64},
		{"starvation min p90 delay ns", c.Starvation.MinP90DelayNS, 0, math.MaxInt64},
		{"starvation min throttle records", int64(c.Starvation.MinThrottleRecords), 1, math.MaxInt64},
		{"starvation min throttled ns", c.Starvation.MinThrottledNS, 0, math.MaxInt64},
		{"starvation min throttled slow spans", int64(c.Starvation.MinThrottledSlowSpans), 1, math.MaxInt64},
		{"starvation throttle interval ns", c.Starvation.ThrottleIntervalNS, 1, math.MaxInt64},
		{"retransmit min slow spans", int64(c.Retransmit.MinSlowWithRetransmit), 1, math.MaxInt64},
		{"io min slow spans", int64(c.IO.MinSlowWithIO), 1, math.MaxInt64},
		{"fault window ns", c.Faults.WindowNS, 1, math.MaxInt64},
		{"fault min faults", c.Faults.MinFaults, 1, math.MaxInt64},
		{"fault min slow spans", int64(c.Faults.MinSlowSpans), 1, math.MaxInt64},
		{"gap min calls", int64(c.Gap.MinCalls), 1, math.MaxInt64},
		{"gap min pair calls", int64(c.Gap.MinPairCalls), 1, math.MaxInt64},
		{"gap min ns", c.Gap.MinGapNS, 0, math.MaxInt64},
		{"gap min increase ns", c.Gap.MinIncreaseNS, 0, math.MaxInt64},
		{"n+1 min calls", int64(c.NPlusOne.MinCalls), 2, math.MaxInt64},
		{"n+1 min parents", int64(c.NPlusOne.MinParents), 1, math.MaxInt64},
		{"pool min queued", int64(c.Pool.MinQueued), 1, math.MaxInt64},
		{"pool min wait ns", c.Pool.MinWaitNS, 0, math.MaxInt64},
		{"pool handoff ns", c.Pool.HandoffNS, 0, math.MaxInt64},
		{"pool min size", int64(c.Pool.MinPoolSize), 2, math.MaxInt64},
	} {
		if n.v < n.lo || n.v > n.hi {
			return fmt.Errorf("%s %d: must be in [%d, %d]", n.name, n.v, n.lo, n.hi)
		}
	}
	return nil
}

// check is a float field in an interval; loClosed/hiClosed say whether the
// bounds are allowed.
type check struct {
	name               string
	v, lo, hi          float64
	loClosed, hiClosed bool
}

func (c check) validate() error {
	ok := (c.v > c.lo || c.loClosed && c.v == c.lo) && (c.v < c.hi || c.hiClosed && c.v == c.hi)
	if ok && !math.IsInf(c.v, 0) {
		return nil
	}
	lb, rb := "(", ")"
	if c.loClosed {
		lb = "["
	}
	if c.hiClosed {
		rb = "]"
	}
	hi := fmt.Sprint(c.hi)
	if c.hi == math.MaxFloat64 {
		hi = "inf"
	}
	return fmt.Errorf("%s %v: must be in %s%v, %s%s", c.name, c.v, lb, c.lo, hi, rb)
}

// count is an integer field in [lo, hi].
type count struct {
	name      string
	v, lo, hi int64
}

func isKind(k string) bool {
	for _, a := range AllKinds {
		if a == k {
			return true
		}
	}
	return false
}

// enabled reports whether kind k runs under c.
func (c Config) enabled(k string) bool {
	if len(c.Kinds) == 0 {
		return true
	}
	for _, x := range c.Kinds {
		if x == k {
			return true
		}
	}
	return false
}
