package agent

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/debugai/debugai/agent/hypothesis"
	"github.com/debugai/debugai/agent/verify"
	"github.com/debugai/debugai/evidence"
)

// FindingLister lists stored findings (evidence/duckdb and the remote
// client implement it).
type FindingLister interface {
	Findings(ctx context.Context, f evidence.FindingFilter) ([]evidence.Finding, error)
}

// patternOf maps detector finding kinds to hypothesis patterns; kinds
// not listed support a hypothesis but do not lead one.
var patternOf = map[string]hypothesis.Pattern{
	"lock_inversion":            hypothesis.LockInversion,
	"lock_convoy":               hypothesis.LockConvoy,
	"starvation":                hypothesis.Starvation,
	"retransmit_tail":           hypothesis.RetransmitTail,
	"io_latency":                hypothesis.IOLatency,
	"page_fault_storm":          hypothesis.PageFaultStorm,
	"network_gap":               hypothesis.NetworkGap,
	"service_network_delay":     hypothesis.NetworkGap,
	"service_stall":             hypothesis.GCOrCPU,
	"n_plus_one":                hypothesis.NPlusOne,
	"pool_saturation":           hypothesis.PoolSaturation,
	"latency_ks":                hypothesis.RegressionOther,
	"latency_changepoint":       hypothesis.RegressionOther,
	"critical_path_changepoint": hypothesis.RegressionOther,
	"critical_path_component":   hypothesis.RegressionOther,
	"critical_path_dominant":    hypothesis.RegressionOther,
	"latency_trend_break":       hypothesis.RegressionOther,
	"trace_shape":               hypothesis.CodeFault,
	"change_explained":          hypothesis.RegressionOther,
}

// patternFor is the pattern a lead finding proposes: its kind's, refined
// by the mechanism the ranking model measured (docs/ranking.md).
func patternFor(f evidence.Finding) hypothesis.Pattern {
	switch f.Kind {
	case "trace_shape":
		if f.Attrs["extra_calls"] > 0 {
			return hypothesis.RetryStorm
		}
	case "change_explained":
		if m, ok := f.Attrs["mechanism"]; ok {
			if p, ok := mechanismPattern[int(m)]; ok {
				return p
			}
		}
	case "critical_path_component":
		if strings.HasSuffix(f.Subject, " lock") {
			// Lock waits dominating the critical path: a convoy, which the
			// verifier confirms only with kernel futex (or Go lock-wait)
			// evidence.
			return hypothesis.LockConvoy
		}
	}
	return patternOf[f.Kind]
}

// mechanismKinds are the finding kinds that name a mechanism the
// kernel or the trace structure shows directly (a convoy, throttling,
// retransmits, a pool), as against a change measured in time.
var mechanismKinds = map[string]bool{
	"lock_inversion": true, "lock_convoy": true, "starvation": true, "retransmit_tail": true, "io_latency": true,
	"page_fault_storm": true, "pool_saturation": true, "n_plus_one": true, "trace_shape": true,
}

// refinePattern: a hypothesis led by a measured change (the ranking
// model's decomposition, a component, a statistical test) takes the
// pattern of the mechanism found directly at its service — the one
// covering most of the service's change, then the best scored — and cites
// it as root-cause evidence: a CPU quota's throttling shows as time
// between caller and callee, but the throttling is what happened. A
// mechanism whose component did not grow (mechanism_share below 0.5) or
// that is pre-existing does not count.
func refinePattern(h *hypothesis.Hypothesis, lead evidence.Finding, all []evidence.Finding) {
	if mechanismKinds[lead.Kind] || h.Location.Service == "" {
		return
	}
	var best *evidence.Finding
	for i := range all {
		f := &all[i]
		if !mechanismKinds[f.Kind] || f.Attrs[evidence.AttrPreExisting] > 0 || f.Attrs["mechanism_share"] < 0.5 ||
			cmp.Or(f.Service, serviceOf(f.Subject)) != h.Location.Service {
			continue
		}
		if best == nil || cmp.Or(cmp.Compare(f.Attrs["mechanism_share"], best.Attrs["mechanism_share"]),
			cmp.Compare(f.Score, best.Score), cmp.Compare(f.Confidence, best.Confidence), strings.Compare(best.ID, f.ID)) > 0 {
			best = f
		}
	}
	if best == nil {
		return
	}
	h.Pattern = patternFor(*best)
	h.Remediation = remediation[h.Pattern]
	if causeLocating[best.Kind] && best.Operation != "" && best.Service == h.Location.Service {
		// The change shows where time was lost; a convoy's holder shows
		// where it was caused.
		h.Location.Endpoint = best.Operation
	}
	for _, c := range h.Claims {
		if slices.Contains(c.Citations, best.ID) {
			return
		}
	}
	h.Claims = append(h.Claims, hypothesis.Claim{Text: "Mechanism: " + best.Summary, Citations: []string{best.ID}, RootCause: true})
}

// causeLocating lists the finding kinds whose operation is where the
// cause acts rather than where it is felt: a lock convoy is located at its
// holder's operation (detect/patterns), while a starvation finding names
// an operation whose threads waited to run.
var causeLocating = map[string]bool{"lock_convoy": true}

// mechanismPattern maps the ranking model's mechanism codes
// (detect/explain: self, lock, io, runqueue, network, shape, extra calls,
// induced)
// to patterns.
var mechanismPattern = map[int]hypothesis.Pattern{
	0: hypothesis.RegressionOther, 1: hypothesis.LockConvoy, 2: hypothesis.IOLatency, 3: hypothesis.GCOrCPU,
	4: hypothesis.NetworkGap, 5: hypothesis.CodeFault, 6: hypothesis.RetryStorm,
	7: hypothesis.RegressionOther, // callees slowed by its extra calls: a changed code path
}

// Deterministic builds hypotheses from ranked findings and submits them to
// the verifier, without a model: the offline investigator.
type Deterministic struct {
	Findings FindingLister
	Resolver verify.Resolver
	Verify   verify.Config
	// MaxCandidates bounds the lead findings tried.
	MaxCandidates int
	// MaxSupport bounds the corroborating findings cited per hypothesis.
	MaxSupport int
}

// NewDeterministic returns an investigator with default bounds.
func NewDeterministic(f FindingLister, r verify.Resolver) *Deterministic {
	return &Deterministic{Findings: f, Resolver: r, Verify: verify.DefaultConfig(), MaxCandidates: 8, MaxSupport: 4}
}

// Investigate tries the ranked findings of the incident's window as lead
// candidates, each with the findings that corroborate it on other
// evidence lines, until the verifier accepts one. Only hypotheses at the
// service the ranking puts first are tried: the verifier checks that a
// hypothesis is backed by evidence, the ranking decides where the change
// is, and a weaker location that happens to be well evidenced is not the
// root cause because the stronger one is not.
func (d *Deterministic) Investigate(ctx context.Context, inc Incident) (res Result, err error) {
	start := time.Now()
	res = Result{Status: hypothesis.Unconfirmed}
	defer func() { res.Elapsed = time.Since(start) }() // named result: the caller sees it
	fs, leads, err := d.leads(ctx, inc)
	if err != nil {
		return res, err
	}
	res.ToolCalls++
	if len(leads) == 0 {
		res.StopReason = "no candidate: no findings in the window"
		return res, nil
	}
	top := "" // the service the ranking puts first: only hypotheses there are tried
	for i, lead := range leads {
		if i >= d.MaxCandidates {
			break
		}
		h := d.hypothesisOf(ctx, lead, fs)
		if i == 0 {
			top = h.Location.Service
		} else if top != "" && h.Location.Service != top {
			continue
		}
		res.Steps++
		d.dateTimeline(ctx, h)
		v, err := verify.Verify(ctx, d.Resolver, h, inc.Scope, d.Verify)
		if err != nil {
			return res, err
		}
		res.Attempts++
		if res.Hypothesis == nil || v.Status == hypothesis.Accepted {
			res.Hypothesis, res.Verdict = h, v
		}
		if v.Status == hypothesis.Accepted {
			res.Status = hypothesis.Accepted
			return res, nil
		}
	}
	res.StopReason = "no candidate passed the verifier"
	return res, nil
}

// Candidate is one hypothesis the deterministic investigator can lead
// with, before verification.
type Candidate struct {
	// Lead is the ID of the finding that leads it.
	Lead     string
	Pattern  hypothesis.Pattern
	Location hypothesis.Location
}

// Candidates returns the hypotheses Investigate would try for inc, best
// first, unverified: every lead finding of the window, not only the
// MaxCandidates that Investigate tries. Evaluation scores its ranking
// (the rank of the true root cause among them).
func (d *Deterministic) Candidates(ctx context.Context, inc Incident) ([]Candidate, error) {
	fs, leads, err := d.leads(ctx, inc)
	if err != nil {
		return nil, err
	}
	out := make([]Candidate, 0, len(leads))
	for _, lead := range leads {
		h := d.hypothesisOf(ctx, lead, fs)
		out = append(out, Candidate{Lead: lead.ID, Pattern: h.Pattern, Location: h.Location})
	}
	return out, nil
}

// leads lists the findings of the incident's window and the ones that can
// lead a hypothesis, best first.
func (d *Deterministic) leads(ctx context.Context, inc Incident) (all, leads []evidence.Finding, err error) {
	all, err = d.Findings.Findings(ctx, evidence.FindingFilter{SinceNS: inc.Scope.SinceNS, UntilNS: inc.Scope.UntilNS, Limit: 500})
	if err != nil {
		return nil, nil, fmt.Errorf("listing findings: %w", err)
	}
	return all, rank(all), nil
}

// hypothesisOf builds the hypothesis led by lead and names its service
// when the lead's subject does not.
func (d *Deterministic) hypothesisOf(ctx context.Context, lead evidence.Finding, all []evidence.Finding) *hypothesis.Hypothesis {
	h := d.build(lead, all)
	if h.Location.Service == "" {
		h.Location.Service = d.leadService(ctx, lead, h, all)
	}
	// A corroboration about other services only is no root-cause evidence
	// for this location (the verifier rejects it as a location mismatch):
	// it stays as a supporting claim.
	for i := 1; i < len(h.Claims); i++ {
		if about, err := verify.About(ctx, d.Resolver, hypothesis.Scope{}, h.Claims[i].Citations[0]); err == nil && len(about) > 0 && !slices.Contains(about, h.Location.Service) {
			h.Claims[i].RootCause = false
		}
	}
	refinePattern(h, lead, all)
	// A lead located on a process or cgroup names the endpoint its spans
	// share; one located on a lock keeps none (its cited spans are the
	// waiters, not the holder's operation).
	if ep := h.Location.Endpoint; h.Location.Lock == "" && (ep == "" || strings.HasPrefix(ep, "pid ") || strings.HasPrefix(ep, "cgroup ")) {
		if name := d.leadEndpoint(ctx, lead, h); name != "" {
			h.Location.Endpoint = name
		}
	}
	return h
}

// leadEndpoint names the endpoint of a lead located on a process or
// cgroup: the span name most cited (the lead's refs, then the
// hypothesis' claims) among the located service's server spans, else
// among its other spans.
func (d *Deterministic) leadEndpoint(ctx context.Context, lead evidence.Finding, h *hypothesis.Hypothesis) string {
	var ids []string
	for _, r := range lead.Refs {
		ids = append(ids, r.ID)
	}
	for _, c := range h.Claims {
		ids = append(ids, c.Citations...)
	}
	server, other := map[string]int{}, map[string]int{}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] || !strings.HasPrefix(id, "span:") {
			continue
		}
		seen[id] = true
		it, err := d.Resolver.Get(ctx, id)
		if err != nil || it.Span == nil || it.Span.Service != h.Location.Service {
			continue
		}
		if it.Span.Kind == evidence.KindServer {
			server[it.Span.Name]++
		} else {
			other[it.Span.Name]++
		}
	}
	for _, counts := range []map[string]int{server, other} {
		best := ""
		for name, n := range counts {
			if best == "" || n > counts[best] || n == counts[best] && name < best {
				best = name
			}
		}
		if best != "" {
			return best
		}
	}
	return ""
}

// leadService names the service of a lead whose subject names none (a
// lock address): the service of its cited spans or kernel events, else
// that of the spans in the same process (from its kernel events or lock
// edges) that the hypothesis' other findings cite, else that any finding
// of the window cites (kernel events of a process whose spans carry no
// stamps, and lock edges, reach the store without a service).
func (d *Deterministic) leadService(ctx context.Context, lead evidence.Finding, h *hypothesis.Hypothesis, all []evidence.Finding) string {
	var pid int64
	for _, r := range lead.Refs {
		it, err := d.Resolver.Get(ctx, r.ID)
		switch {
		case err != nil:
		case it.Span != nil && it.Span.Service != "":
			return it.Span.Service
		case it.KernelEvent != nil && it.KernelEvent.Service != "":
			return it.KernelEvent.Service
		case it.KernelEvent != nil && pid == 0:
			pid = it.KernelEvent.PID
		case it.LockEdge != nil && pid == 0:
			pid = it.LockEdge.PID
		}
	}
	if pid == 0 {
		return ""
	}
	cited := map[string]bool{}
	for _, c := range h.Claims {
		for _, id := range c.Citations {
			cited[id] = id != lead.ID
		}
	}
	for _, wantCited := range []bool{true, false} {
		for _, f := range all {
			if cited[f.ID] != wantCited || f.ID == lead.ID {
				continue
			}
			for _, r := range f.Refs {
				if it, err := d.Resolver.Get(ctx, r.ID); err == nil && it.Span != nil && it.Span.ProcessPID == pid && it.Span.Service != "" {
					return it.Span.Service
				}
			}
		}
	}
	return ""
}

// dateTimeline gives timeline entries the time of the evidence they cite.
func (d *Deterministic) dateTimeline(ctx context.Context, h *hypothesis.Hypothesis) {
	for i := range h.Timeline {
		item, err := d.Resolver.Get(ctx, h.Timeline[i].Citation)
		if err == nil {
			h.Timeline[i].TimeNS = item.TimeNS()
		}
	}
	slices.SortStableFunc(h.Timeline, func(a, b hypothesis.TimelineEntry) int { return cmp.Compare(a.TimeNS, b.TimeNS) })
}

// rank returns the findings that can lead a hypothesis, best first: by
// the share of the incident's change their location explains (Score, set
// by detect/explain), then by how much of it their mechanism covers, their
// operation's share and confidence (docs/ranking.md). Pre-existing
// findings come last: they describe what the baseline already had.
func rank(fs []evidence.Finding) []evidence.Finding {
	var out []evidence.Finding
	for _, f := range fs {
		if _, ok := patternOf[f.Kind]; ok {
			out = append(out, f)
		}
	}
	slices.SortStableFunc(out, func(a, b evidence.Finding) int {
		return cmp.Or(
			cmp.Compare(a.Attrs[evidence.AttrPreExisting], b.Attrs[evidence.AttrPreExisting]),
			cmp.Compare(b.Score, a.Score),
			cmp.Compare(b.Attrs["mechanism_share"], a.Attrs["mechanism_share"]),
			cmp.Compare(b.Attrs["operation_share"], a.Attrs["operation_share"]),
			cmp.Compare(b.Confidence, a.Confidence),
			strings.Compare(a.ID, b.ID))
	})
	return out
}

// build writes the hypothesis led by lead: the lead finding and its
// strongest refs, plus findings on the same subject or service that cite
// evidence on lines the lead lacks.
func (d *Deterministic) build(lead evidence.Finding, all []evidence.Finding) *hypothesis.Hypothesis {
	pattern := patternFor(lead)
	h := &hypothesis.Hypothesis{
		Schema:     hypothesis.Schema,
		Summary:    lead.Summary,
		Pattern:    pattern,
		Location:   locationOf(lead),
		Confidence: lead.Confidence,
		Claims:     []hypothesis.Claim{{Text: lead.Summary, Citations: []string{lead.ID}, RootCause: true}},
	}
	have := linesOf(lead)
	support := 0
	for _, f := range all {
		if support >= d.MaxSupport || f.ID == lead.ID || !related(lead, f) || f.Attrs[evidence.AttrPreExisting] > 0 {
			continue
		}
		if adds := newLines(linesOf(f), have); len(adds) > 0 {
			h.Claims = append(h.Claims, hypothesis.Claim{Text: "Corroborated on " + joinLines(adds) + ": " + f.Summary, Citations: []string{f.ID}, RootCause: true})
			for _, l := range adds {
				have[l] = true
			}
			support++
		}
	}
	for _, r := range lead.Refs {
		if len(h.Timeline) >= 10 {
			break
		}
		h.Timeline = append(h.Timeline, hypothesis.TimelineEntry{Text: string(r.Line) + " evidence of " + lead.Kind, Citation: r.ID})
	}
	h.Remediation = remediation[pattern]
	return h
}

func linesOf(f evidence.Finding) map[evidence.Line]bool {
	m := map[evidence.Line]bool{}
	for _, r := range f.Refs {
		if r.Line != "" {
			m[r.Line] = true
		}
	}
	return m
}

func newLines(of, have map[evidence.Line]bool) []evidence.Line {
	var out []evidence.Line
	for l := range of {
		if !have[l] {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}

func joinLines(ls []evidence.Line) string {
	s := make([]string, len(ls))
	for i, l := range ls {
		s[i] = string(l)
	}
	return strings.Join(s, ", ")
}

// related: same subject, or subjects naming the same service (the part
// before the first '/' or space), or overlapping windows when either has
// no service-like subject.
func related(a, b evidence.Finding) bool {
	if a.Subject == b.Subject {
		return true
	}
	sa, sb := serviceOf(a.Subject), serviceOf(b.Subject)
	if sa != "" && sa == sb {
		return true
	}
	return a.StartNS != 0 && b.StartNS != 0 && a.StartNS <= b.EndNS && b.StartNS <= a.EndNS &&
		(strings.HasPrefix(a.Subject, "0x") || strings.HasPrefix(b.Subject, "0x") || strings.Contains(a.Subject, "<>"))
}

func serviceOf(subject string) string {
	if strings.HasPrefix(subject, "0x") {
		return "" // a lock address ("0x1000@node/pid"), not a service
	}
	if i := strings.IndexAny(subject, "/ "); i > 0 {
		return subject[:i]
	}
	return ""
}

func locationOf(f evidence.Finding) hypothesis.Location {
	loc := hypothesis.Location{Service: serviceOf(f.Subject)}
	switch {
	case f.Kind == "lock_inversion" || f.Kind == "lock_convoy":
		loc.Lock = f.Subject
		if f.Service != "" {
			loc.Service, loc.Endpoint = f.Service, f.Operation
		}
	case f.Service != "":
		// Where the ranking model placed it (a call's network time at the
		// callee whose packets are lost).
		loc.Service, loc.Endpoint = f.Service, f.Operation
	default:
		if i := strings.IndexAny(f.Subject, "/ "); i > 0 {
			loc.Endpoint = strings.TrimSpace(f.Subject[i+1:])
		}
		for _, stat := range []string{" p50", " p95", " p99", " p50 slope", " p95 slope"} {
			if ep, ok := strings.CutSuffix(loc.Endpoint, stat); ok {
				loc.Endpoint = ep // a latency series of the endpoint
				break
			}
		}
		if f.Kind == "critical_path_component" {
			if ep, ok := strings.CutSuffix(loc.Endpoint, " lock"); ok {
				loc.Endpoint, loc.Lock = ep, "lock of "+ep
			}
			for _, comp := range []string{" self", " network", " io", " runqueue"} {
				loc.Endpoint, _ = strings.CutSuffix(loc.Endpoint, comp) // a component of the operation
			}
		}
	}
	return loc
}

var remediation = map[hypothesis.Pattern]string{
	hypothesis.LockInversion:   "Take the locks in one global order (or merge them); the cited sites show both orders.",
	hypothesis.LockConvoy:      "Shorten the critical section: move I/O and network calls out from under the lock, or shard it.",
	hypothesis.Starvation:      "Raise the CPU quota or lower the load in the cgroup; check co-located work.",
	hypothesis.RetransmitTail:  "Check the network path and NIC for loss; set timeouts and retries on the client.",
	hypothesis.IOLatency:       "Reduce synchronous writes on the request path or move them to faster storage.",
	hypothesis.PageFaultStorm:  "Warm or lock the mapped data in memory; check memory pressure.",
	hypothesis.GCOrCPU:         "Check the service's CPU (quota throttling, co-located load, GC pauses) while its calls are in flight.",
	hypothesis.NetworkGap:      "Look at the network between caller and callee (latency injection, DNS, proxies).",
	hypothesis.NPlusOne:        "Batch the repeated calls into one request.",
	hypothesis.PoolSaturation:  "Size the pool to the offered concurrency or shed load earlier.",
	hypothesis.RegressionOther: "Compare the versions' changes around the change point; roll back if needed.",
}
