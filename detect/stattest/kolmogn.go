package stattest

import "math"

// Ports of scipy 1.10.1's scipy/stats/_ksstats.py: the distribution of the
// two-sided one-sample KS statistic D_n (scipy.stats.kstwo), computed with
// Simard & L'Ecuyer's (2011) choice of algorithm.

const (
	e128       = 128
	minLogProb = -708
)

var (
	ep128 = math.Ldexp(1, e128)
	em128 = math.Ldexp(1, -e128)
	// Stirling coefficients B_{2j}/(2j)/(2j-1) for j=8..1.
	stirlingCoeffs = []float64{-2.955065359477124183e-2, 6.4102564102564102564e-3,
		-1.9175269175269175269e-3, 8.4175084175084175084e-4,
		-5.952380952380952381e-4, 7.9365079365079365079e-4,
		-2.7777777777777777778e-3, 8.3333333333333333333e-2}
)

func clip01(p float64) float64 { return math.Min(math.Max(p, 0), 1) }

// logNFactorialDivNPowN is log(n!/n^n) by Stirling's series.
func logNFactorialDivNPowN(n int) float64 {
	rn := 1.0 / float64(n)
	return math.Log(float64(n))/2 - float64(n) + math.Log(2*math.Pi)/2 + rn*polevl(rn/float64(n), stirlingCoeffs)
}

// kolmognSF is kstwo.sf(x, n) = scipy's _kolmogn(n, x, cdf=False).
func kolmognSF(n int, x float64) float64 {
	if n <= 0 || math.IsNaN(x) {
		return math.NaN()
	}
	if x >= 1.0 {
		return 0
	}
	if x <= 0.0 {
		return 1
	}
	t := float64(n) * x
	if t <= 1.0 { // Ruben-Gambino: 1/2n <= x <= 1/n
		if t <= 0.5 {
			return 1
		}
		var prob float64
		if n <= 140 {
			prob = 1.0
			for i := 1; i <= n; i++ {
				prob *= float64(i) * (1.0 / float64(n)) * (2*t - 1)
			}
		} else {
			prob = math.Exp(logNFactorialDivNPowN(n) + float64(n)*math.Log(2*t-1))
		}
		return clip01(1.0 - prob)
	}
	if t >= float64(n-1) { // Ruben-Gambino
		return clip01(2 * math.Pow(1.0-x, float64(n)))
	}
	if x >= 0.5 { // exact: 2 * smirnov
		return clip01(2 * smirnovSF(n, x))
	}
	nxsquared := t * x
	if n <= 140 {
		if nxsquared <= 0.754693 {
			return clip01(1.0 - kolmognDMTW(n, x))
		}
		if nxsquared <= 4 {
			return kolmognPomeranz(n, x).oneMinus()
		}
		return clip01(2 * smirnovSF(n, x)) // Miller approximation
	}
	if nxsquared >= 370.0 {
		return 0
	}
	if nxsquared >= 2.2 {
		return clip01(2 * smirnovSF(n, x))
	}
	var cdf float64
	if n <= 100000 && float64(n)*math.Pow(x, 1.5) <= 1.4 {
		cdf = kolmognDMTW(n, x)
	} else {
		return clip01(kolmognPelzGoodSF(n, x))
	}
	return clip01(1.0 - cdf)
}

// kolmognDMTW is Pr(D_n <= d) by the Marsaglia-Tsang-Wang form of
// Durbin's matrix algorithm.
func kolmognDMTW(n int, d float64) float64 {
	if d >= 1.0 {
		return 1
	}
	nd := float64(n) * d
	if nd <= 0.5 {
		return 0
	}
	k := int(math.Ceil(nd))
	h := float64(k) - nd
	m := 2*k - 1
	H := newMat(m)
	v := make([]float64, m)
	w := make([]float64, m)
	fac := 1.0
	for j := 1; j <= m; j++ {
		v[j-1] = 1.0 - math.Pow(h, float64(j))
		w[j-1] = fac
		fac /= float64(j)
		v[j-1] *= fac
	}
	tt := math.Pow(math.Max(2*h-1.0, 0), float64(m)) - 2*math.Pow(h, float64(m))
	v[m-1] = (1.0 + tt) * fac
	for i := 1; i < m; i++ {
		for r := i - 1; r < m; r++ {
			H[r][i] = w[r-(i-1)]
		}
	}
	for r := 0; r < m; r++ {
		H[r][0] = v[r]
	}
	for c := 0; c < m; c++ {
		H[m-1][c] = v[m-1-c]
	}
	hp := identity(m)
	nn, expnt, hexpnt := n, 0, 0
	for nn > 0 {
		if nn%2 == 1 {
			hp = matMul(hp, H)
			expnt += hexpnt
		}
		H = matMul(H, H)
		hexpnt *= 2
		if math.Abs(H[k-1][k-1]) > ep128 {
			for _, row := range H {
				for c := range row {
					row[c] /= ep128
				}
			}
			hexpnt += e128
		}
		nn /= 2
	}
	p := hp[k-1][k-1]
	for i := 1; i <= n; i++ {
		p = float64(i) * p / float64(n)
		if math.Abs(p) < em128 {
			p *= ep128
			expnt -= e128
		}
	}
	if expnt != 0 {
		p = math.Ldexp(p, expnt)
	}
	return clip01(p)
}

func newMat(m int) [][]float64 {
	a := make([][]float64, m)
	for i := range a {
		a[i] = make([]float64, m)
	}
	return a
}

func identity(m int) [][]float64 {
	a := newMat(m)
	for i := range a {
		a[i][i] = 1
	}
	return a
}

func matMul(a, b [][]float64) [][]float64 {
	m := len(a)
	c := newMat(m)
	for i := 0; i < m; i++ {
		for k := 0; k < m; k++ {
			aik := a[i][k]
			if aik == 0 {
				continue
			}
			for j := 0; j < m; j++ {
				c[i][j] += float64(aik * b[k][j])
			}
		}
	}
	return c
}

// pomeranzJ1J2 is _pomeranz_compute_j1j2.
func pomeranzJ1J2(i, n, ll, ceilf, roundf int) (int, int) {
	var j1, j2 int
	if i == 0 {
		j1, j2 = -ll-ceilf-1, ll+ceilf-1
	} else {
		ip1div2, ip1mod2 := (i+1)/2, (i+1)%2
		if ip1mod2 == 0 {
			if ip1div2 == n+1 {
				j1, j2 = n-ll-ceilf-1, n+ll+ceilf-1
			} else {
				j1, j2 = ip1div2-1-ll-roundf-1, ip1div2+ll-1+ceilf-1
			}
		} else {
			j1, j2 = ip1div2-1-ll-1, ip1div2+ll+roundf-1
		}
	}
	return max(j1+2, 0), min(j2, n)
}

// kolmognPomeranz is Pr(D_n <= x) by Pomeranz's recursion.
func kolmognPomeranz(n int, x float64) dd {
	t := float64(n) * x
	ll := int(math.Floor(t))
	f := 1.0 * (t - float64(ll))
	g := math.Min(f, 1.0-f)
	ceilf, roundf := 0, 0
	if f > 0 {
		ceilf = 1
	}
	if f > 0.5 {
		roundf = 1
	}
	npwrs := 2 * (ll + 1)
	// (g/n)^m/m!, (2g/n)^m/m!, ((1-2g)/n)^m/m!: Poisson probabilities
	// without their normalising factor.
	gpower := poissonPowers(g/float64(n), npwrs)
	twogpower := poissonPowers(2*g/float64(n), npwrs)
	onem2gpower := poissonPowers((1-2*g)/float64(n), npwrs)
	expnt := 0
	v0 := make([]float64, npwrs)
	v1 := make([]float64, npwrs)
	v1[0] = 1
	v0s, v1s := 0, 0
	j1, j2 := pomeranzJ1J2(0, n, ll, ceilf, roundf)
	conv := make([]float64, 2*npwrs)
	for i := 1; i < 2*n+2; i++ {
		k1 := j1
		v0, v1 = v1, v0
		v0s, v1s = v1s, v0s
		clear(v1)
		j1, j2 = pomeranzJ1J2(i, n, ll, ceilf, roundf)
		pwrs := onem2gpower
		switch {
		case i == 1 || i == 2*n+1:
			pwrs = gpower
		case i%2 == 1:
			pwrs = twogpower
		}
		ln2 := j2 - k1 + 1
		if ln2 <= 0 {
			continue
		}
		a := v0[k1-v0s : k1-v0s+ln2]
		conv = conv[:2*ln2-1]
		clear(conv)
		for p := 0; p < ln2; p++ {
			for q := 0; q < ln2; q++ {
				conv[p+q] += float64(a[p] * pwrs[q])
			}
		}
		convStart, convLen := j1-k1, j2-j1+1
		copy(v1[:convLen], conv[convStart:convStart+convLen])
		mx := v1[0]
		for _, e := range v1 {
			mx = math.Max(mx, e)
		}
		if 0 < mx && mx < em128 {
			for c := range v1 {
				v1[c] *= ep128
			}
			expnt -= e128
		}
		v1s = v0s + j1 - k1
	}
	return multiplyNFactorial(v1[n-v1s], n, expnt)
}

// multiplyNFactorial returns ans*n!*2^expnt, rescaling as scipy does. Once
// scipy rescales by the long double 2^-128 the product continues in long
// double; double-double stands in for it here.
func multiplyNFactorial(v float64, n, expnt int) dd {
	ans := dd{hi: v}
	long := false
	for m := 1; m <= n; m++ {
		if math.Abs(ans.hi) > ep128 {
			ans = ans.mul(em128)
			expnt += e128
			long = true
		}
		if long {
			ans = ans.mul(float64(m))
		} else {
			ans.hi *= float64(m)
		}
	}
	if expnt != 0 {
		ans = dd{math.Ldexp(ans.hi, expnt), math.Ldexp(ans.lo, expnt)}
	}
	return ans
}

func poissonPowers(r float64, n int) []float64 {
	p := make([]float64, n)
	p[0] = 1
	for m := 1; m < n; m++ {
		p[m] = p[m-1] * r / float64(m)
	}
	return p
}

// dd is a double-double number hi+lo, standing in for numpy's long double.
type dd struct{ hi, lo float64 }

// mul returns d*m with about 106 bits of precision.
func (d dd) mul(m float64) dd {
	p := d.hi * m
	e := math.FMA(d.hi, m, -p) + d.lo*m
	hi := p + e
	return dd{hi, e - (hi - p)}
}

// oneMinus returns 1-d rounded to float64, clipped to [0, 1].
func (d dd) oneMinus() float64 {
	s := 1 - d.hi
	return clip01(s - d.lo)
}

// cdf returns d rounded to float64, clipped to [0, 1].
func (d dd) cdf() float64 { return clip01(d.hi + d.lo) }

// kolmognPelzGoodSF is the Pelz-Good approximation to Pr(D_n > x).
func kolmognPelzGoodSF(n int, x float64) float64 {
	if x <= 0.0 {
		return 1
	}
	if x >= 1.0 {
		return 0
	}
	pi := math.Pi
	pi2, pi4, pi6 := pi*pi, math.Pow(pi, 4), math.Pow(pi, 6)
	z := math.Sqrt(float64(n)) * x
	z2, z3, z4, z6 := z*z, z*z*z, z*z*z*z, math.Pow(z, 6)
	qlog := -pi2 / 8 / z2
	if qlog < minLogProb {
		return 1
	}
	q := math.Exp(qlog)
	k1a, k1b := -z2, pi2/4
	k2a := 6*z6 + 2*z4
	k2b := (2*z4 - 5*z2) * pi2 / 4
	k2c := pi4 * (1 - 2*z2) / 16
	k3d := pi6 * (5 - 30*z2) / 64
	k3c := pi4 * (-60*z2 + 212*z4) / 16
	k3b := pi2 * (135*z4 - 96*z6) / 4
	k3a := -30*z6 - 90*math.Pow(z, 8)
	var k [4]float64
	maxk := int(math.Ceil(16 * z / math.Pi))
	for kk := maxk; kk > 0; kk-- {
		m := float64(2*kk - 1)
		m2, m4, m6 := m*m, m*m*m*m, math.Pow(m, 6)
		qpower := math.Pow(q, float64(8*kk))
		coeffs := [4]float64{1.0, k1a + k1b*m2, k2a + k2b*m2 + k2c*m4, k3a + k3b*m2 + k3c*m4 + k3d*m6}
		for i := range k {
			k[i] = k[i]*qpower + coeffs[i]
		}
	}
	den := [4]float64{z, 6 * z4, 72 * math.Pow(z, 7), 6480 * math.Pow(z, 10)}
	for i := range k {
		k[i] = k[i] * q * math.Sqrt(2*math.Pi) / den[i]
	}
	q = math.Exp(-pi2 / 2 / z2)
	sqrt3z := math.Sqrt(3) * z
	var k2extra, k3extra float64
	for kk := maxk; kk > 0; kk-- {
		ks := float64(kk)
		ks2 := ks * ks
		qp := math.Pow(q, ks2)
		kspi := math.Pi * ks
		k2extra += ks2 * qp
		k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ks2 * qp
	}
	k[2] += k2extra * (pi2 * math.Sqrt(2*math.Pi) / (-36 * z3))
	k[3] += k3extra * (pi2 * math.Sqrt(2*math.Pi) / (216 * z6))
	sum := 0.0
	for i := range k {
		k[i] /= math.Pow(float64(n), float64(i)/2.0)
		k[i] = -k[i]
		if i == 0 {
			k[i] += 1
		}
		sum += k[i]
	}
	return sum
}
