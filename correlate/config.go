package correlate

import (
	"errors"
	"fmt"
)

// Errors returned for unusable input. Test with errors.Is.
var (
	// ErrConfig wraps every Config.Validate failure.
	ErrConfig = errors.New("invalid correlate config")
	// ErrTooMany reports input beyond the join's index limits (more than
	// MaxItems spans or events, or more than MaxNodes nodes).
	ErrTooMany = errors.New("too many items to join")
	// ErrBadAssignment reports an assignment that does not index the spans
	// and events it is used with.
	ErrBadAssignment = errors.New("assignment out of range")
)

// Index limits of the join. Linux bounds pids and tids by PID_MAX_LIMIT
// (2^22 on 64-bit kernels); larger values (or values <= 0) cannot be keyed
// and are counted in Stats.BadIDs.
const (
	MaxItems = 1<<31 - 1 // spans or events per Join (int32 indices)
	MaxNodes = 1 << 20   // distinct nodes per Join
	MaxID    = 1<<22 - 1 // largest pid or tid the join keys
)

// Anchor says which instant of an event's wait interval
// [TimeNS-DurationNS, TimeNS] is matched against span intervals.
type Anchor uint8

// Anchors. For an event without a duration all three are TimeNS.
const (
	// AnchorMid is the middle of the wait: the instant farthest from both
	// ends, so a wait of duration d survives a clock error below d/2 plus
	// the gap between the wait and the nearest span boundary. Default.
	AnchorMid Anchor = iota
	// AnchorStart is the start of the wait (the span that issued it; the
	// right choice for asynchronous completions).
	AnchorStart
	// AnchorEnd is TimeNS, the observation itself.
	AnchorEnd
)

// String names the anchor.
func (a Anchor) String() string {
	switch a {
	case AnchorMid:
		return "mid"
	case AnchorStart:
		return "start"
	case AnchorEnd:
		return "end"
	}
	return fmt.Sprintf("anchor(%d)", uint8(a))
}

// Config configures Join. The zero value is not valid: start from
// DefaultConfig.
type Config struct {
	// NodeOffsetNS is added to the TimeNS of every kernel event from a node
	// (KernelEvent.Node) to bring it onto the span clock: offset = span
	// clock - node's event clock. The node collector already converts
	// bpf_ktime_get_ns (CLOCK_MONOTONIC) to wall time with a bracketed
	// REALTIME-MONOTONIC sample; this map corrects what remains (a node
	// whose wall clock is off, a replay shifted in time). Missing nodes get 0.
	NodeOffsetNS map[string]int64
	// ClockErrorNS bounds the error of an aligned event time against the
	// span clock: the collector's bracket (< 2 µs) plus the uncertainty of
	// NodeOffsetNS. An overlap assignment whose anchor lies within
	// ClockErrorNS of a change of innermost span is flagged NearEdge and
	// gets the lower confidence. Must be >= 0.
	ClockErrorNS int64
	// Anchor picks the instant of an event's wait that is matched.
	Anchor Anchor
	// MatchNode restricts overlap matches to spans of the event's node, so
	// equal pids on different nodes never meet. A span's node is
	// HostNodes[span.Host] when present, else span.Host; spans without a
	// host then join nothing by overlap (Stats.SpansNoNode). Turn it off for
	// single-node data whose spans carry no host.name.
	MatchNode bool
	// HostNodes maps a span's host.name to the node id that the node
	// collector reports (debugai.node.id), when the two differ.
	HostNodes map[string]string
	// PIDFallback lets an event that no span on its thread contains match
	// the innermost span, on its process, of the spans that lack thread.id
	// (MethodPID, lower confidence). Right for single-threaded runtimes
	// whose SDK records no thread id; wrong for multi-threaded ones, hence
	// off by default.
	PIDFallback bool
	// IgnoreStamps joins every event by overlap even when span hooks
	// stamped it (used by Evaluate to score the overlap join).
	IgnoreStamps bool
	// MaxOverlayRefs bounds the evidence refs an Overlay keeps (the
	// contributing events with the longest durations); 1..MaxRefsLimit.
	MaxOverlayRefs int
}

// MaxRefsLimit bounds Config.MaxOverlayRefs.
const MaxRefsLimit = 1000

// DefaultClockErrorNS is the node collector's bracket error bound for
// converting bpf_ktime_get_ns to wall time.
const DefaultClockErrorNS = 2_000

// DefaultConfig returns the defaults: no node offsets, a 2 µs clock error
// bound, the middle of the wait as anchor, node matching on, no pid-only
// fallback, stamps used, 5 refs per overlay.
func DefaultConfig() Config {
	return Config{
		ClockErrorNS:   DefaultClockErrorNS,
		Anchor:         AnchorMid,
		MatchNode:      true,
		MaxOverlayRefs: 5,
	}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.ClockErrorNS < 0:
		return fmt.Errorf("%w: clock error %d ns: must be >= 0", ErrConfig, c.ClockErrorNS)
	case c.Anchor > AnchorEnd:
		return fmt.Errorf("%w: anchor %d: must be mid, start or end", ErrConfig, c.Anchor)
	case c.MaxOverlayRefs < 1 || c.MaxOverlayRefs > MaxRefsLimit:
		return fmt.Errorf("%w: max overlay refs %d: must be in [1, %d]", ErrConfig, c.MaxOverlayRefs, MaxRefsLimit)
	}
	for node := range c.HostNodes {
		if node == "" {
			return fmt.Errorf("%w: host nodes: empty host name", ErrConfig)
		}
	}
	return nil
}
