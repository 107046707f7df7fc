package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/debugai/debugai/detect/changepoint"
)

const changepointsUsage = `changepoints [flags] FILE

Prints the change points of the series in FILE ("-" reads stdin) as a JSON
array of 0-based indices, cleaned as the Turing Change Point Detection
benchmark (TCPDBench) scores them: unique, sorted, 1 <= cp < n-1. Like
TCPDBench, pelt and binseg report the last index before each change and
bocpd the first index after it. --raw prints the detector's list as
TCPDBench records it instead (pelt and binseg end it with n-1, bocpd
starts it with 0).

FILE is a TCPD JSON series ({"series": [{"raw": [...]}], ...}) or plain
text with one number per line. Every method z-scores the series first and
reproduces the R reference implementations exactly: pelt and binseg are R
changepoint's cpt.mean (Normal cost, MBIC penalty), bocpd is R ocp's
onlineCPD (Normal-Gamma prior m=0 k=1 a=1 b=1, hazard 1/100).`

func runChangepoints(_ context.Context, args []string, env *cmdEnv) error {
	fs := newFlagSet("changepoints", changepointsUsage, env)
	method := fs.String("method", "pelt", "detector: pelt, binseg or bocpd")
	penalty := fs.String("penalty", "mbic", "penalty for pelt and binseg: mbic")
	maxChanges := fs.Int("max-changes", 5, "binseg: most change points to look for (R's Q)")
	raw := fs.Bool("raw", false, "print the detector's list as TCPDBench records it, not the cleaned change points")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return usagef("changepoints: want exactly one FILE (or - for stdin), got %d arguments", fs.NArg())
	}
	if !strings.EqualFold(*penalty, string(changepoint.PenaltyMBIC)) {
		return usagef("changepoints: --penalty %q: only mbic is implemented", *penalty)
	}
	detect, err := detector(strings.ToLower(*method), *maxChanges)
	if err != nil {
		return err
	}
	series, err := readSeriesArg(fs.Arg(0), env.stdin)
	if err != nil {
		return err
	}
	cps, err := detect(series)
	if err != nil {
		return fmt.Errorf("changepoints: %s: %w", *method, err)
	}
	if !*raw {
		cps = changepoint.Clean(cps, series.Len())
	}
	out, err := json.Marshal(cps)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(env.stdout, string(out))
	return err
}

// detector returns the named method with TCPDBench's default settings.
func detector(method string, maxChanges int) (func(changepoint.Series) ([]int, error), error) {
	univariate := func(s changepoint.Series) ([]float64, error) {
		if len(s.Dims) != 1 {
			return nil, fmt.Errorf("series has %d dimensions; %s handles one (TCPDBench skips these series)", len(s.Dims), method)
		}
		return s.Dims[0], nil
	}
	switch method {
	case "pelt":
		return func(s changepoint.Series) ([]int, error) {
			x, err := univariate(s)
			if err != nil {
				return nil, err
			}
			return changepoint.PELT(x, changepoint.DefaultPELTConfig())
		}, nil
	case "binseg":
		cfg := changepoint.DefaultBinSegConfig()
		cfg.MaxChanges = maxChanges
		if err := cfg.Validate(); err != nil {
			return nil, usagef("changepoints: --max-changes: %v", err)
		}
		return func(s changepoint.Series) ([]int, error) {
			x, err := univariate(s)
			if err != nil {
				return nil, err
			}
			return changepoint.BinSeg(x, cfg)
		}, nil
	case "bocpd":
		return func(s changepoint.Series) ([]int, error) {
			return changepoint.BOCPDMulti(s.Dims, changepoint.DefaultBOCPDConfig())
		}, nil
	}
	return nil, usagef("changepoints: unknown --method %q: want pelt, binseg or bocpd", method)
}

// readSeriesArg reads the series named on the command line.
func readSeriesArg(name string, stdin io.Reader) (s changepoint.Series, err error) {
	var r io.Reader = stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return s, fmt.Errorf("opening series: %w", err)
		}
		defer func() { err = errors.Join(err, f.Close()) }()
		r = f
	} else {
		name = "stdin"
	}
	s, err = changepoint.ReadSeries(r)
	if err != nil {
		return s, fmt.Errorf("reading %s: %w", name, err)
	}
	return s, nil
}
