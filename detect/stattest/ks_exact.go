package stattest

import "math"

// probOutsideSquare is scipy's _compute_prob_outside_square(n, h):
// Pr(D_{n,n} >= h/n) by a Horner-like alternating sum.
func probOutsideSquare(n, h int) float64 {
	p := 0.0
	for k := int(math.Floor(float64(n) / float64(h))); k >= 0; k-- {
		p1 := 1.0
		for j := 0; j < h; j++ {
			p1 = float64(n-k*h-j) * p1 / float64(n+k*h+j+1)
		}
		p = p1 * (1.0 - p)
	}
	return 2 * p
}

// outerProbInside is scipy's _compute_outer_prob_inside_method(m, n, g, h):
// 1 - the proportion of lattice paths from (0,0) to (m,n) that stay
// strictly inside |x/m - y/n| < h/lcm(m,n) (Viehmann's recursion).
func outerProbInside(m, n, g, h int) float64 {
	if m < n {
		m, n = n, m
	}
	mg, ng := m/g, n/g
	minj, maxj := 0, min(int(math.Ceil(float64(h)/float64(mg))), n+1)
	curlen := maxj - minj
	lenA := min(2*maxj+2, n+1)
	a := make([]float64, lenA)
	for i := range a {
		a[i] = 1
	}
	for i := minj; i < maxj && i < lenA; i++ {
		a[i] = 0
	}
	for i := 1; i <= m; i++ {
		lastminj, lastlen := minj, curlen
		minj = max(int(math.Floor(float64(ng*i-h)/float64(mg)))+1, 0)
		minj = min(minj, n)
		maxj = min(int(math.Ceil(float64(ng*i+h)/float64(mg))), n+1)
		if maxj <= minj {
			return 1.0
		}
		val := 1.0
		if minj == 0 {
			val = 0.0
		}
		for jj := 0; jj < maxj-minj; jj++ {
			j := jj + minj
			val = (float64(a[jj+minj-lastminj]*float64(i)) + float64(val*float64(j))) / float64(i+j)
			a[jj] = val
		}
		curlen = maxj - minj
		if lastlen > curlen {
			for k := maxj - minj; k < maxj-minj+(lastlen-curlen) && k < lenA; k++ {
				a[k] = 1
			}
		}
	}
	return a[maxj-minj-1]
}

// countPathsOutside is scipy's _count_paths_outside_method(m, n, g, h): the
// number of lattice paths from (0,0) to (m,n) that reach m*y <= n*x - h*g.
// It may overflow to +Inf; callers check.
func countPathsOutside(m, n, g, h int) float64 {
	if m < n {
		m, n = n, m
	}
	mg, ng := m/g, n/g
	lxj := n + floorDiv(mg-h, mg)
	if lxj <= 0 {
		return binom(float64(m+n), float64(n))
	}
	xj := make([]int, lxj)
	for j := range xj {
		xj[j] = floorDiv(h+mg*j+ng-1, ng)
	}
	b := make([]float64, lxj)
	b[0] = 1
	for j := 1; j < lxj; j++ {
		bj := binom(float64(xj[j]+j), float64(j))
		for i := 0; i < j; i++ {
			bin := binom(float64(xj[j]-xj[i]+j-i), float64(j-i))
			bj -= float64(bin * b[i])
		}
		b[j] = bj
	}
	paths := 0.0
	for j := 0; j < lxj; j++ {
		bin := binom(float64((m-xj[j])+(n-j)), float64(n-j))
		paths += float64(b[j] * bin)
	}
	return paths
}

// floorDiv is Python's // for ints.
func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
