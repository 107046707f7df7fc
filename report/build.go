package report

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/debugai/debugai/agent/hypothesis"
	"github.com/debugai/debugai/agent/verify"
	"github.com/debugai/debugai/evidence"
)

// Options configure Build. The zero value is valid: every zero field means
// the documented default.
type Options struct {
	// Title overrides the title derived from the status and the summary.
	Title string
	// Scope is the incident's scope (the verifier's).
	Scope hypothesis.Scope
	// TopFindings is how many stored findings to list (default 5; -1 none).
	TopFindings int
	// MaxTimeline bounds the timeline entries (default 50).
	MaxTimeline int
	// ExemplarTrace is the trace the kernel-overlay chart draws; zero: the
	// trace of the first cited span (root-cause claims first), else of the
	// first cited kernel event stamped with one.
	ExemplarTrace evidence.TraceID
	// MaxChartSpans bounds the spans the overlay chart draws (default 40).
	MaxChartSpans int
	// BaselineSinceNS and BaselineUntilNS are the "before" window of the
	// latency chart; zero: the window of the scope's length just before it.
	BaselineSinceNS, BaselineUntilNS int64
	// MaxSamples bounds the spans read per latency distribution (default
	// 10000).
	MaxSamples int
	// RepositoryURL is the repository of commit-like service versions when
	// spans and resources carry no vcs.repository.url.full.
	RepositoryURL string
	// Compared says what the incident was compared with (windows, span
	// and trace counts, where the baseline came from); empty: not known.
	Compared string
	// GeneratedAtNS stamps Report.GeneratedAt (unix ns); 0 leaves it empty.
	GeneratedAtNS int64
}

// Validate reports the first invalid field.
func (o Options) Validate() error {
	switch {
	case o.TopFindings < -1:
		return fmt.Errorf("%w: top findings %d < -1", ErrOptions, o.TopFindings)
	case o.MaxTimeline < 0 || o.MaxChartSpans < 0 || o.MaxSamples < 0:
		return fmt.Errorf("%w: negative bound", ErrOptions)
	case o.Scope.UntilNS != 0 && o.Scope.UntilNS <= o.Scope.SinceNS:
		return fmt.Errorf("%w: scope ends at %d, not after its start %d", ErrOptions, o.Scope.UntilNS, o.Scope.SinceNS)
	case o.BaselineUntilNS != 0 && o.BaselineUntilNS <= o.BaselineSinceNS:
		return fmt.Errorf("%w: baseline ends at %d, not after its start %d", ErrOptions, o.BaselineUntilNS, o.BaselineSinceNS)
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.TopFindings == 0 {
		o.TopFindings = 5
	}
	o.MaxTimeline = cmp.Or(o.MaxTimeline, 50)
	o.MaxChartSpans = cmp.Or(o.MaxChartSpans, 40)
	o.MaxSamples = cmp.Or(o.MaxSamples, 10000)
	return o
}

// Build assembles the report of hypothesis h judged by v, reading the
// evidence through r. Every cited ID is resolved through r: descriptions,
// times, affected entities, code sites and commit links come from stored
// data only. When r also implements evidence.FindingReader, the top stored
// findings in scope are listed. Build fails only on invalid options and
// store errors; unresolvable citations are reported as unresolved.
func Build(ctx context.Context, r evidence.Reader, h hypothesis.Hypothesis, v verify.Verdict, opts Options) (Report, error) {
	if err := opts.Validate(); err != nil {
		return Report{}, err
	}
	opts = opts.withDefaults()
	rep := Report{
		Schema:     Schema,
		Status:     StatusUnconfirmed,
		Scope:      Scope{SinceNS: opts.Scope.SinceNS, UntilNS: opts.Scope.UntilNS, Services: opts.Scope.Services, Compared: opts.Compared},
		Hypothesis: h,
		Verdict:    v,
	}
	if v.Status == hypothesis.Accepted {
		rep.Status = StatusAccepted
	} else {
		rep.Reasons = v.Reasons
		if len(rep.Reasons) == 0 {
			rep.Reasons = h.Reasons
		}
	}
	rep.Title = cmp.Or(opts.Title, defaultTitle(rep.Status, h))
	if opts.GeneratedAtNS != 0 {
		rep.GeneratedAt = time.Unix(0, opts.GeneratedAtNS).UTC().Format(time.RFC3339)
	}
	rs := newResolver(r)
	steps := []func(context.Context, *resolver, *Report, Options) error{
		buildClaims, buildTimeline, buildAffected, buildCodeSites, buildCommits, buildFindings, buildCauses, buildCharts,
	}
	for _, step := range steps {
		if err := step(ctx, rs, &rep, opts); err != nil {
			return Report{}, err
		}
	}
	return rep, nil
}

func defaultTitle(s Status, h hypothesis.Hypothesis) string {
	if s == StatusAccepted {
		return "Root cause: " + h.Summary
	}
	return "Unconfirmed hypothesis: " + h.Summary
}

// buildClaims resolves the claims' citations.
func buildClaims(ctx context.Context, rs *resolver, rep *Report, _ Options) error {
	for _, c := range rep.Hypothesis.Claims {
		cl := Claim{Text: c.Text, RootCause: c.RootCause, Citations: []Citation{}}
		for _, id := range c.Citations {
			ct, err := rs.citation(ctx, id)
			if err != nil {
				return err
			}
			cl.Citations = append(cl.Citations, ct)
		}
		rep.Claims = append(rep.Claims, cl)
	}
	return nil
}

// buildTimeline merges the hypothesis's timeline with the resolved claim
// citations it does not mention, in time order, bounded by MaxTimeline.
func buildTimeline(ctx context.Context, rs *resolver, rep *Report, opts Options) error {
	seen := map[string]bool{}
	rep.Timeline = []TimelineEntry{}
	for _, e := range rep.Hypothesis.Timeline {
		te := TimelineEntry{TimeNS: e.TimeNS, Text: e.Text, Source: SourceHypothesis}
		if e.Citation != "" {
			ct, err := rs.citation(ctx, e.Citation)
			if err != nil {
				return err
			}
			te.Citations = []Citation{ct}
			seen[e.Citation] = true
		}
		rep.Timeline = append(rep.Timeline, te)
	}
	for _, c := range rep.Claims {
		for _, ct := range c.Citations {
			if seen[ct.ID] || !ct.Resolved || ct.TimeNS == 0 {
				continue
			}
			seen[ct.ID] = true
			rep.Timeline = append(rep.Timeline, TimelineEntry{TimeNS: ct.TimeNS, Text: ct.Text,
				Source: SourceEvidence, Citations: []Citation{ct}})
		}
	}
	slices.SortStableFunc(rep.Timeline, func(a, b TimelineEntry) int {
		return cmp.Or(cmp.Compare(a.TimeNS, b.TimeNS), cmp.Compare(a.Source, b.Source),
			cmp.Compare(firstID(a), firstID(b)))
	})
	if len(rep.Timeline) > opts.MaxTimeline {
		rep.Timeline = rep.Timeline[:opts.MaxTimeline]
	}
	return nil
}

func firstID(e TimelineEntry) string {
	if len(e.Citations) == 0 {
		return ""
	}
	return e.Citations[0].ID
}

// citedIDs lists the distinct IDs the claims and the timeline cite, claim
// order first.
func citedIDs(rep *Report) []string {
	var ids []string
	seen := map[string]bool{}
	add := func(id string) {
		if id != "" && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for _, c := range rep.Claims {
		if c.RootCause {
			for _, ct := range c.Citations {
				add(ct.ID)
			}
		}
	}
	for _, c := range rep.Claims {
		for _, ct := range c.Citations {
			add(ct.ID)
		}
	}
	for _, e := range rep.Timeline {
		add(firstID(e))
	}
	return ids
}

// set collects distinct non-empty strings; sorted returns them sorted.
type set map[string]bool

func (s set) add(v ...string) {
	for _, x := range v {
		if x != "" {
			s[x] = true
		}
	}
}

func (s set) sorted() []string {
	if len(s) == 0 {
		return nil
	}
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// buildAffected collects services, endpoints, versions and nodes from the
// location and the cited spans, kernel events and lock edges.
func buildAffected(ctx context.Context, rs *resolver, rep *Report, _ Options) error {
	svc, ep, ver, node := set{}, set{}, set{}, set{}
	loc := rep.Hypothesis.Location
	svc.add(loc.Service)
	ep.add(loc.Endpoint)
	node.add(loc.Node)
	if loc.Version != "" {
		ver.add(loc.Service + "@" + loc.Version)
	}
	for _, id := range citedIDs(rep) {
		it, err := rs.get(ctx, id)
		if err != nil {
			return err
		}
		switch {
		case it == nil:
		case it.Span != nil:
			s := it.Span
			svc.add(s.Service)
			node.add(s.Host)
			if s.Kind == evidence.KindServer || s.ParentSpanID.IsZero() {
				ep.add(s.Name)
			}
			if s.Version != "" {
				ver.add(s.Service + "@" + s.Version)
			}
		case it.KernelEvent != nil:
			svc.add(it.KernelEvent.Service)
			node.add(it.KernelEvent.Node)
		case it.LockEdge != nil:
			svc.add(it.LockEdge.Service)
			node.add(it.LockEdge.Node)
		}
	}
	rep.Affected = Affected{Services: svc.sorted(), Endpoints: ep.sorted(), Versions: ver.sorted(), Nodes: node.sorted()}
	return nil
}

// buildCodeSites lists the location's code site, the sites of cited lock
// edges (directly or through a cited finding), and code.* attributes of
// cited spans.
func buildCodeSites(ctx context.Context, rs *resolver, rep *Report, _ Options) error {
	seen := set{}
	add := func(site, lock, source string) {
		if site != "" && !seen[site] {
			seen.add(site)
			rep.CodeSites = append(rep.CodeSites, CodeSite{Site: site, Lock: lock, Source: source})
		}
	}
	add(rep.Hypothesis.Location.CodeSite, "", "hypothesis")
	for _, id := range citedIDs(rep) {
		it, err := rs.get(ctx, id)
		if err != nil {
			return err
		}
		if it == nil {
			continue
		}
		edges := []string{id}
		if it.Finding != nil {
			edges = edges[:0]
			for _, ref := range it.Finding.Refs {
				if ref.Line == evidence.LineLock {
					edges = append(edges, ref.ID)
				}
			}
		}
		if it.Span != nil {
			add(spanCodeSite(it.Span), "", id)
		}
		for _, eid := range edges {
			e, err := rs.get(ctx, eid)
			if err != nil {
				return err
			}
			if e != nil && e.LockEdge != nil {
				add(e.LockEdge.HeldSite, e.LockEdge.Held, eid)
				add(e.LockEdge.AcquiringSite, e.LockEdge.Acquiring, eid)
			}
		}
	}
	return nil
}

// spanCodeSite formats code.function(.name) code.filepath:code.lineno
// (old or new semantic-convention keys) when present.
func spanCodeSite(s *evidence.Span) string {
	get := func(keys ...string) string {
		for _, k := range keys {
			if v, ok := s.Attrs.Get(k); ok {
				return v.String()
			}
		}
		return ""
	}
	fn := get("code.function.name", "code.function")
	file := get("code.file.path", "code.filepath")
	if line := get("code.line.number", "code.lineno"); file != "" && line != "" {
		file += ":" + line
	}
	switch {
	case fn != "" && file != "":
		return fn + " " + file
	case fn != "":
		return fn
	}
	return file
}
