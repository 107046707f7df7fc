package stattest

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestKSOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		opt     KSOptions
		wantErr string
	}{
		{DefaultKSOptions(), ""},
		{KSOptions{Alternative: "both", Method: Auto}, `alternative "both"`},
		{KSOptions{Alternative: Less, Method: "fast"}, `method "fast"`},
	} {
		err := tc.opt.Validate()
		if (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%+v: err = %v, want %q", tc.opt, err, tc.wantErr)
		}
	}
}

func TestKSBadInput(t *testing.T) {
	if _, err := KS2Samp(nil, []float64{1}, DefaultKSOptions()); !errors.Is(err, ErrEmptySample) {
		t.Errorf("empty: %v", err)
	}
	if _, err := KS2Samp([]float64{1, math.NaN()}, []float64{1}, DefaultKSOptions()); !errors.Is(err, ErrNaN) {
		t.Errorf("NaN: %v", err)
	}
}

// TestKSExactFallsBack: like scipy, method exact switches to asymp when
// lcm(n1, n2) is too large for the lattice-path count.
func TestKSExactFallsBack(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	x := make([]float64, 50000)
	y := make([]float64, 49999)
	for i := range x {
		x[i] = r.NormFloat64()
	}
	for i := range y {
		y[i] = r.NormFloat64() + 0.05
	}
	for _, m := range []Method{Exact, Auto} {
		res, err := KS2Samp(x, y, KSOptions{Alternative: TwoSided, Method: m})
		if err != nil {
			t.Fatal(err)
		}
		if res.Method != Asymp {
			t.Errorf("%s: used %s, want asymp", m, res.Method)
		}
		if !(res.PValue >= 0 && res.PValue <= 1) {
			t.Errorf("%s: p = %v", m, res.PValue)
		}
	}
}

func TestKSIdenticalSamples(t *testing.T) {
	x := []float64{3, 1, 2, 2, 5}
	for _, alt := range []Alternative{TwoSided, Less, Greater} {
		res, err := KS2Samp(x, x, KSOptions{Alternative: alt, Method: Exact})
		if err != nil {
			t.Fatal(err)
		}
		if res.Statistic != 0 || res.PValue != 1 {
			t.Errorf("%s: %+v", alt, res)
		}
	}
}

func TestBHValidation(t *testing.T) {
	for _, tc := range []struct {
		p       []float64
		alpha   float64
		wantErr string
	}{
		{nil, 0.05, "no p-values"},
		{[]float64{0.1}, 0, "alpha 0"},
		{[]float64{0.1, 1.2}, 0.05, "p-value 1 is 1.2"},
		{[]float64{math.NaN()}, 0.05, "p-value 0 is NaN"},
	} {
		_, err := BenjaminiHochberg(tc.p, tc.alpha)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%v: err = %v, want %q", tc.p, err, tc.wantErr)
		}
	}
}

func TestBinomMatchesExactIntegers(t *testing.T) {
	for _, tc := range []struct{ n, k, want float64 }{
		{5, 2, 10}, {45, 20, 3169870830126}, {40, 20, 137846528820}, {17, 8, 24310},
	} {
		if got := binom(tc.n, tc.k); math.Abs(got-tc.want) > 1e-13*tc.want {
			t.Errorf("binom(%v,%v) = %v, want %v", tc.n, tc.k, got, tc.want)
		}
	}
}

// Bounded counts exactly on small samples (as Auto) and switches to the
// asymptotic distribution when n1·n2 passes MaxExactCells.
func TestKSBoundedMethod(t *testing.T) {
	mk := func(n int, shift float64) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = float64(i%97) + shift
		}
		return out
	}
	small, err := KS2Samp(mk(200, 0), mk(300, 3), KSOptions{Alternative: TwoSided, Method: Bounded})
	if err != nil {
		t.Fatal(err)
	}
	auto, _ := KS2Samp(mk(200, 0), mk(300, 3), DefaultKSOptions())
	if small.Method != Exact || small.PValue != auto.PValue {
		t.Errorf("small samples: %+v, want Auto's exact result %+v", small, auto)
	}
	large, err := KS2Samp(mk(2000, 0), mk(3000, 3), KSOptions{Alternative: TwoSided, Method: Bounded})
	if err != nil {
		t.Fatal(err)
	}
	if large.Method != Asymp {
		t.Errorf("2000 x 3000 samples: method %s, want asymp", large.Method)
	}
}
