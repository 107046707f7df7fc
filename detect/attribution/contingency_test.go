package attribution

import (
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// fisherBig is P(X ≥ a) summed exactly in rationals.
func fisherBig(a, b, c, d int) float64 {
	N, K, n := a+b+c+d, a+c, a+b
	binom := func(n, k int) *big.Int {
		if k < 0 || k > n {
			return new(big.Int)
		}
		return new(big.Int).Binomial(int64(n), int64(k))
	}
	num := new(big.Int)
	for x := a; x <= min(n, K); x++ {
		num.Add(num, new(big.Int).Mul(binom(K, x), binom(N-K, n-x)))
	}
	p, _ := new(big.Rat).SetFrac(num, binom(N, n)).Float64()
	return p
}

func TestFisherGreater(t *testing.T) {
	tests := []struct {
		a, b, c, d int
		want       float64
	}{
		{3, 1, 1, 3, 17.0 / 70},    // Fisher's tea tasting: (16 + 1) / C(8,4)
		{4, 0, 0, 4, 1.0 / 70},     // all four cups right
		{0, 4, 4, 0, 1},            // a at its minimum
		{2, 2, 2, 2, 53.0 / 70},    // (36 + 16 + 1) / 70
		{8, 2, 1, 5, 196.0 / 8008}, // (C(9,8)C(7,2) + C(9,9)C(7,1)) / C(16,10)
		{0, 0, 0, 0, 1},
		{5, 0, 0, 0, 1},
	}
	for _, tt := range tests {
		got, err := FisherGreater(tt.a, tt.b, tt.c, tt.d)
		if err != nil {
			t.Fatal(err)
		}
		if !near(got, tt.want, 1e-12) {
			t.Errorf("[[%d %d] [%d %d]]: p = %.15g, want %.15g", tt.a, tt.b, tt.c, tt.d, got, tt.want)
		}
	}
	if _, err := FisherGreater(1, -1, 0, 0); !errors.Is(err, ErrNegativeCount) {
		t.Errorf("negative: %v", err)
	}
}

func TestFisherAgainstRationals(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		a, b, c, d := r.IntN(15), r.IntN(15), r.IntN(15), r.IntN(40)
		got, _ := FisherGreater(a, b, c, d)
		if want := fisherBig(a, b, c, d); !relOK(got, want, 1e-11) {
			t.Fatalf("[[%d %d] [%d %d]]: %.17g, want %.17g", a, b, c, d, got, want)
		}
	}
	// Large, lopsided tables: tiny upper tails and p-values near 1.
	for _, tb := range [][4]int{{100, 900, 50, 8950}, {30, 970, 300, 8700}, {12, 88, 900, 9000}, {400, 600, 100, 900}} {
		got, _ := FisherGreater(tb[0], tb[1], tb[2], tb[3])
		if want := fisherBig(tb[0], tb[1], tb[2], tb[3]); !relOK(got, want, 1e-9) {
			t.Errorf("%v: %.17g, want %.17g", tb, got, want)
		}
	}
}

// relOK compares p-values relatively, and absolutely near 1.
func relOK(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*want || math.Abs(got-want) <= 1e-14
}

func TestTwoProportionZ(t *testing.T) {
	// p1 = .6, p2 = .4, pooled .5: se = sqrt(.25·(1/100+1/100)) = sqrt(.005),
	// z = .2/sqrt(.005) = 2√2, p = erfc(2)/2.
	z, p, err := TwoProportionZ(60, 40, 40, 60)
	if err != nil {
		t.Fatal(err)
	}
	if !near(z, 2*math.Sqrt2, 1e-12) || !near(p, 0.5*0.004677734981047266, 1e-12) {
		t.Errorf("z %v p %v", z, p)
	}
	// Under-represented: z < 0, p > .5.
	if z, p, _ := TwoProportionZ(40, 60, 60, 40); !near(z, -2*math.Sqrt2, 1e-12) || p < 0.99 {
		t.Errorf("reverse: z %v p %v", z, p)
	}
	for _, tb := range [][4]int{{0, 0, 3, 4}, {3, 4, 0, 0}, {0, 5, 0, 5}, {5, 0, 5, 0}} {
		if z, p, _ := TwoProportionZ(tb[0], tb[1], tb[2], tb[3]); z != 0 || p != 1 {
			t.Errorf("%v: z %v p %v, want 0, 1", tb, z, p)
		}
	}
	if _, _, err := TwoProportionZ(0, 0, -1, 0); !errors.Is(err, ErrNegativeCount) {
		t.Errorf("negative: %v", err)
	}
	// On large tables the z-test agrees with Fisher to the order of magnitude.
	z, p, _ = TwoProportionZ(1200, 8800, 9000, 81000)
	f, _ := FisherGreater(1200, 8800, 9000, 81000)
	if z < 5 || p > 1e-6 || math.Abs(math.Log10(p)-math.Log10(f)) > 1 {
		t.Errorf("z %v p %v vs fisher %v", z, p, f)
	}
}
