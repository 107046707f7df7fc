package changepoint

import (
	"math"
	"math/bits"
)

// ldouble is an x87 80-bit extended-precision number (64-bit significand,
// round to nearest even). R accumulates sum(), cumsum() and colMeans() in
// this type on x86-64, so the detectors use it wherever R does.
//
// The zero value is 0. Exponent range and subnormals are not modelled: the
// values met here are far from both limits.
type ldouble struct {
	mant uint64 // top bit set, or 0 for zero
	exp  int    // value = mant * 2^exp
	neg  bool
}

// ldFrom converts a float64 exactly.
func ldFrom(d float64) ldouble {
	if d == 0 || math.IsNaN(d) || math.IsInf(d, 0) {
		return ldouble{}
	}
	b := math.Float64bits(d)
	e := int(b>>52) & 0x7ff
	m := b & (1<<52 - 1)
	if e == 0 { // subnormal
		e = 1
	} else {
		m |= 1 << 52
	}
	lz := uint(bits.LeadingZeros64(m))
	return ldouble{mant: m << lz, exp: e - 1075 - int(lz), neg: b>>63 != 0}
}

// round64 rounds the 128-bit significand hi:lo (top bit of hi set) to 64 bits.
func round64(hi, lo uint64, exp int, neg bool) ldouble {
	const half = uint64(1) << 63
	if lo > half || (lo == half && hi&1 == 1) {
		hi++
		if hi == 0 {
			hi = 1 << 63
			exp++
		}
	}
	return ldouble{mant: hi, exp: exp, neg: neg}
}

// add returns a+b rounded to 64 significant bits.
func (a ldouble) add(b ldouble) ldouble {
	if a.mant == 0 {
		return b
	}
	if b.mant == 0 {
		return a
	}
	if b.exp > a.exp || (b.exp == a.exp && b.mant > a.mant) {
		a, b = b, a
	}
	shift := uint(a.exp - b.exp)
	var bhi, blo uint64
	switch {
	case shift == 0:
		bhi = b.mant
	case shift < 64:
		bhi, blo = b.mant>>shift, b.mant<<(64-shift)
	case shift < 128:
		blo = b.mant >> (shift - 64)
		if b.mant<<(128-shift) != 0 {
			blo |= 1 // sticky
		}
	default:
		blo = 1 // sticky
	}
	exp := a.exp
	var hi, lo uint64
	if a.neg == b.neg {
		var c uint64
		lo, c = bits.Add64(0, blo, 0)
		hi, c = bits.Add64(a.mant, bhi, c)
		if c != 0 {
			lo = lo>>1 | hi<<63 | lo&1
			hi = hi>>1 | 1<<63
			exp++
		}
		return round64(hi, lo, exp, a.neg)
	}
	var bw uint64
	lo, bw = bits.Sub64(0, blo, 0)
	hi, _ = bits.Sub64(a.mant, bhi, bw)
	if hi == 0 && lo == 0 {
		return ldouble{}
	}
	if hi == 0 {
		hi, lo = lo, 0
		exp -= 64
	}
	if lz := uint(bits.LeadingZeros64(hi)); lz > 0 {
		hi = hi<<lz | lo>>(64-lz)
		lo <<= lz
		exp -= int(lz)
	}
	return round64(hi, lo, exp, a.neg)
}

// addF returns a+d for a float64 d.
func (a ldouble) addF(d float64) ldouble { return a.add(ldFrom(d)) }

// divInt returns a/n rounded to 64 significant bits (R's `sum /= cnt`).
func (a ldouble) divInt(n int) ldouble {
	if a.mant == 0 || n <= 0 {
		return ldouble{}
	}
	d := uint64(n)
	q1, r1 := bits.Div64(0, a.mant, d)
	q0, r0 := bits.Div64(r1, 0, d)
	lz := uint(bits.LeadingZeros64(q1))
	hi, lo := q1, q0
	if lz > 0 {
		hi = q1<<lz | q0>>(64-lz)
		lo = q0 << lz
	}
	if r0 != 0 {
		lo |= 1
	}
	return round64(hi, lo, a.exp-int(lz), a.neg)
}

// float64 rounds to the nearest float64, ties to even (a C cast).
func (a ldouble) float64() float64 {
	if a.mant == 0 {
		return 0
	}
	m := a.mant >> 11
	rem := a.mant & 0x7ff
	exp := a.exp + 11
	if rem > 0x400 || (rem == 0x400 && m&1 == 1) {
		m++
		if m == 1<<53 {
			m >>= 1
			exp++
		}
	}
	v := math.Ldexp(float64(m), exp)
	if a.neg {
		return -v
	}
	return v
}

// sumLD is R's sum() of a double vector: long double accumulation, one
// rounding at the end.
func sumLD(x []float64) float64 {
	var s ldouble
	for _, v := range x {
		s = s.addF(v)
	}
	return s.float64()
}

// cumsumLD is R's cumsum(c(0, x)): dst[0]=0, dst[i+1] = x[0]+...+x[i]
// accumulated in long double and rounded per element. dst must have
// len(x)+1 elements.
func cumsumLD(dst, x []float64) {
	var s ldouble
	dst[0] = 0
	for i, v := range x {
		s = s.addF(v)
		dst[i+1] = s.float64()
	}
}
