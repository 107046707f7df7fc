package changepoint

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// bigLD is the reference: big.Float with a 64-bit mantissa rounds exactly
// like the x87 extended format.
func bigLD(x float64) *big.Float {
	return new(big.Float).SetPrec(64).SetMode(big.ToNearestEven).SetFloat64(x)
}

func TestLdoubleMatchesBigFloat(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	gens := []func() float64{
		func() float64 { return r.NormFloat64() },
		func() float64 { return r.NormFloat64() * math.Pow(2, float64(r.IntN(120)-60)) },
		func() float64 { return float64(r.IntN(2000) - 1000) },
		func() float64 { return r.Float64() * 1e-4 },
	}
	for gi, gen := range gens {
		for trial := 0; trial < 200; trial++ {
			var s ldouble
			ref := bigLD(0)
			n := 1 + r.IntN(300)
			for i := 0; i < n; i++ {
				v := gen()
				s = s.addF(v)
				ref.Add(ref, bigLD(v))
				got, _ := new(big.Float).SetPrec(64).SetMantExp(new(big.Float).SetUint64(s.mant), s.exp).Float64()
				if s.neg {
					got = -got
				}
				want, _ := ref.Float64()
				if s.mant != 0 && got != want {
					t.Fatalf("gen %d trial %d step %d: got %v want %v", gi, trial, i, got, want)
				}
				if s.float64() != want {
					t.Fatalf("gen %d trial %d step %d: float64() %v want %v", gi, trial, i, s.float64(), want)
				}
			}
			d := 1 + r.IntN(1000)
			q := new(big.Float).SetPrec(64).SetMode(big.ToNearestEven).Quo(ref, new(big.Float).SetInt64(int64(d)))
			want, _ := q.Float64()
			if got := s.divInt(d).float64(); got != want {
				t.Fatalf("gen %d trial %d: divInt(%d) = %v want %v", gi, trial, d, got, want)
			}
		}
	}
}

func TestLdoubleExactCancellation(t *testing.T) {
	s := ldFrom(1).addF(1e-30).addF(-1)
	if got := s.float64(); got != 1e-30 && math.Abs(got-1e-30) > 1e-45 {
		// 1 + 1e-30 is not representable in 64 bits: R gives 0 too.
		if got != 0 {
			t.Fatalf("got %v", got)
		}
	}
	if got := ldFrom(3).addF(-3).float64(); got != 0 {
		t.Fatalf("3-3 = %v", got)
	}
}
