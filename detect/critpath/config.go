package critpath

import (
	"errors"
	"fmt"
)

// Errors returned for unusable input. Test with errors.Is.
var (
	// ErrNoSpans: a trace without spans.
	ErrNoSpans = errors.New("trace has no spans")
	// ErrMixedTraces: spans passed as one trace carry different trace ids.
	ErrMixedTraces = errors.New("spans belong to more than one trace")
	// ErrNoRoot: every span has a stored parent (a parent cycle), so there is
	// no root to start from.
	ErrNoRoot = errors.New("trace has no root span")
)

// KindDominant is the Kind of the findings this package produces.
const KindDominant = "critical_path_dominant"

// MaxExemplars bounds Config.Exemplars.
const MaxExemplars = 100

// Config configures an [Aggregator].
type Config struct {
	// DominantShare is the critical-path share, in (0, 1], at or above which
	// a (service, operation) becomes a critical_path_dominant finding.
	DominantShare float64
	// MinTraces is the fewest traces whose critical path must include an
	// operation before it can become a finding (one slow trace is not a
	// pattern).
	MinTraces int
	// Exemplars is how many exemplar spans (largest critical-path self time
	// first) are kept per operation and cited by its finding; 1..MaxExemplars.
	Exemplars int
}

// DefaultConfig returns the defaults: an operation is dominant when it holds
// at least half of all critical-path time over at least 3 traces; 5
// exemplars.
func DefaultConfig() Config {
	return Config{DominantShare: 0.5, MinTraces: 3, Exemplars: 5}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case !(c.DominantShare > 0 && c.DominantShare <= 1):
		return fmt.Errorf("dominant share %v: must be in (0, 1]", c.DominantShare)
	case c.MinTraces < 1:
		return fmt.Errorf("min traces %d: must be at least 1", c.MinTraces)
	case c.Exemplars < 1 || c.Exemplars > MaxExemplars:
		return fmt.Errorf("exemplars %d: must be in [1, %d]", c.Exemplars, MaxExemplars)
	}
	return nil
}
