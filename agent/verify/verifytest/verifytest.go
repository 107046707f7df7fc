// Package verifytest holds a convoy-like incident and adversarial
// hypotheses about it, shared by the verifier's tests and the MCP
// submit_hypothesis tool's tests: a caller service whose requests call a
// callee service, the callee's lock waits during the incident, a baseline
// window before it, and hypotheses a careless or hostile investigator
// could write, each with the verdict the verifier must reach.
package verifytest

import (
	"context"
	"fmt"

	"github.com/debugai/debugai/agent/hypothesis"
	"github.com/debugai/debugai/evidence"
)

// Services and operations of the fixture. Names are arbitrary: no rule of
// the verifier knows them.
const (
	Caller   = "gateway"
	Callee   = "accounts"
	CallerOp = "POST /pay"
	HealthOp = "GET /healthz"
	CalleeOp = "POST /entries"
	Node     = "node-1"
	// CallerPID and CalleePID are the services' processes on Node;
	// StrayPID is a process no span belongs to.
	CallerPID, CalleePID, StrayPID = 100, 200, 999
)

// Times of the fixture (unix ns): the baseline window starts at
// BaselineNS, the incident window at IncidentNS; each lasts WindowNS. The
// baseline lies within a minute of the incident (the verifier's default
// slack), so only the baseline rule keeps its evidence out.
const (
	IncidentNS = int64(1_800_000_000e9)
	WindowNS   = int64(10e9)
	BaselineNS = IncidentNS - 2*WindowNS
)

// Store is what the fixture is written to (the DuckDB store is one).
type Store interface {
	evidence.Writer
	evidence.FindingWriter
}

// Fixture names the stored evidence by role.
type Fixture struct {
	// IDs maps a role to an evidence ID: slowCallee, slowCallee2,
	// fastCallee (a callee span as fast as the baseline), slowCaller (a
	// caller span whose child is in the callee), healthz (a healthy
	// caller span), baseCallee (a callee span of the baseline), futex,
	// futex2 (callee lock waits), baseFutex (a wait in the baseline),
	// strayFutex (a wait in a process without spans), convoy (the convoy
	// finding), preExisting (a finding marked pre-existing), selfCite (a
	// finding that cites itself on a kernel line).
	IDs map[string]string
}

// Scope is the incident's scope: its window and the baseline window.
func Scope() hypothesis.Scope {
	return hypothesis.Scope{SinceNS: IncidentNS, UntilNS: IncidentNS + WindowNS,
		Baseline: []hypothesis.Window{{SinceNS: BaselineNS, UntilNS: BaselineNS + WindowNS}}}
}

// Write stores the fixture's incident in st.
func Write(ctx context.Context, st Store) (*Fixture, error) {
	var spans []evidence.Span
	var kevs []evidence.KernelEvent
	ids := map[string]string{}
	seq := byte(0)
	span := func(service string, pid int64, name string, kind evidence.SpanKind, start, dur int64, parent *evidence.Span) evidence.Span {
		seq++
		s := evidence.Span{TraceID: evidence.TraceID{0xab, seq}, SpanID: evidence.SpanID{0xcd, seq}, Service: service, Host: Node,
			ProcessPID: pid, ThreadID: pid + 1, Name: name, Kind: kind, StartNS: start, EndNS: start + dur}
		if parent != nil {
			s.TraceID, s.ParentSpanID = parent.TraceID, parent.SpanID
		}
		spans = append(spans, s)
		return s
	}
	// A request: the caller's server span and the callee's, as child.
	request := func(start, callerDur, calleeDur int64) (evidence.Span, evidence.Span) {
		p := span(Caller, CallerPID, CallerOp, evidence.KindServer, start, callerDur, nil)
		c := span(Callee, CalleePID, CalleeOp, evidence.KindServer, start+100e3, calleeDur, &p)
		return p, c
	}
	for i := range int64(10) {
		t := BaselineNS + 1e9 + i*500e6
		_, c := request(t, 1.2e6, 1e6)
		if i == 0 {
			ids["baseCallee"] = c.ID()
		}
		span(Caller, CallerPID, HealthOp, evidence.KindServer, t+200e6, 270e3, nil)
	}
	for i := range int64(10) {
		t := IncidentNS + 1e9 + i*500e6
		p, c := request(t, 31e6, 30e6)
		switch i {
		case 0:
			ids["slowCaller"], ids["slowCallee"] = p.ID(), c.ID()
		case 1:
			ids["slowCallee2"] = c.ID()
		}
		h := span(Caller, CallerPID, HealthOp, evidence.KindServer, t+200e6, 270e3, nil)
		if i == 0 {
			ids["healthz"] = h.ID()
		}
	}
	_, fast := request(IncidentNS+8e9, 1.1e6, 0.9e6)
	ids["fastCallee"] = fast.ID()

	wait := func(role string, pid int64, at int64) {
		k := evidence.KernelEvent{Node: Node, Stream: "futex_wait-1", Seq: uint64(len(kevs)), Type: evidence.KernelFutexWait,
			TimeNS: at, DurationNS: 25e6, PID: pid, TID: pid + 2, Addr: 0xabc0, WakerTID: pid + 3}
		kevs = append(kevs, k)
		ids[role] = k.ID()
	}
	wait("futex", CalleePID, IncidentNS+1e9+28e6)
	wait("futex2", CalleePID, IncidentNS+1.5e9+28e6)
	wait("baseFutex", CalleePID, BaselineNS+1e9+1e6)
	wait("strayFutex", StrayPID, IncidentNS+2e9)
	if err := st.Write(ctx, &evidence.Batch{Spans: spans, KernelEvents: kevs}); err != nil {
		return nil, fmt.Errorf("writing the fixture: %w", err)
	}

	convoyRefs := []evidence.Ref{{ID: ids["futex"], Line: evidence.LineKernelFutex}, {ID: ids["futex2"], Line: evidence.LineKernelFutex},
		{ID: ids["slowCallee"], Line: evidence.LineTrace}}
	lock := fmt.Sprintf("0xabc0@%s/%d", Node, CalleePID)
	preRefs := []evidence.Ref{{ID: ids["slowCaller"], Line: evidence.LineTrace}, {ID: ids["futex"], Line: evidence.LineKernelFutex}}
	selfID := "finding:5e1f5e1f5e1f5e1f5e1f5e1f"
	findings := []evidence.Finding{
		{ID: evidence.NewFindingID("lock_convoy", lock, convoyRefs), Kind: "lock_convoy", Subject: lock, Summary: "waits queue behind one holder",
			Confidence: 0.9, Score: 1, Refs: convoyRefs, StartNS: IncidentNS, EndNS: IncidentNS + WindowNS,
			Attrs: map[string]float64{evidence.AttrExplainedShare: 0.9, evidence.AttrPreExisting: 0}},
		{ID: evidence.NewFindingID("n_plus_one", Caller+"/"+CallerOp, preRefs), Kind: "n_plus_one", Subject: Caller + "/" + CallerOp,
			Summary: "repeated calls", Confidence: 0.9, Score: 1, Refs: preRefs, StartNS: IncidentNS, EndNS: IncidentNS + WindowNS,
			Attrs: map[string]float64{evidence.AttrExplainedShare: 0.1, evidence.AttrPreExisting: 1}},
		{ID: selfID, Kind: "lock_convoy", Subject: "0xdead", Summary: "cites itself", Confidence: 0.9, Score: 1,
			Refs:    []evidence.Ref{{ID: selfID, Line: evidence.LineKernelFutex}, {ID: ids["slowCallee"], Line: evidence.LineTrace}},
			StartNS: IncidentNS, EndNS: IncidentNS + WindowNS},
	}
	// The caller's network time, placed by the ranking model at the callee
	// (whose lost packets it waited for): about the callee, whatever its
	// subject says.
	placedRefs := []evidence.Ref{{ID: ids["futex"], Line: evidence.LineKernelFutex}, {ID: ids["slowCaller"], Line: evidence.LineTrace}}
	placed := evidence.Finding{ID: evidence.NewFindingID("critical_path_component", Caller+"/"+CallerOp+" network", placedRefs),
		Kind: "critical_path_component", Subject: Caller + "/" + CallerOp + " network", Service: Callee, Operation: CalleeOp,
		Summary: "network time grew", Confidence: 0.9, Score: 1, Refs: placedRefs, StartNS: IncidentNS, EndNS: IncidentNS + WindowNS,
		Attrs: map[string]float64{evidence.AttrExplainedShare: 0.8, evidence.AttrPreExisting: 0}}
	// The same placed at a service that is not stored: the subject decides.
	misplaced := placed
	misplaced.Service = "nosuchsvc"
	misplaced.ID = evidence.NewFindingID("critical_path_component", Caller+"/"+CallerOp+" network nosuchsvc", placedRefs)
	findings = append(findings, placed, misplaced)
	if err := st.WriteFindings(ctx, findings); err != nil {
		return nil, fmt.Errorf("writing the fixture's findings: %w", err)
	}
	ids["convoy"], ids["preExisting"], ids["selfCite"] = findings[0].ID, findings[1].ID, selfID
	ids["placed"], ids["misplaced"] = placed.ID, misplaced.ID
	return &Fixture{IDs: ids}, nil
}

// Case is one hypothesis about the fixture and the verdict due.
type Case struct {
	Name string
	H    *hypothesis.Hypothesis
	// Scope is the scope to verify in: Scope(), edited.
	Scope hypothesis.Scope
	// Codes are the rejection reasons, in the verifier's order; none for
	// an accepted hypothesis.
	Codes []string
	// Lines are the verdict's lines.
	Lines []evidence.Line
}

// Accepted reports whether the case's hypothesis must be accepted.
func (c Case) Accepted() bool { return len(c.Codes) == 0 }

func hyp(service, endpoint string, claims ...hypothesis.Claim) *hypothesis.Hypothesis {
	return &hypothesis.Hypothesis{Schema: hypothesis.Schema, Summary: "requests queue on one lock", Pattern: hypothesis.LockConvoy,
		Location: hypothesis.Location{Service: service, Endpoint: endpoint}, Confidence: 0.8, Claims: claims}
}

func root(ids ...string) hypothesis.Claim {
	return hypothesis.Claim{Text: "the cause", Citations: ids, RootCause: true}
}

// Reason codes (the verifier's; repeated so that this package does not
// import it).
const (
	outOfScope  = "citation_out_of_scope"
	tooFew      = "insufficient_independent_lines"
	unknownLoc  = "unknown_location"
	locScope    = "location_out_of_scope"
	mismatch    = "location_mismatch"
	noChange    = "no_change"
	patternLine = "pattern_line_missing"
)

// Cases are the correct hypotheses (accepted) and the adversarial ones
// (rejected) about the fixture.
func (f *Fixture) Cases() []Case {
	id := f.IDs
	futexTrace := []evidence.Line{evidence.LineKernelFutex, evidence.LineTrace}
	trace := []evidence.Line{evidence.LineTrace}
	noBaseline := Scope()
	noBaseline.Baseline = nil
	only := func(services ...string) hypothesis.Scope {
		s := Scope()
		s.Services = services
		return s
	}
	return []Case{
		// Correct hypotheses.
		{"callee convoy on a wait and a slow callee span", hyp(Callee, CalleeOp, root(id["futex"]), root(id["slowCallee"])), Scope(), nil, futexTrace},
		{"callee convoy on its finding", hyp(Callee, "", root(id["convoy"])), Scope(), nil, futexTrace},
		{"callee convoy within its service scope", hyp(Callee, CalleeOp, root(id["futex"], id["slowCallee"])), only(Callee), nil, futexTrace},
		{"a caller span calling the callee is about the callee", hyp(Callee, "", root(id["futex"], id["slowCaller"])), Scope(), nil, futexTrace},

		// The cases.
		{"caller health check on a callee wait and a healthy caller span", hyp(Caller, HealthOp, root(id["futex"]), root(id["healthz"])),
			Scope(), []string{mismatch, noChange, tooFew}, nil},
		{"the same without a baseline", hyp(Caller, HealthOp, root(id["futex"]), root(id["healthz"])),
			noBaseline, []string{mismatch, tooFew}, trace},
		{"a service that does not exist", hyp("nosuchsvc", "", root(id["futex"], id["slowCallee"])), Scope(), []string{unknownLoc}, futexTrace},
		{"services scope without the location", hyp(Callee, CalleeOp, root(id["futex"], id["slowCallee"])), only("nosuchsvc"),
			[]string{outOfScope, outOfScope, locScope, patternLine, tooFew}, nil},

		// More.
		{"an endpoint of another service", hyp(Callee, HealthOp, root(id["futex"], id["slowCallee"])), Scope(), []string{unknownLoc}, futexTrace},
		{"citations from the baseline window only", hyp(Callee, CalleeOp, root(id["baseFutex"], id["baseCallee"])), Scope(),
			[]string{outOfScope, outOfScope, tooFew}, nil},
		{"a baseline span in a supporting claim", hyp(Callee, CalleeOp, root(id["futex"], id["slowCallee"]),
			hypothesis.Claim{Text: "before the incident it was fast", Citations: []string{id["baseCallee"]}}), Scope(), nil, futexTrace},
		{"a pre-existing finding as the only root cause", hyp(Caller, CallerOp, root(id["preExisting"])), Scope(), []string{noChange, tooFew}, nil},
		{"a callee span no slower than its baseline", hyp(Callee, CalleeOp, root(id["futex"], id["fastCallee"])), Scope(),
			[]string{noChange, tooFew}, []evidence.Line{evidence.LineKernelFutex}},
		{"duplicate citations of one line", hyp(Callee, CalleeOp, root(id["slowCallee"], id["slowCallee"]), root(id["slowCallee2"], id["slowCallee"])),
			Scope(), []string{patternLine, tooFew}, trace},
		{"a finding citing itself", hyp(Callee, "", root(id["selfCite"])), Scope(), []string{patternLine, tooFew}, trace},
		{"a mixed-case service", hyp("Accounts", "", root(id["futex"], id["slowCallee"])), Scope(), []string{unknownLoc}, futexTrace},
		{"a padded service", hyp(" "+Callee+" ", "", root(id["futex"], id["slowCallee"])), Scope(), []string{unknownLoc}, futexTrace},
		{"a padded service in scope", hyp(" "+Callee, "", root(id["futex"], id["slowCallee"])), only(Callee), []string{unknownLoc}, futexTrace},
		{"a wait of a process without spans", hyp(Callee, CalleeOp, root(id["strayFutex"], id["slowCallee"])), Scope(), []string{tooFew}, trace},
		{"a callee wait cited for the caller", hyp(Caller, CallerOp, root(id["futex"], id["slowCaller"])), Scope(), []string{mismatch, tooFew}, trace},
		{"a finding the ranking model placed at the callee", hyp(Callee, CalleeOp, root(id["placed"])), Scope(), nil, futexTrace},
		{"a finding placed at the callee cited for its subject's service", hyp(Caller, CallerOp, root(id["placed"])), Scope(),
			[]string{mismatch, tooFew}, nil},
		{"a finding placed at an unknown service falls back to its subject", hyp(Callee, CalleeOp, root(id["misplaced"])), Scope(),
			[]string{mismatch, tooFew}, nil},
	}
}
