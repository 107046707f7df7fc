// Command gen writes the reproducible z-scored piecewise-constant series
// that bench/rchangepoint compares PELT on, one number per line.
//
// Usage:
//
//	go run ./bench/rchangepoint/gen [-seed 42] -n 1000000 -o /tmp/pelt-1M.txt
//
// The recipe is the one BenchmarkPELT100k and BenchmarkPELT1M in
// detect/changepoint use: a PCG source seeded (seed, 7); segments of
// 500 + IntN(1500) points (500 to 1999); each segment's level drawn from
// N(0, 3^2); N(0, 1) noise on every point; the last segment cut at n. The
// series is then z-scored with changepoint.Standardize (R's scale()),
// rounded to a multiple of 2^-16 and written as its exact decimal
// expansion (16 decimals). The rounding makes both readers see the same
// float64s: R's scan() does not round 17-significant-digit decimals
// correctly (about 6 in 100,000 values of a shortest round-trip encoding
// came back one ulp off), but it converts these exactly, as
// strconv.ParseFloat does. The same seed gives the same series on every
// machine, and a shorter series is a prefix of a longer one before
// z-scoring.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/debugai/debugai/detect/changepoint"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(_ context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 1_000_000, "number of points")
	seed := fs.Uint64("seed", 42, "first PCG seed (the second is 7)")
	out := fs.String("o", "-", `output file ("-" is stdout)`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 2 {
		return fmt.Errorf("-n %d: want at least 2 points", *n)
	}
	z, err := changepoint.Standardize(Series(*n, *seed))
	if err != nil {
		return fmt.Errorf("z-scoring: %w", err)
	}
	w := stdout
	if *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			return fmt.Errorf("creating output: %w", err)
		}
		defer func() { err = errors.Join(err, f.Close()) }()
		w = f
	}
	return write(w, z)
}

// Series returns n raw (not yet z-scored) points of the piecewise-constant
// recipe described in the package comment.
func Series(n int, seed uint64) []float64 {
	r := rand.New(rand.NewPCG(seed, 7))
	x := make([]float64, 0, n)
	for len(x) < n {
		mean := 3 * r.NormFloat64()
		for k := 500 + r.IntN(1500); k > 0 && len(x) < n; k-- {
			x = append(x, mean+r.NormFloat64())
		}
	}
	return x
}

// quantum is the grid the written values lie on: 2^-16. A multiple of it
// below 100 in magnitude (z-scores are far below) has an exact expansion
// of 16 decimals, 18 significant digits: an integer below 2^64 over 10^16,
// both of which R's 80-bit long double digit accumulation holds exactly,
// so it converts the decimal without rounding.
const quantum = 1.0 / 65536

func quantize(v float64) float64 { return math.Round(v/quantum) * quantum }

func write(w io.Writer, z []float64) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	buf := make([]byte, 0, 32)
	for _, v := range z {
		buf = strconv.AppendFloat(buf[:0], quantize(v), 'f', 16, 64)
		buf = append(buf, '\n')
		if _, err := bw.Write(buf); err != nil {
			return fmt.Errorf("writing series: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing series: %w", err)
	}
	return nil
}
