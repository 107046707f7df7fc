package patterns

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/debugai/debugai/detect/stattest"
	"github.com/debugai/debugai/evidence"
)

// edgeKey is one RPC edge: the caller's client span and the callee's
// server span, by service and name.
type edgeKey struct{ callerSvc, callerOp, calleeSvc, calleeOp string }

func (k edgeKey) less(o edgeKey) int {
	return cmp.Or(strings.Compare(k.calleeSvc, o.calleeSvc), strings.Compare(k.calleeOp, o.calleeOp),
		strings.Compare(k.callerSvc, o.callerSvc), strings.Compare(k.callerOp, o.callerOp))
}

// edgeCalls holds the calls of one edge.
type edgeCalls struct {
	key                     edgeKey
	gaps, callee, req, resp []int64
	shares                  []float64
	client, server          []int32 // span indexes, per call
}

// rpcEdges pairs every client span with its server child (see
// GapConfig.CrossServiceRPC for data without span kinds), keeping the
// calls whose server span's index keep accepts (all when keep is nil).
func rpcEdges(spans []evidence.Span, cross bool, keep func(i int) bool) map[edgeKey]*edgeCalls {
	byID := make(map[spanKey]int32, len(spans))
	for i := range spans {
		k := spanKey{spans[i].TraceID, spans[i].SpanID}
		if _, dup := byID[k]; !dup {
			byID[k] = int32(i)
		}
	}
	out := map[edgeKey]*edgeCalls{}
	for i := range spans {
		srv := &spans[i]
		if srv.ParentSpanID.IsZero() || srv.ParentSpanID == srv.SpanID || (keep != nil && !keep(i)) {
			continue
		}
		p, ok := byID[spanKey{srv.TraceID, srv.ParentSpanID}]
		if !ok || !isRPC(&spans[p], srv, cross) {
			continue
		}
		cli := &spans[p]
		k := edgeKey{cli.Service, cli.Name, srv.Service, srv.Name}
		e := out[k]
		if e == nil {
			e = &edgeCalls{key: k}
			out[k] = e
		}
		cd, sd := max(cli.DurationNS(), 0), max(srv.DurationNS(), 0)
		gap := max(cd-sd, 0)
		e.gaps = append(e.gaps, gap)
		e.shares = append(e.shares, float64(gap)/float64(max(cd, 1)))
		e.callee = append(e.callee, sd)
		e.req = append(e.req, srv.StartNS-cli.StartNS)
		e.resp = append(e.resp, cli.EndNS-srv.EndNS)
		e.client, e.server = append(e.client, p), append(e.server, int32(i))
	}
	return out
}

func isRPC(cli, srv *evidence.Span, cross bool) bool {
	if cli.Kind == evidence.KindClient && srv.Kind == evidence.KindServer {
		return true
	}
	return cross && cli.Service != srv.Service &&
		(cli.Kind == evidence.KindUnspecified || cli.Kind == evidence.KindClient) &&
		(srv.Kind == evidence.KindUnspecified || srv.Kind == evidence.KindServer) &&
		(cli.Kind == evidence.KindUnspecified || srv.Kind == evidence.KindUnspecified)
}

// gapTest is one edge's comparison with the baseline.
type gapTest struct {
	cur, base *edgeCalls
	p         float64
}

// gapCalls are the current and baseline calls of the gap detectors.
type gapCalls struct {
	cur, base map[edgeKey]*edgeCalls
	// hasBase: a baseline was given (it may hold no calls).
	hasBase bool
}

// gapEdges splits the calls into current and baseline (Input.Baseline, else
// Input.IsBaseline), once.
func (x *index) gapEdges(in *Input) gapCalls {
	if x.gaps != nil {
		return *x.gaps
	}
	cross := x.cfg.Gap.CrossServiceRPC
	var g gapCalls
	switch {
	case in.Baseline != nil:
		g = gapCalls{cur: rpcEdges(x.spans, cross, nil), base: rpcEdges(in.Baseline, cross, nil), hasBase: true}
	case in.IsBaseline != nil:
		isBase := in.IsBaseline
		g = gapCalls{
			cur:     rpcEdges(x.spans, cross, func(i int) bool { return !isBase(&x.spans[i]) }),
			base:    rpcEdges(x.spans, cross, func(i int) bool { return isBase(&x.spans[i]) }),
			hasBase: true,
		}
	default:
		g = gapCalls{cur: rpcEdges(x.spans, cross, nil)}
	}
	x.gaps = &g
	return g
}

// networkGaps implements network_gap (see the package doc).
func (x *index) networkGaps(g gapCalls) ([]evidence.Finding, error) {
	c := &x.cfg.Gap
	cur, base := g.cur, g.base
	keys := make([]edgeKey, 0, len(cur))
	for k, e := range cur {
		if len(e.gaps) >= c.MinCalls {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, edgeKey.less)
	var tests []gapTest
	var ps []float64
	var out []evidence.Finding
	for _, k := range keys {
		e, b := cur[k], base[k]
		if b == nil || len(b.gaps) < c.MinCalls {
			if median(e.gaps) >= c.MinGapNS && medianF(e.shares) >= c.MinShare {
				out = append(out, x.gapFinding(gapTest{cur: e, p: -1}, -1))
			}
			continue
		}
		r, err := stattest.KS2Samp(floats(b.gaps), floats(e.gaps), stattest.KSOptions{Alternative: stattest.Greater, Method: stattest.Bounded})
		if err != nil {
			return nil, fmt.Errorf("network gap test of %s/%s: %w", k.calleeSvc, k.calleeOp, err)
		}
		tests, ps = append(tests, gapTest{cur: e, base: b, p: r.PValue}), append(ps, r.PValue)
	}
	adj, reject := x.bh(ps)
	for j, t := range tests {
		inc := median(t.cur.gaps) - median(t.base.gaps)
		calleeInc := median(t.cur.callee) - median(t.base.callee)
		if reject[j] && inc >= c.MinIncreaseNS && inc > calleeInc && medianF(t.cur.shares) >= c.MinShare {
			out = append(out, x.gapFinding(t, adj[j]))
		}
	}
	return out, nil
}

func (x *index) gapFinding(t gapTest, padj float64) evidence.Finding {
	e, k := t.cur, t.cur.key
	var refs refSet
	for _, j := range topK(len(e.gaps), x.cfg.MaxRefs, func(j int) int64 { return e.gaps[j] }) {
		refs.span(&x.spans[e.client[j]])
		refs.span(&x.spans[e.server[j]])
	}
	gap, share := median(e.gaps), medianF(e.shares)
	attrs := map[string]float64{
		"calls": float64(len(e.gaps)), "gap_p50_ns": float64(gap), "share_p50": share,
		"request_lag_p50_ns": float64(median(e.req)), "response_lag_p50_ns": float64(median(e.resp)),
		"callee_p50_ns": float64(median(e.callee)),
	}
	subject := k.calleeSvc + "/" + k.calleeOp
	var vs string
	score, conf := float64(gap)/1e9, share*sat(float64(len(e.gaps)), float64(x.cfg.Gap.MinCalls))
	if t.base != nil {
		bgap := median(t.base.gaps)
		attrs["baseline_calls"] = float64(len(t.base.gaps))
		attrs["baseline_gap_p50_ns"] = float64(bgap)
		attrs["baseline_callee_p50_ns"] = float64(median(t.base.callee))
		attrs["increase_ns"] = float64(gap - bgap)
		attrs["p_value"], attrs["p_adjusted"] = t.p, padj
		vs = fmt.Sprintf(" (baseline %v, +%v; KS p = %.2g)", roundDur(bgap), roundDur(gap-bgap), t.p)
		score, conf = float64(gap-bgap)/1e9, share*(1-padj)
	}
	summary := fmt.Sprintf("%s (%s) calls to %s wait p50 %v%s outside the callee's server span, %.0f%% of the client span, while the callee itself takes p50 %v over %d calls: the time is lost on the network path to %s, not in either service's own work",
		k.callerSvc, k.callerOp, subject, roundDur(gap), vs, 100*share, roundDur(median(e.callee)), len(e.gaps), k.calleeSvc)
	return newFinding(KindNetworkGap, subject, summary, score, conf, refs.refs, attrs)
}

func floats(v []int64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func medianF(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	h := float64(len(s)-1) * 0.5
	lo := int(h)
	if lo+1 >= len(s) {
		return s[lo]
	}
	return s[lo] + (h-float64(lo))*(s[lo+1]-s[lo])
}
