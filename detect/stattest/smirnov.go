package stattest

import "math"

// smirnovSF is scipy.special.smirnov(n, x): Pr(D_n^+ >= x) for the
// one-sided one-sample KS statistic, by the Birnbaum–Tingey sum
//
//	x * sum_{j=0}^{floor(n(1-x))} C(n,j) (1-x-j/n)^(n-j) (x+j/n)^(j-1)
//
// with Cephes kolmogorov.c's special cases. Cephes sums in double-double;
// the terms are positive, so a float64 sum agrees to about 1e-15 relative
// for the x >= 0.5 or n*x^2 >= 2.2 arguments kstwo uses it for.
func smirnovSF(n int, x float64) float64 {
	switch {
	case !(n > 0 && x >= 0 && x <= 1):
		return math.NaN()
	case n == 1:
		return x
	case x == 0:
		return 1
	case x == 1:
		return 0
	}
	fn := float64(n)
	nx := fn * x
	nxfl := int(math.Floor(nx))
	alpha := nx - float64(nxfl)
	if alpha >= 1 {
		nxfl, alpha = nxfl+1, 0
	}
	if nxfl == 0 || (nxfl == 1 && alpha == 0) { // x <= 1/n
		return 1 - x*math.Pow(1+x, fn-1)
	}
	if -2*fn*x*x < minLog {
		return 0
	}
	if nxfl >= n-1 { // x >= 1 - 1/n
		return math.Pow(1-x, fn)
	}
	if n > 1000000 {
		logp := -math.Pow(6.0*fn*x+1, 2) / 18.0 / fn
		if logp < -math.Ln2 {
			return math.Exp(logp)
		}
		return 1 + math.Expm1(logp)
	}
	// Lower sum over j = 0..n1mxfl, where n1mxfl = n - ceil(n x), omitting
	// the j with x + j/n = 1 - ... term that vanishes when alpha == 0.
	last := n - nxfl - 1
	if alpha == 0 {
		last--
	}
	sum := 0.0
	if n <= 1000 {
		c := 1.0 // C(n, j)
		for j := 0; j <= last; j++ {
			a := float64(n-j)/fn - x // 1 - x - j/n
			b := float64(j)/fn + x   // x + j/n
			sum += c * math.Pow(a, float64(n-j)) * math.Pow(b, float64(j-1))
			c = c * float64(n-j) / float64(j+1)
		}
	} else {
		lgn, _ := math.Lgamma(fn + 1)
		for j := 0; j <= last; j++ {
			a := float64(n-j)/fn - x
			b := float64(j)/fn + x
			lgj, _ := math.Lgamma(float64(j) + 1)
			lgnj, _ := math.Lgamma(float64(n-j) + 1)
			sum += math.Exp(lgn - lgj - lgnj + float64(n-j)*math.Log(a) + float64(j-1)*math.Log(b))
		}
	}
	return clip01(x * sum)
}
