package shape

import (
	"slices"
	"testing"

	"github.com/debugai/debugai/evidence"
)

// build makes one trace per call of mk, baseline first.
type traceBuilder struct {
	spans []evidence.Span
	base  map[evidence.TraceID]bool
	n     int
}

// add appends a span; parent is a span id in the same trace (0: root).
func (b *traceBuilder) add(trace, id, parent int, svc, name string, start, end int64, err bool) {
	sp := evidence.Span{TraceID: evidence.TraceID{byte(trace >> 8), byte(trace)}, SpanID: evidence.SpanID{byte(id)},
		Service: svc, Name: name, StartNS: start, EndNS: end}
	if parent > 0 {
		sp.ParentSpanID = evidence.SpanID{byte(parent)}
	}
	if err {
		sp.StatusCode = evidence.StatusError
	}
	b.spans = append(b.spans, sp)
}

// request: api GET /order calls stock (which calls db) then pay; fault
// "stock-exception" makes stock skip db, fail fast, and api skip pay;
// fault "db-leaf" makes db fail fast and stock skip its second db call
// and api skip pay.
func (b *traceBuilder) request(trace int, base bool, fault string) {
	t0 := int64(trace) * 1_000_000
	if base {
		b.base[evidence.TraceID{byte(trace >> 8), byte(trace)}] = true
	}
	b.add(trace, 1, 0, "api", "GET /order", t0, t0+100_000, false)
	b.add(trace, 2, 1, "api", "HTTP GET", t0+1000, t0+40_000, false)
	switch fault {
	case "stock-exception":
		b.add(trace, 3, 2, "stock", "GET /stock", t0+2000, t0+2500, false)
		return
	case "db-leaf":
		b.add(trace, 3, 2, "stock", "GET /stock", t0+2000, t0+20_000, false)
		b.add(trace, 4, 3, "db", "SELECT", t0+3000, t0+3100, false)
		return
	}
	b.add(trace, 3, 2, "stock", "GET /stock", t0+2000, t0+39_000, false)
	b.add(trace, 4, 3, "db", "SELECT", t0+3000, t0+13_000+int64(trace%7)*100, false)
	b.add(trace, 5, 3, "db", "SELECT", t0+14_000, t0+24_000+int64(trace%5)*100, false)
	if fault == "skip-first" { // api no longer calls stock (its first call); pay is slower for everyone
		b.spans = slices.DeleteFunc(b.spans, func(sp evidence.Span) bool {
			return sp.TraceID == evidence.TraceID{byte(trace >> 8), byte(trace)} && sp.SpanID[0] >= 2
		})
		b.add(trace, 6, 1, "api", "HTTP POST", t0+41_000, t0+95_000, false)
		b.add(trace, 7, 6, "pay", "POST /pay", t0+42_000, t0+94_000+int64(trace%5)*100, false)
		return
	}
	if fault == "skip-one" { // stock skips its second db call, same latency, no error
		b.add(trace, 6, 1, "api", "HTTP POST", t0+41_000, t0+90_000, false)
		b.add(trace, 7, 6, "pay", "POST /pay", t0+42_000, t0+89_000, false)
		b.spans = slices.DeleteFunc(b.spans, func(sp evidence.Span) bool {
			return sp.TraceID == evidence.TraceID{byte(trace >> 8), byte(trace)} && sp.SpanID == evidence.SpanID{5}
		})
		return
	}
	switch fault {
	case "slow-pay":
		b.add(trace, 6, 1, "api", "HTTP POST", t0+41_000, t0+95_000, false)
		b.add(trace, 7, 6, "pay", "POST /pay", t0+42_000, t0+94_000+int64(trace%5)*100, false)
		return
	case "pay-retry", "pay-error":
		// pay fails the first call fast; api retries it once ("pay-retry")
		// or gives up ("pay-error").
		b.add(trace, 6, 1, "api", "HTTP POST", t0+41_000, t0+45_000, true)
		b.add(trace, 7, 6, "pay", "POST /pay", t0+42_000, t0+44_000, true)
		if fault == "pay-retry" {
			b.add(trace, 8, 1, "api", "HTTP POST", t0+46_000, t0+90_000, false)
			b.add(trace, 9, 8, "pay", "POST /pay", t0+47_000, t0+89_000, false)
		}
		return
	}
	b.add(trace, 6, 1, "api", "HTTP POST", t0+41_000, t0+90_000, false)
	b.add(trace, 7, 6, "pay", "POST /pay", t0+42_000, t0+89_000, false)
}

// A callee that fails a share of calls its caller retries is a retry
// storm: blamed for its own errors, and marked Retried because its caller
// calls it more often; the same failure without retries is not.
func TestShapeMarksRetriedFailures(t *testing.T) {
	for _, tc := range []struct {
		fault   string
		retried bool
	}{{"pay-retry", true}, {"pay-error", false}} {
		t.Run(tc.fault, func(t *testing.T) {
			res, fs := analyzeFault(t, tc.fault, 15)
			b := res.BlameOf(Op{"pay", "POST /pay"})
			if b.Traces == 0 {
				t.Fatalf("blames %+v, want pay POST /pay blamed", res.Blames)
			}
			if b.Retried != tc.retried {
				t.Fatalf("Retried = %v, want %v (tests %+v)", b.Retried, tc.retried, b.Tests)
			}
			for _, f := range fs {
				if f.Subject == "pay POST /pay" && (f.Attrs["extra_calls"] > 0) != tc.retried {
					t.Errorf("finding extra_calls %v, want %v: %s", f.Attrs["extra_calls"], tc.retried, f.Summary)
				}
			}
		})
	}
}

func analyzeFault(t *testing.T, fault string, faulty int) (Result, []evidence.Finding) {
	t.Helper()
	b := &traceBuilder{base: map[evidence.TraceID]bool{}}
	for i := range 40 {
		b.request(i+1, true, "")
	}
	for i := range 40 {
		f := ""
		if i < faulty {
			f = fault
		}
		b.request(100+i, false, f)
	}
	res, fs, err := Analyze(Input{Spans: b.spans, IsBaseline: func(s *evidence.Span) bool { return b.base[s.TraceID] }}, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return res, fs
}

func TestShapeBlamesTheDeepestChange(t *testing.T) {
	res, fs := analyzeFault(t, "stock-exception", 30)
	if len(res.Blames) == 0 || res.Blames[0].Op != (Op{"stock", "GET /stock"}) {
		t.Fatalf("blames %+v, want stock GET /stock first (api merely lost its pay call)", res.Blames)
	}
	if res.Change < 0.7 || res.Change > 0.8 {
		t.Errorf("change %.2f, want 30/40", res.Change)
	}
	if len(fs) == 0 || fs[0].Kind != Kind || fs[0].Subject != "stock GET /stock" {
		t.Fatalf("findings %+v", fs)
	}
}

func TestShapePassesBlameToAChangedLeafCallee(t *testing.T) {
	res, _ := analyzeFault(t, "db-leaf", 30)
	if len(res.Blames) == 0 || res.Blames[0].Op != (Op{"db", "SELECT"}) {
		t.Fatalf("blames %+v, want db SELECT first (stock stopped after its failing db call)", res.Blames)
	}
}

func TestShapeNothingWithoutChange(t *testing.T) {
	res, fs := analyzeFault(t, "", 0)
	if len(fs) != 0 || res.Change != 0 {
		t.Fatalf("no fault: change %.2f, findings %+v", res.Change, fs)
	}
	for _, tst := range res.Tests {
		if tst.Significant {
			t.Errorf("significant test without a fault: %+v", tst)
		}
	}
}

func TestShapeNeedsABaseline(t *testing.T) {
	b := &traceBuilder{base: map[evidence.TraceID]bool{}}
	b.request(1, false, "")
	res, fs, err := Analyze(Input{Spans: b.spans}, DefaultConfig())
	if err != nil || len(fs) != 0 || res.Change != 0 {
		t.Fatalf("no baseline: %v %+v %v", err, fs, res.Change)
	}
	if err := (Config{}).Validate(); err == nil {
		t.Error("zero config accepted")
	}
}

// fanout: api POST /buy calls catalog and stock in parallel, then pay.
// catalog reads db on a cache miss (every third request). Fault
// "catalog-answer": catalog answers "not found" (OK status, no db read,
// as fast as a cache hit) and api skips pay. Fault "api-own": api skips
// pay on its own, its callees unchanged.
func (b *traceBuilder) fanout(trace int, base bool, fault string) {
	t0 := int64(trace) * 1_000_000
	if base {
		b.base[evidence.TraceID{byte(trace >> 8), byte(trace)}] = true
	}
	jitter := int64(trace%11) * 50
	b.add(trace, 1, 0, "api", "POST /buy", t0, t0+100_000, false)
	b.add(trace, 2, 1, "api", "GetProduct", t0+1000, t0+30_000, false)
	if fault == "catalog-answer" {
		b.add(trace, 3, 2, "catalog", "GetProduct", t0+2000, t0+2300+jitter, false)
	} else {
		end := t0 + 2300 + jitter
		if trace%3 == 0 {
			end = t0 + 20_000 + jitter
		}
		b.add(trace, 3, 2, "catalog", "GetProduct", t0+2000, end, false)
		if trace%3 == 0 {
			b.add(trace, 4, 3, "catalog", "SELECT", t0+3000, t0+19_000, false)
		}
	}
	if fault == "stock-5xx" || fault == "stock-5xx-internal" {
		// stock fails at once without marking its span; api's call
		// records the 500 it got as error status.
		b.add(trace, 5, 1, "api", "GET /stock", t0+1000, t0+3_000, true)
		if fault == "stock-5xx" {
			b.spans[len(b.spans)-1].Kind = evidence.KindClient
		}
		b.add(trace, 6, 5, "stock", "GET /stock", t0+2000, t0+2_100+jitter/10, false)
		return
	}
	b.add(trace, 5, 1, "api", "GET /stock", t0+1000, t0+31_000, false)
	b.add(trace, 6, 5, "stock", "GET /stock", t0+2000, t0+30_000+jitter, false)
	if fault != "" {
		return
	}
	b.add(trace, 7, 1, "api", "POST /pay", t0+41_000, t0+90_000, false)
	b.add(trace, 8, 7, "pay", "POST /pay", t0+42_000, t0+89_000+jitter, false)
}

func analyzeFanout(t *testing.T, fault string, faulty func(i int) bool) Result {
	t.Helper()
	b := &traceBuilder{base: map[evidence.TraceID]bool{}}
	for i := range 90 {
		b.fanout(i+1, true, "")
	}
	for i := range 90 {
		f := ""
		if faulty(i) {
			f = fault
		}
		b.fanout(1000+i, false, f)
	}
	res, _, err := Analyze(Input{Spans: b.spans, IsBaseline: func(s *evidence.Span) bool { return b.base[s.TraceID] }}, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// A caller that stops because one of its parallel calls answered otherwise
// (no error status anywhere, the callee's own change too small to be
// significant between the windows) is not the cause: the callee whose
// spans under the deviating callers differ is.
func TestShapeBlamesTheCalleeTheDeviationIsConditionedOn(t *testing.T) {
	// A third of the requests, as many cache misses among them as among
	// the others: what catalog answered, not api's own code, decides.
	res := analyzeFanout(t, "catalog-answer", func(i int) bool { return (i/3)%3 == 0 })
	if len(res.Blames) == 0 || res.Blames[0].Op != (Op{"catalog", "GetProduct"}) {
		t.Fatalf("blames %+v, want catalog GetProduct first", res.Blames)
	}
	if len(res.Blames[0].Because) == 0 {
		t.Errorf("the blame does not say why it was passed down: %+v", res.Blames[0])
	}
}

// A client span's error status reports what its callee answered: when
// the callee's spans under the failed calls differ (here they end at
// once), the callee takes the blame. The same error on a span that is not
// a call (an internal span) stays its own.
func TestShapeBlamesTheCalleeOfAFailedCall(t *testing.T) {
	for fault, want := range map[string]Op{"stock-5xx": {"stock", "GET /stock"}, "stock-5xx-internal": {"api", "GET /stock"}} {
		res := analyzeFanout(t, fault, func(i int) bool { return (i/3)%3 == 0 })
		if len(res.Blames) == 0 || res.Blames[0].Op != want {
			t.Errorf("%s: blames %+v, want %s first", fault, res.Blames, want)
		}
	}
}

func TestShapeKeepsTheBlameWhenTheCalleesDoNotDiffer(t *testing.T) {
	// api drops the pay call on its own for a third of the requests,
	// whatever catalog and stock answered (as many cache misses among
	// them as among the others).
	res := analyzeFanout(t, "api-own", func(i int) bool { return (i/3)%3 == 0 })
	if len(res.Blames) == 0 || res.Blames[0].Op != (Op{"api", "POST /buy"}) {
		t.Fatalf("blames %+v, want api POST /buy first", res.Blames)
	}
}

// A share of stock's spans make one db call fewer (two become one): the
// mean count barely moves, but a third of the spans leave the usual
// count, which is a change; stock is blamed (db itself did not change).
func TestShapeFindsOneCallFewerInAShare(t *testing.T) {
	res, fs := analyzeFault(t, "skip-one", 13)
	if len(res.Blames) == 0 || res.Blames[0].Op != (Op{"stock", "GET /stock"}) || len(fs) == 0 {
		t.Fatalf("blames %+v, findings %d; want stock GET /stock blamed", res.Blames, len(fs))
	}
	var fewer bool
	for _, tst := range res.Blames[0].Tests {
		fewer = fewer || tst.Change == FewerCalls && tst.Parent == (Op{"stock", "GET /stock"}) && tst.Significant
	}
	if !fewer {
		t.Errorf("blame %+v; want a significant fewer_calls test of stock's calls", res.Blames[0])
	}
}

// api stops making its first call (to stock) while pay, its last call,
// got slower for everyone: the lost call came before pay in the
// baseline's order, so it was not lost because pay changed; api is blamed.
func TestShapeKeepsABlameTheCallOrderDoesNotExplain(t *testing.T) {
	b := &traceBuilder{base: map[evidence.TraceID]bool{}}
	for i := range 40 {
		b.request(i+1, true, "")
	}
	for i := range 40 {
		f := ""
		if i < 15 {
			f = "skip-first"
		} else {
			f = "slow-pay"
		}
		b.request(100+i, false, f)
	}
	res, _, err := Analyze(Input{Spans: b.spans, IsBaseline: func(s *evidence.Span) bool { return b.base[s.TraceID] }}, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Blames) == 0 || res.Blames[0].Op != (Op{"api", "GET /order"}) {
		t.Fatalf("blames %+v; want api GET /order (its first call is the lost one)", res.Blames)
	}
}
