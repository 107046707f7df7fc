// Command gotime times debugai's PELT on one series file, the Go side of
// bench/rchangepoint (see README.md there). It measures what pelt.R
// measures for R: the series is read and z-scored with
// changepoint.Standardize (R's scale()) untimed, then only the
// changepoint.PELT call (MBIC, normal mean, minimum segment length 1,
// z-scoring off because the input already is) is timed.
//
// Usage:
//
//	go run ./bench/rchangepoint/gotime [-runs 5] [-check R.f64] FILE
//
// Each of -runs samples calls PELT back to back until at least -min
// (0.2 s) has passed and records the time per call, after a garbage
// collection, like pelt.R. -check compares the parsed series bit for bit
// with the float64s pelt.R dumped (PELT_R_DUMP) from the same file.
//
// Output, three lines, as pelt.R prints them:
//
//	cps [i,j,...]          change points, 0-based and cleaned as
//	                       `debugai changepoints` prints them
//	median_s S             median seconds per PELT call
//	runs_s s1 s2 ...       every sample, seconds per call
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/debugai/debugai/detect/changepoint"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "gotime:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gotime", flag.ContinueOnError)
	fs.SetOutput(stderr)
	runs := fs.Int("runs", 5, "timed samples")
	minSample := fs.Duration("min", 200*time.Millisecond, "least time per sample")
	checkFile := fs.String("check", "", "float64 dump (little-endian) of the series as R read it; fail unless identical")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *runs < 1 {
		return fmt.Errorf("usage: gotime [-runs N>=1] [-check R.f64] FILE")
	}
	x, err := readSeries(fs.Arg(0))
	if err != nil {
		return err
	}
	if *checkFile != "" {
		if err := sameAsDump(x, *checkFile); err != nil {
			return err
		}
	}
	z, err := changepoint.Standardize(x)
	if err != nil {
		return fmt.Errorf("z-scoring: %w", err)
	}
	cfg := changepoint.DefaultPELTConfig()
	cfg.Standardize = false // z is z-scored, as R's cpt.mean gets scale(x)

	start := time.Now()
	cps, err := changepoint.PELT(z, cfg) // warm-up; also the output
	if err != nil {
		return fmt.Errorf("PELT: %w", err)
	}
	inner := max(1, int(math.Ceil(minSample.Seconds()/max(time.Since(start).Seconds(), 1e-6))))
	samples := make([]float64, *runs)
	for r := range samples {
		if err := ctx.Err(); err != nil {
			return err
		}
		runtime.GC()
		t0 := time.Now()
		for range inner {
			if _, err := changepoint.PELT(z, cfg); err != nil {
				return fmt.Errorf("PELT: %w", err)
			}
		}
		samples[r] = time.Since(t0).Seconds() / float64(inner)
	}

	out, err := json.Marshal(changepoint.Clean(cps, len(z)))
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "cps %s\nmedian_s %.6f\nruns_s", out, median(samples))
	for _, s := range samples {
		fmt.Fprintf(&b, " %.6f", s)
	}
	b.WriteString("\n")
	_, err = io.WriteString(stdout, b.String())
	return err
}

func readSeries(name string) (x []float64, err error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("opening series: %w", err)
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	s, err := changepoint.ReadSeries(f)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(s.Dims) != 1 {
		return nil, fmt.Errorf("reading %s: %d dimensions, want 1", name, len(s.Dims))
	}
	return s.Dims[0], nil
}

// sameAsDump reports the first value where x and the dump differ bitwise.
func sameAsDump(x []float64, name string) error {
	b, err := os.ReadFile(name)
	if err != nil {
		return fmt.Errorf("reading R's dump: %w", err)
	}
	if len(b) != 8*len(x) {
		return fmt.Errorf("R read %d values (%d bytes), Go %d", len(b)/8, len(b), len(x))
	}
	for i, v := range x {
		r := math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		if math.Float64bits(v) != math.Float64bits(r) {
			return fmt.Errorf("value %d (line %d): Go read %v, R read %v", i, i+1, v, r)
		}
	}
	return nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
