package stattest

import "math"

// Ports of the Cephes routines scipy 1.10.1 calls (scipy/special/cephes and
// orthogonal_eval.pxd), kept operation for operation so binomial
// coefficients round like scipy's.

const (
	maxGam  = 171.624376956302725
	maxLog  = 7.09782712893383996732e2
	minLog  = -7.451332191019412076235e2
	maxStir = 143.01608
	sqrtTPi = 2.50662827463100050242e0
	logPi   = 1.14472988584940017414
	ls2Pi   = 0.91893853320467274178
	maxLgm  = 2.556348e305
)

var (
	gamP = []float64{
		1.60119522476751861407e-4, 1.19135147006586384913e-3, 1.04213797561761569935e-2,
		4.76367800457137231464e-2, 2.07448227648435975150e-1, 4.94214826801497100753e-1,
		9.99999999999999996796e-1,
	}
	gamQ = []float64{
		-2.31581873324120129819e-5, 5.39605580493303397842e-4, -4.45641913851797240494e-3,
		1.18139785222060435552e-2, 3.58236398605498653373e-2, -2.34591795718243348568e-1,
		7.14304917030273074085e-2, 1.00000000000000000320e0,
	}
	stir = []float64{
		7.87311395793093628397e-4, -2.29549961613378126380e-4, -2.68132617805781232825e-3,
		3.47222221605458667310e-3, 8.33333333333482257126e-2,
	}
	lgA = []float64{
		8.11614167470508450300e-4, -5.95061904284301438324e-4, 7.93650340457716943945e-4,
		-2.77777777730099687205e-3, 8.33333333333331927722e-2,
	}
	lgB = []float64{
		-1.37825152569120859100e3, -3.88016315134637840924e4, -3.31612992738871184744e5,
		-1.16237097492762307383e6, -1.72173700820839662146e6, -8.53555664245765465627e5,
	}
	lgC = []float64{ // leading 1 implied (p1evl)
		-3.51815701436523470549e2, -1.70642106651881159223e4, -2.20528590553854454839e5,
		-1.13933444367982507207e6, -2.53252307177582951285e6, -2.01889141433532773231e6,
	}
)

// polevl evaluates coef[0]*x^n + ... + coef[n] (Horner, no FMA).
func polevl(x float64, coef []float64) float64 {
	ans := coef[0]
	for _, c := range coef[1:] {
		ans = float64(ans*x) + c
	}
	return ans
}

// p1evl is polevl with an implied leading coefficient 1.
func p1evl(x float64, coef []float64) float64 {
	ans := x + coef[0]
	for _, c := range coef[1:] {
		ans = float64(ans*x) + c
	}
	return ans
}

func stirf(x float64) float64 {
	if x >= maxGam {
		return math.Inf(1)
	}
	w := 1.0 / x
	w = 1.0 + float64(w*polevl(w, stir))
	y := math.Exp(x)
	if x > maxStir {
		v := math.Pow(x, 0.5*x-0.25)
		y = v * (v / y)
	} else {
		y = math.Pow(x, x-0.5) / y
	}
	return sqrtTPi * y * w
}

// cephesGamma is Cephes Gamma().
func cephesGamma(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	q := math.Abs(x)
	if q > 33.0 {
		if x >= 0 {
			return stirf(x)
		}
		p := math.Floor(q)
		if p == q {
			return math.Inf(1)
		}
		sgn := 1.0
		if int64(p)&1 == 0 {
			sgn = -1
		}
		z := q - p
		if z > 0.5 {
			p += 1.0
			z = q - p
		}
		z = q * math.Sin(math.Pi*z)
		if z == 0 {
			return sgn * math.Inf(1)
		}
		return sgn * (math.Pi / (math.Abs(z) * stirf(q)))
	}
	z := 1.0
	for x >= 3.0 {
		x -= 1.0
		z *= x
	}
	for x < 0.0 {
		if x > -1e-9 {
			return gammaSmall(x, z)
		}
		z /= x
		x += 1.0
	}
	for x < 2.0 {
		if x < 1e-9 {
			return gammaSmall(x, z)
		}
		z /= x
		x += 1.0
	}
	if x == 2.0 {
		return z
	}
	x -= 2.0
	return z * polevl(x, gamP) / polevl(x, gamQ)
}

func gammaSmall(x, z float64) float64 {
	if x == 0 {
		return math.Inf(1)
	}
	return z / (float64((1.0 + float64(0.5772156649015329*x))) * x)
}

// lgamSgn is Cephes lgam_sgn(): log|Gamma(x)| and the sign of Gamma(x).
func lgamSgn(x float64) (float64, int) {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return x, 1
	}
	if x < -34.0 {
		q := -x
		w, _ := lgamSgn(q)
		p := math.Floor(q)
		if p == q {
			return math.Inf(1), 1
		}
		sign := 1
		if int64(p)&1 == 0 {
			sign = -1
		}
		z := q - p
		if z > 0.5 {
			p += 1.0
			z = p - q
		}
		z = q * math.Sin(math.Pi*z)
		if z == 0 {
			return math.Inf(1), sign
		}
		return logPi - math.Log(z) - w, sign
	}
	if x < 13.0 {
		z, p, u := 1.0, 0.0, x
		for u >= 3.0 {
			p -= 1.0
			u = x + p
			z *= u
		}
		for u < 2.0 {
			if u == 0 {
				return math.Inf(1), 1
			}
			z /= u
			p += 1.0
			u = x + p
		}
		sign := 1
		if z < 0 {
			sign, z = -1, -z
		}
		if u == 2.0 {
			return math.Log(z), sign
		}
		p -= 2.0
		x = x + p
		p = x * polevl(x, lgB) / p1evl(x, lgC)
		return math.Log(z) + p, sign
	}
	if x > maxLgm {
		return math.Inf(1), 1
	}
	q := float64(float64((x-0.5)*math.Log(x))-x) + ls2Pi
	if x > 1.0e8 {
		return q, 1
	}
	p := 1.0 / (x * x)
	if x >= 1000.0 {
		q += float64(float64(float64(7.9365079365079365079365e-4*p)-2.7777777777777777777778e-3)*p+0.0833333333333333333333) / x
	} else {
		q += polevl(p, lgA) / x
	}
	return q, 1
}

// cephesBeta is Cephes beta() for the positive arguments binom uses.
func cephesBeta(a, b float64) float64 {
	if (a <= 0 && a == math.Floor(a)) || (b <= 0 && b == math.Floor(b)) {
		return betaNegInt(a, b)
	}
	if math.Abs(a) < math.Abs(b) {
		a, b = b, a
	}
	sign := 1.0
	if math.Abs(a) > 1e6*math.Abs(b) && a > 1e6 {
		// lbeta_asymp: avoid loss of precision in lgam(a+b) - lgam(a).
		r, sg := lgamSgn(b)
		r -= b * math.Log(a)
		r += b * (1 - b) / (2 * a)
		r += b * (1 - b) * (1 - 2*b) / (12 * a * a)
		r += -b * b * (1 - b) * (1 - b) / (12 * a * a * a)
		return float64(sg) * math.Exp(r)
	}
	y := a + b
	if math.Abs(y) > maxGam || math.Abs(a) > maxGam || math.Abs(b) > maxGam {
		ly, s1 := lgamSgn(y)
		lb, s2 := lgamSgn(b)
		la, s3 := lgamSgn(a)
		v := la + (lb - ly)
		sign *= float64(s1 * s2 * s3)
		if v > maxLog {
			return sign * math.Inf(1)
		}
		return sign * math.Exp(v)
	}
	y = cephesGamma(y)
	a = cephesGamma(a)
	b = cephesGamma(b)
	if y == 0 {
		return math.Inf(1)
	}
	if math.Abs(math.Abs(a)-math.Abs(y)) > math.Abs(math.Abs(b)-math.Abs(y)) {
		y = b / y
		y *= a
	} else {
		y = a / y
		y *= b
	}
	return y
}

func betaNegInt(a, b float64) float64 {
	if a > 0 || a != math.Floor(a) {
		a, b = b, a
	}
	if b == math.Trunc(b) && 1-a-b > 0 {
		sgn := 1.0
		if int64(b)%2 != 0 {
			sgn = -1
		}
		return sgn * cephesBeta(1-a-b, b)
	}
	return math.Inf(1)
}

// binom is scipy.special.binom(n, k) for real n, k (orthogonal_eval.pxd).
func binom(n, k float64) float64 {
	if n < 0 && n == math.Floor(n) {
		return math.NaN()
	}
	kx := math.Floor(k)
	if k == kx && (math.Abs(n) > 1e-8 || n == 0) {
		nx := math.Floor(n)
		if nx == n && kx > nx/2 && nx > 0 {
			kx = nx - kx
		}
		if kx >= 0 && kx < 20 {
			num, den := 1.0, 1.0
			for i := 1; i <= int(kx); i++ {
				num *= float64(i) + n - kx
				den *= float64(i)
				if math.Abs(num) > 1e50 {
					num /= den
					den = 1.0
				}
			}
			return num / den
		}
	}
	if n >= 1e10*k && k > 0 {
		lb, _ := lgamSgn(1 + n - k)
		lk, _ := lgamSgn(1 + k)
		lnk, _ := lgamSgn(2 + n)
		return math.Exp(-(lb + lk - lnk) - math.Log(n+1))
	}
	if k > 1e8*math.Abs(n) {
		return math.NaN() // not reached by the KS code paths
	}
	return 1 / (n + 1) / cephesBeta(1+n-k, 1+k)
}
