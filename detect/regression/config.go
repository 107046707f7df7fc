package regression

import (
	"errors"
	"fmt"
	"strings"
)

// Finding kinds produced by this package.
const (
	KindKS                    = "latency_ks"
	KindChangepoint           = "latency_changepoint"
	KindComponentChangepoint  = "critical_path_changepoint"
	KindTrendBreak            = "latency_trend_break"
	KindCriticalPathComponent = "critical_path_component"
)

// Limits of Config fields.
const (
	MaxWindowsLimit = 10_000
	MaxExemplars    = 100
)

// ErrConfig wraps every Config.Validate failure.
var ErrConfig = errors.New("invalid regression config")

// Config configures Analyze.
type Config struct {
	// Alpha, in (0, 1), is the false discovery rate of every
	// Benjamini–Hochberg procedure (KS tests, change tests, trend tests).
	Alpha float64
	// MinRelChange (>= 0) is the smallest relative change of a level
	// (median, segment level, trend rise) that makes a finding: with many
	// samples tiny changes are significant.
	MinRelChange float64
	// FloorNS (> 0) is added to levels that are compared as ratios, so that
	// a component rising from nothing has a finite relative change and a
	// finite score.
	FloorNS float64
	// MinGroupSize (>= 2) is the fewest samples each group of a KS test
	// needs.
	MinGroupSize int
	// SpansPerWindow (>= 1) is the number of samples a window should hold
	// on average; windows with fewer than half of it are left out.
	SpansPerWindow int
	// MinWindows and MaxWindows bound the windows of a series; a series
	// with fewer usable windows than MinWindows (>= 4) is not tested.
	MinWindows, MaxWindows int
	// MinSegWindows (>= 1) is PELT's minimum segment length in windows.
	MinSegWindows int
	// MinSeriesShare, in [0, 1], is the least share of all critical-path
	// time a (service, operation, component) needs to get a change-point
	// series.
	MinSeriesShare float64
	// ComponentShare, in (0, 1], is the least share of all critical-path
	// time a non-self component of one operation needs to become a
	// critical_path_component finding.
	ComponentShare float64
	// Exemplars (1..MaxExemplars) is how many exemplar spans a finding
	// cites.
	Exemplars int
	// LockWaitStart and LockWaitEnd are substrings (matched
	// case-insensitively) of the span event names that open and close a
	// lock wait.
	LockWaitStart, LockWaitEnd string
}

// DefaultConfig returns the defaults: 5% false discovery rate, a 10%
// change, a 1 ms floor, 8 samples per KS group, about 4 samples per window
// with 8 to 200 windows and segments of at least 2 windows, series for
// components with 5% of critical-path time, component findings from 10%,
// 5 exemplars, and lock waits between events named "waiting for lock ..."
// and "acquired lock ..." (the HotROD and many hand-instrumented services'
// wording).
func DefaultConfig() Config {
	return Config{
		Alpha: 0.05, MinRelChange: 0.1, FloorNS: 1e6, MinGroupSize: 8,
		SpansPerWindow: 4, MinWindows: 8, MaxWindows: 200, MinSegWindows: 2,
		MinSeriesShare: 0.05, ComponentShare: 0.1, Exemplars: 5,
		LockWaitStart: "waiting for lock", LockWaitEnd: "acquired lock",
	}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrConfig)
	}
	switch {
	case !(c.Alpha > 0 && c.Alpha < 1):
		return bad("alpha %v: must be in (0, 1)", c.Alpha)
	case !(c.MinRelChange >= 0):
		return bad("min relative change %v: must be >= 0", c.MinRelChange)
	case !(c.FloorNS > 0):
		return bad("floor %v ns: must be > 0", c.FloorNS)
	case c.MinGroupSize < 2:
		return bad("min group size %d: must be >= 2", c.MinGroupSize)
	case c.SpansPerWindow < 1:
		return bad("spans per window %d: must be >= 1", c.SpansPerWindow)
	case c.MinWindows < 4 || c.MaxWindows < c.MinWindows || c.MaxWindows > MaxWindowsLimit:
		return bad("windows %d..%d: want 4 <= min <= max <= %d", c.MinWindows, c.MaxWindows, MaxWindowsLimit)
	case c.MinSegWindows < 1:
		return bad("min segment windows %d: must be >= 1", c.MinSegWindows)
	case !(c.MinSeriesShare >= 0 && c.MinSeriesShare <= 1):
		return bad("min series share %v: must be in [0, 1]", c.MinSeriesShare)
	case !(c.ComponentShare > 0 && c.ComponentShare <= 1):
		return bad("component share %v: must be in (0, 1]", c.ComponentShare)
	case c.Exemplars < 1 || c.Exemplars > MaxExemplars:
		return bad("exemplars %d: must be in 1..%d", c.Exemplars, MaxExemplars)
	case strings.TrimSpace(c.LockWaitStart) == "" || strings.TrimSpace(c.LockWaitEnd) == "":
		return bad("lock wait event names must not be empty")
	}
	return nil
}
