package changepoint

import (
	"math/rand/v2"
	"os"
	"testing"
)

// piecewiseConstant returns a z-scored series of n points: segments of 500
// to 2000 points whose means are drawn from N(0, 3^2), plus N(0, 1) noise.
func piecewiseConstant(tb testing.TB, n int) []float64 {
	tb.Helper()
	r := rand.New(rand.NewPCG(42, 7))
	x := make([]float64, 0, n)
	for len(x) < n {
		mean := 3 * r.NormFloat64()
		for k := 500 + r.IntN(1500); k > 0 && len(x) < n; k-- {
			x = append(x, mean+r.NormFloat64())
		}
	}
	z, err := Standardize(x)
	if err != nil {
		tb.Fatal(err)
	}
	return z
}

func benchmarkPELT(b *testing.B, n int) {
	x := piecewiseConstant(b, n)
	cfg := DefaultPELTConfig()
	cfg.Standardize = false // already z-scored
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := PELT(x, cfg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPELT100k(b *testing.B) { benchmarkPELT(b, 100_000) }
func BenchmarkPELT1M(b *testing.B)   { benchmarkPELT(b, 1_000_000) }

func BenchmarkBinSeg100k(b *testing.B) {
	x := piecewiseConstant(b, 100_000)
	cfg := DefaultBinSegConfig()
	cfg.Standardize = false
	for b.Loop() {
		if _, err := BinSeg(x, cfg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBOCPD10k(b *testing.B) {
	x := piecewiseConstant(b, 10_000)
	cfg := DefaultBOCPDConfig()
	for b.Loop() {
		if _, err := BOCPD(x, cfg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPELTFile times PELT on the series in the file named by
// DEBUGAI_PELT_SERIES (one number per line, e.g. written by
// bench/rchangepoint/gen), z-scored before the timer starts: the Go side
// of the comparison with R changepoint, for profiling with -cpuprofile.
func BenchmarkPELTFile(b *testing.B) {
	name := os.Getenv("DEBUGAI_PELT_SERIES")
	if name == "" {
		b.Skip("DEBUGAI_PELT_SERIES is unset: it names the series file to time (see bench/rchangepoint)")
	}
	f, err := os.Open(name)
	if err != nil {
		b.Fatal(err)
	}
	s, err := ReadSeries(f)
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	x, err := Standardize(s.Dims[0])
	if err != nil {
		b.Fatal(err)
	}
	cfg := DefaultPELTConfig()
	cfg.Standardize = false
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := PELT(x, cfg); err != nil {
			b.Fatal(err)
		}
	}
}
