package changepoint

import (
	"errors"
	"fmt"
)

// Errors returned for unusable input. Test with errors.Is.
var (
	// ErrMissingValue: the series holds NaN (a missing observation).
	ErrMissingValue = errors.New("series has a missing value (NaN)")
	// ErrNotFinite: the series holds ±Inf.
	ErrNotFinite = errors.New("series has an infinite value")
	// ErrTooShort: the series is too short for the detector.
	ErrTooShort = errors.New("series is too short")
	// ErrConstant: standardizing a constant series would divide by zero.
	ErrConstant = errors.New("series is constant: its standard deviation is 0")
)

// Penalty names a penalty for the number of change points.
type Penalty string

// PenaltyMBIC is the modified BIC of Zhang and Siegmund (2007) as R
// changepoint implements it for a change in mean: 3*ln(n) per change point
// plus ln(length) per segment.
const PenaltyMBIC Penalty = "mbic"

// Config configures [PELT] and [BinSeg].
type Config struct {
	// Penalty is the penalty; only PenaltyMBIC is implemented.
	Penalty Penalty
	// MinSegLen is the minimum number of observations in a segment (R's
	// minseglen); cpt.mean's default is 1.
	MinSegLen int
	// MaxChanges is BinSeg's Q, the most change points it looks for.
	// PELT ignores it.
	MaxChanges int
	// Standardize z-scores the series first, as TCPDBench does (R's
	// scale(): mean 0, sample standard deviation 1). The normal mean cost
	// assumes unit variance, so leave it on unless the data already is.
	Standardize bool
}

// DefaultPELTConfig returns TCPDBench's default settings for PELT.
func DefaultPELTConfig() Config {
	return Config{Penalty: PenaltyMBIC, MinSegLen: 1, MaxChanges: 5, Standardize: true}
}

// DefaultBinSegConfig returns TCPDBench's default settings for binary
// segmentation (Q = 5).
func DefaultBinSegConfig() Config {
	return Config{Penalty: PenaltyMBIC, MinSegLen: 1, MaxChanges: 5, Standardize: true}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if c.Penalty != PenaltyMBIC {
		return fmt.Errorf("penalty %q: only %q is implemented", c.Penalty, PenaltyMBIC)
	}
	if c.MinSegLen < 1 {
		return fmt.Errorf("min segment length %d: must be at least 1", c.MinSegLen)
	}
	if c.MaxChanges < 1 {
		return fmt.Errorf("max changes %d: must be at least 1", c.MaxChanges)
	}
	return nil
}

// NormalGamma is the conjugate prior of a normal with unknown mean and
// precision, in ocp's parametrisation (m, k, a, b).
type NormalGamma struct {
	M float64 // prior mean
	K float64 // pseudo-observations behind M (kappa); > 0
	A float64 // shape (alpha); > 0
	B float64 // rate (beta); > 0
}

// BOCPDConfig configures [BOCPD].
type BOCPDConfig struct {
	// Lambda is the expected run length: the constant hazard is 1/Lambda.
	Lambda float64
	// Prior is the Normal-Gamma prior of every run.
	Prior NormalGamma
	// TruncRLim drops the longest run lengths whose total probability is
	// below it (ocp truncRlim; 0 keeps everything).
	TruncRLim float64
	// MinRLength and MaxRLength bound the number of run lengths kept.
	MinRLength, MaxRLength int
	// MinSep and MaxSep bound the spacing of change points on the most
	// probable path (ocp minsep, maxsep).
	MinSep, MaxSep int
	// Standardize z-scores each dimension first, as TCPDBench does.
	Standardize bool
}

// DefaultBOCPDConfig returns TCPDBench's default settings for ocp: prior
// (m=0, k=1, a=1, b=1), hazard 1/100, truncRlim 1e-4, minRlength 1,
// maxRlength 1e4, minsep 1, maxsep 1e4, z-scored data.
func DefaultBOCPDConfig() BOCPDConfig {
	return BOCPDConfig{
		Lambda:      100,
		Prior:       NormalGamma{M: 0, K: 1, A: 1, B: 1},
		TruncRLim:   1e-4,
		MinRLength:  1,
		MaxRLength:  10000,
		MinSep:      1,
		MaxSep:      10000,
		Standardize: true,
	}
}

// Validate reports the first invalid field.
func (c BOCPDConfig) Validate() error {
	switch {
	case !(c.Lambda >= 1):
		return fmt.Errorf("lambda %v: must be at least 1", c.Lambda)
	case !(c.Prior.K > 0) || !(c.Prior.A > 0) || !(c.Prior.B > 0):
		return fmt.Errorf("prior %+v: k, a and b must be positive", c.Prior)
	case isNonFinite(c.Prior.M):
		return fmt.Errorf("prior mean %v: must be finite", c.Prior.M)
	case !(c.TruncRLim >= 0 && c.TruncRLim < 1):
		return fmt.Errorf("truncation limit %v: must be in [0, 1)", c.TruncRLim)
	case c.MinRLength < 1 || c.MinRLength >= c.MaxRLength:
		return fmt.Errorf("run-length bounds [%d, %d]: want 1 <= min < max", c.MinRLength, c.MaxRLength)
	case c.MinSep < 1 || c.MaxSep < 1:
		return fmt.Errorf("separation bounds [%d, %d]: must be at least 1", c.MinSep, c.MaxSep)
	}
	return nil
}
