package changepoint

import (
	"fmt"
	"math"
)

// BOCPD runs Bayesian online change point detection (Adams & MacKay 2007)
// exactly as R ocp 0.1.1's onlineCPD does with a Gaussian model, the
// configured Normal-Gamma prior and a constant hazard, after z-scoring when
// cfg.Standardize is set. It returns ocp's maxCPs: the 0-based first index
// of every run on the most probable run-length path, starting with 0; see
// [Clean].
func BOCPD(x []float64, cfg BOCPDConfig) ([]int, error) {
	cols := [][]float64{x}
	return bocpd(cols, len(x), false, cfg)
}

// BOCPDMulti is [BOCPD] for a series with several dimensions, as ocp runs
// it with multivariate=TRUE: one independent Normal-Gamma model per
// dimension, their log predictive probabilities summed. dims[d][t] is
// observation t of dimension d; every dimension must have the same length.
func BOCPDMulti(dims [][]float64, cfg BOCPDConfig) ([]int, error) {
	if len(dims) == 0 {
		return nil, fmt.Errorf("BOCPD: no dimensions: %w", ErrTooShort)
	}
	for d := range dims {
		if len(dims[d]) != len(dims[0]) {
			return nil, fmt.Errorf("BOCPD: dimension %d has %d observations, dimension 0 has %d", d, len(dims[d]), len(dims[0]))
		}
	}
	return bocpd(dims, len(dims[0]), len(dims) > 1, cfg)
}

// ngState holds the Normal-Gamma posterior of every run length.
type ngState struct{ mu, kappa, alpha, beta []float64 }

func bocpd(cols [][]float64, n int, multivariate bool, cfg BOCPDConfig) ([]int, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if n < 1 {
		return nil, fmt.Errorf("BOCPD: empty series: %w", ErrTooShort)
	}
	data := make([][]float64, len(cols))
	for d, c := range cols {
		z, err := prepare(c, cfg.Standardize)
		if err != nil {
			return nil, fmt.Errorf("dimension %d: %w", d, err)
		}
		data[d] = z
	}
	st := make([]ngState, len(data))
	for d := range st {
		p := cfg.Prior
		st[d] = ngState{[]float64{p.M}, []float64{p.K}, []float64{p.A}, []float64{p.B}}
	}
	r := &runner{cfg: cfg, h: 1 / cfg.Lambda * 1, logMin: math.Log(minNormal)}
	r.R = []float64{1}
	r.logR = []float64{0}
	var gc gammaCache
	r.probmaxes = []float64{0, 0}
	r.cps = []*cpNode{nil, {val: 1}}
	preds := make([][]float64, len(data))
	pred := make([]float64, 0, 64)
	for t := 1; t <= n; t++ {
		rl := r.truncate()
		for d := range data {
			preds[d] = gc.studentLogPDF(preds[d][:0], data[d][t-1], &st[d], rl)
			st[d] = st[d].update(data[d][t-1], cfg.Prior, rl)
		}
		if multivariate {
			pred = rowSums(pred[:0], preds)
		} else {
			pred = preds[0]
		}
		r.step(pred, t)
	}
	var out []int
	for c := r.cps[len(r.cps)-1]; c != nil; c = c.prev {
		out = append(out, c.val-1)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// minNormal is .Machine$double.xmin.
const minNormal = 2.2250738585072014e-308

// cpNode is one entry of a change point list, shared between lists (ocp
// copies the list of the best previous end point and appends one value).
type cpNode struct {
	val  int
	prev *cpNode
}

type runner struct {
	cfg       BOCPDConfig
	h, logMin float64
	R         []float64 // run-length probabilities, R[i] = P(run length i)
	logR      []float64 // log(R), as R's log() computes it
	probmaxes []float64 // log probability of the best path ending at each time
	cps       []*cpNode // best path's change points per end point (truncated)
}

// truncate drops the longest run lengths as ocp does and returns how many
// remain.
func (r *runner) truncate() int {
	L := len(r.R)
	if L <= r.cfg.MinRLength {
		return L
	}
	// Keep i while P(run length >= i) >= truncRlim; the tail sums are R's
	// rev(cumsum(rev(prevR))) in long double.
	keep := 0
	var s ldouble
	for i := L - 1; i >= 0; i-- {
		s = s.addF(r.R[i])
		if s.float64() >= r.cfg.TruncRLim {
			keep = i + 1
			break
		}
	}
	if keep > r.cfg.MaxRLength {
		keep = r.cfg.MaxRLength
	}
	if keep < r.cfg.MinRLength {
		keep = r.cfg.MinRLength
	}
	r.R = r.R[:keep]
	r.logR = r.logR[:keep]
	return keep
}

// rowSums is R's rowSums over the dimensions: a long double sum per row.
func rowSums(dst []float64, preds [][]float64) []float64 {
	for i := range preds[0] {
		var s ldouble
		for d := range preds {
			s = s.addF(preds[d][i])
		}
		dst = append(dst, s.float64())
	}
	return dst
}

// gammaCache holds exp(lgamma(nu/2+0.5) - lgamma(nu/2)) per run-length
// index: alpha, hence nu, depends only on the index.
type gammaCache struct {
	nu, c0 []float64
}

func (g *gammaCache) get(i int, alpha float64) float64 {
	nu := 2 * alpha
	if i < len(g.c0) && g.nu[i] == nu {
		return g.c0[i]
	}
	lg1, _ := math.Lgamma(nu/2 + 0.5)
	lg2, _ := math.Lgamma(nu / 2)
	c0 := math.Exp(lg1 - lg2)
	if i == len(g.c0) {
		g.nu = append(g.nu, nu)
		g.c0 = append(g.c0, c0)
	}
	return c0
}

// studentLogPDF appends, for the first rl run lengths, ocp's
// log(studentpdf(x, mu, beta*(kappa+1)/(alpha*kappa), 2*alpha)).
func (g *gammaCache) studentLogPDF(dst []float64, x float64, s *ngState, rl int) []float64 {
	for i := 0; i < rl; i++ {
		nu := 2 * s.alpha[i]
		v := float64(s.beta[i]*(s.kappa[i]+1)) / float64(s.alpha[i]*s.kappa[i])
		c := g.get(i, s.alpha[i]) / math.Sqrt(float64(float64(nu*math.Pi)*v))
		d := x - s.mu[i]
		q := float64(1/float64(nu*v)) * float64(d*d)
		dst = append(dst, math.Log(c*rPow(1+q, -(nu+1)/2)))
	}
	return dst
}

// rPow is R's x^y.
func rPow(x, y float64) float64 {
	if y == 2 {
		return x * x
	}
	if x == 1 || y == 0 {
		return 1
	}
	return math.Pow(x, y)
}

// update is ocp's gaussian_update: the prior for run length 0, then each
// of the first rl posteriors updated with x.
func (s ngState) update(x float64, p NormalGamma, rl int) ngState {
	out := ngState{
		mu:    make([]float64, rl+1),
		kappa: make([]float64, rl+1),
		alpha: make([]float64, rl+1),
		beta:  make([]float64, rl+1),
	}
	out.mu[0], out.kappa[0], out.alpha[0], out.beta[0] = p.M, p.K, p.A, p.B
	for i := 0; i < rl; i++ {
		k, mu := s.kappa[i], s.mu[i]
		d := x - mu
		out.beta[i+1] = s.beta[i] + float64(k*float64(d*d))/float64(2*(k+1))
		out.mu[i+1] = (float64(k*mu) + x) / (k + 1)
		out.kappa[i+1] = k + 1
		out.alpha[i+1] = s.alpha[i] + 0.5
	}
	return out
}

// step updates the run-length distribution with the log predictive
// probabilities of the current point and extends the most probable path
// (ocp's main loop body and findCPprobs).
func (r *runner) step(pred []float64, t int) {
	rl := len(r.R)
	temp2 := make([]float64, rl)
	var r0 ldouble
	for i := range rl {
		lg := r.logR[i] + pred[i]
		if lg < r.logMin {
			lg = r.logMin
		}
		temp2[i] = math.Exp(lg)
		r0 = r0.addF(temp2[i] * r.h)
	}
	newR := make([]float64, rl+1)
	newR[0] = r0.float64()
	for i := range rl {
		newR[i+1] = temp2[i] * (1 - r.h)
	}
	total := sumLD(newR)
	logR := make([]float64, rl+1)
	bad := false
	for i := range newR {
		newR[i] /= total
		logR[i] = math.Log(newR[i])
		bad = bad || isNonFinite(logR[i])
	}
	if bad { // R: newR[newR < .Machine$double.xmin] <- .Machine$double.xmin
		for i := range newR {
			if newR[i] < minNormal {
				newR[i] = minNormal
				logR[i] = math.Log(minNormal)
			}
		}
	}
	r.R, r.logR = newR, logR
	r.findCP(t, rl)
}

// findCP is ocp's findCPprobs.
func (r *runner) findCP(t, rl int) {
	L := rl + 1
	// currprobs[i] = log P(run length L-1-i) + probmaxes[t-rl+i]
	minid := L - r.cfg.MinSep + 1
	if r.cfg.MinSep > L || r.cfg.MinSep > r.cfg.MaxSep {
		minid = L
	}
	maxid := L - r.cfg.MaxSep
	if maxid < 1 || maxid > minid {
		maxid = 1
	}
	best, which := math.Inf(-1), -1
	for i := maxid - 1; i < minid; i++ {
		v := r.logR[L-1-i] + r.probmaxes[t-rl+i]
		if which < 0 || v > best || (math.IsNaN(best) && !math.IsNaN(v)) {
			best, which = v, i
		}
	}
	// logprobcpstrunc: the last rl+1 lists.
	trunc := r.cps[len(r.cps)-L:]
	maxstart := t - rl + which + 1
	node := &cpNode{val: maxstart, prev: trunc[which]}
	r.probmaxes = append(r.probmaxes, best)
	r.cps = append(trunc, node) // amortised: only the live tail is copied on growth
}
