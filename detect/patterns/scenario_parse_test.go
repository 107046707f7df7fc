package patterns

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/tools/txtar"

	"github.com/debugai/debugai/evidence"
)

// Scenario format. A testdata/*.txtar file has an "input" section, an
// optional "baseline" section (span lines only) and a "want" section (the
// rendered findings, rewritten by -update). Lines of input and baseline:
//
//	# comment
//	set KEY=VALUE                     a Config field (see setters)
//	span TRACE SPAN PARENT|- SERVICE NAME KIND START END [pid=N] [tid=N] [host=H]
//	kev NODE/STREAM/SEQ TYPE TIME [dur=D] [pid=N] [tid=N] [cgroup=N] [addr=0xA] [interval=D]
//	    [waker=N] [value=N] [span=TRACE/SPAN] [svc=S] [op=read|write|flush]
//	edge HELD ACQUIRING [count=N] [pid=N] [node=N]
//	repeat N STEP                     the lines up to "end" N times; {i} is
//	...                               the index in hex, {n} in decimal, and
//	end                               every START/END/TIME moves by i*STEP
//	expect KIND SUBJECT [REF...]      a finding of KIND on SUBJECT citing REFs
//	expect-no KIND [SUBJECT]          no such finding
//
// TRACE and SPAN are hex ids without leading zeros (a1 is
// 000…0a1); refs are written the same way (span:a1/b2, kev:n1/futex/3).
// KIND is server, client, internal or unset. Times and durations are Go
// durations (10ms, 1.5s) from a fixed epoch. Tokens with spaces are
// double-quoted.
type scenario struct {
	in      Input
	cfg     Config
	expects []expectation
}

const epochNS = int64(1_700_000_000) * int64(time.Second)

func parseScenario(ar *txtar.Archive) (*scenario, error) {
	sc := &scenario{cfg: DefaultConfig()}
	if err := sc.parse(section(ar, "input"), false); err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	if err := sc.parse(section(ar, "baseline"), true); err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	return sc, nil
}

func (sc *scenario) parse(text string, baseline bool) error {
	lines := strings.Split(text, "\n")
	for n := 0; n < len(lines); n++ {
		f, err := tokens(lines[n])
		if err != nil {
			return fmt.Errorf("line %d: %w", n+1, err)
		}
		if len(f) == 0 {
			continue
		}
		if f[0] != "repeat" {
			if err := sc.line(f, 0, baseline); err != nil {
				return fmt.Errorf("line %d: %w", n+1, err)
			}
			continue
		}
		start := n
		for n < len(lines) && strings.TrimSpace(lines[n]) != "end" {
			n++
		}
		if err := sc.repeat(f, lines[start+1:n], baseline); err != nil {
			return fmt.Errorf("repeat at line %d: %w", start+1, err)
		}
	}
	return nil
}

func (sc *scenario) repeat(head []string, body []string, baseline bool) error {
	if len(head) != 3 {
		return fmt.Errorf("want: repeat N STEP")
	}
	count, err := strconv.Atoi(head[1])
	if err != nil {
		return err
	}
	step, err := time.ParseDuration(head[2])
	if err != nil {
		return err
	}
	for i := range count {
		for _, l := range body {
			l = strings.ReplaceAll(l, "{i}", strconv.FormatInt(int64(i), 16))
			l = strings.ReplaceAll(l, "{n}", strconv.Itoa(i))
			f, err := tokens(l)
			if err != nil {
				return err
			}
			if len(f) > 0 {
				if err := sc.line(f, int64(i)*int64(step), baseline); err != nil {
					return fmt.Errorf("%q: %w", l, err)
				}
			}
		}
	}
	return nil
}

func (sc *scenario) line(f []string, shift int64, baseline bool) error {
	if baseline && f[0] != "span" {
		return fmt.Errorf("baseline holds span lines only, got %q", f[0])
	}
	switch f[0] {
	case "set":
		return sc.set(f[1:])
	case "span":
		s, err := parseSpan(f[1:], shift)
		if baseline {
			sc.in.Baseline = append(sc.in.Baseline, s)
		} else {
			sc.in.Spans = append(sc.in.Spans, s)
		}
		return err
	case "kev":
		ev, err := parseKev(f[1:], shift)
		sc.in.Events = append(sc.in.Events, ev)
		return err
	case "edge":
		e, err := parseEdge(f[1:])
		sc.in.Edges = append(sc.in.Edges, e)
		return err
	case "expect", "expect-no":
		return sc.expect(f)
	}
	return fmt.Errorf("unknown directive %q", f[0])
}

func (sc *scenario) expect(f []string) error {
	e := expectation{line: strings.Join(f, " "), none: f[0] == "expect-no"}
	if len(f) < 2 || !e.none && len(f) < 3 {
		return fmt.Errorf("want: expect KIND SUBJECT [REF...] or expect-no KIND [SUBJECT]")
	}
	if !isKind(f[1]) {
		return fmt.Errorf("unknown kind %q", f[1])
	}
	e.kind = f[1]
	if len(f) > 2 {
		e.subject = f[2]
	}
	for _, r := range f[min(3, len(f)):] {
		id, err := longID(r)
		if err != nil {
			return err
		}
		e.refs = append(e.refs, id)
	}
	sc.expects = append(sc.expects, e)
	return nil
}

// setters are the Config fields a scenario may set.
func (sc *scenario) setters() map[string]any {
	c := &sc.cfg
	return map[string]any{
		"min_endpoint_spans": &c.MinEndpointSpans, "slow_quantile": &c.SlowQuantile, "max_refs": &c.MaxRefs,
		"match_node": &c.Join.MatchNode, "pid_fallback": &c.Join.PIDFallback,
		"gap_min_calls": &c.Gap.MinCalls, "cross_service_rpc": &c.Gap.CrossServiceRPC,
		"nplusone_min_parents": &c.NPlusOne.MinParents, "pool_min_queued": &c.Pool.MinQueued,
		"fault_window": &c.Faults.WindowNS, "fault_min_faults": &c.Faults.MinFaults,
		"starvation_min_events": &c.Starvation.MinEvents, "convoy_min_waits": &c.Convoy.MinWaits,
	}
}

func (sc *scenario) set(args []string) error {
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return fmt.Errorf("set %q: want KEY=VALUE", a)
		}
		if k == "kinds" {
			sc.cfg.Kinds = strings.Split(v, ",")
			continue
		}
		p, ok := sc.setters()[k]
		if !ok {
			return fmt.Errorf("set: unknown key %q", k)
		}
		var err error
		switch p := p.(type) {
		case *int:
			*p, err = strconv.Atoi(v)
		case *int64:
			var d time.Duration
			if d, err = time.ParseDuration(v); err != nil {
				*p, err = strconv.ParseInt(v, 10, 64)
			} else {
				*p = int64(d)
			}
		case *float64:
			*p, err = strconv.ParseFloat(v, 64)
		case *bool:
			*p, err = strconv.ParseBool(v)
		}
		if err != nil {
			return fmt.Errorf("set %s: %w", k, err)
		}
	}
	return nil
}

func parseSpan(f []string, shift int64) (evidence.Span, error) {
	var s evidence.Span
	if len(f) < 8 {
		return s, fmt.Errorf("span needs TRACE SPAN PARENT SERVICE NAME KIND START END")
	}
	var err error
	if s.TraceID, err = evidence.ParseTraceID(pad(f[0], 32)); err != nil {
		return s, err
	}
	if s.SpanID, err = evidence.ParseSpanID(pad(f[1], 16)); err != nil {
		return s, err
	}
	if f[2] != "-" {
		if s.ParentSpanID, err = evidence.ParseSpanID(pad(f[2], 16)); err != nil {
			return s, err
		}
	}
	s.Service, s.Name = f[3], f[4]
	kinds := map[string]evidence.SpanKind{"server": evidence.KindServer, "client": evidence.KindClient,
		"internal": evidence.KindInternal, "unset": evidence.KindUnspecified}
	k, ok := kinds[f[5]]
	if !ok {
		return s, fmt.Errorf("span kind %q", f[5])
	}
	s.Kind = k
	if s.StartNS, err = at(f[6], shift); err != nil {
		return s, err
	}
	if s.EndNS, err = at(f[7], shift); err != nil {
		return s, err
	}
	return s, options(f[8:], map[string]func(string) error{
		"pid":  intOpt(&s.ProcessPID),
		"tid":  intOpt(&s.ThreadID),
		"host": func(v string) error { s.Host = v; return nil },
	})
}

func parseKev(f []string, shift int64) (evidence.KernelEvent, error) {
	var ev evidence.KernelEvent
	if len(f) < 3 {
		return ev, fmt.Errorf("kev needs NODE/STREAM/SEQ TYPE TIME")
	}
	parts := strings.Split(f[0], "/")
	if len(parts) != 3 {
		return ev, fmt.Errorf("kev id %q: want NODE/STREAM/SEQ", f[0])
	}
	seq, err := strconv.ParseUint(parts[2], 10, 64)
	if err != nil {
		return ev, err
	}
	ev.Node, ev.Stream, ev.Seq, ev.Type = parts[0], parts[1], seq, evidence.KernelEventType(f[1])
	if ev.Type.Line() == evidence.LineUnclassified && ev.Type != evidence.KernelAnomaly {
		return ev, fmt.Errorf("kev type %q", f[1])
	}
	if ev.TimeNS, err = at(f[2], shift); err != nil {
		return ev, err
	}
	var cgroup, addr int64
	err = options(f[3:], map[string]func(string) error{
		"dur":    durOpt(&ev.DurationNS),
		"pid":    intOpt(&ev.PID),
		"tid":    intOpt(&ev.TID),
		"waker":  intOpt(&ev.WakerTID),
		"value":  intOpt(&ev.Value),
		"cgroup": intOpt(&cgroup),
		"addr":   intOpt(&addr),
		"svc":    func(v string) error { ev.Service = v; return nil },
		"op": func(v string) error {
			ev.Attrs = append(ev.Attrs, evidence.Attr{Key: attrBlockOp, Value: evidence.StringValue(v)})
			return nil
		},
		"lock": func(v string) error {
			ev.Attrs = append(ev.Attrs, evidence.Attr{Key: attrLockKind, Value: evidence.StringValue(v)})
			return nil
		},
		"interval": func(v string) error {
			var ns int64
			if err := durOpt(&ns)(v); err != nil {
				return err
			}
			ev.Attrs = append(ev.Attrs, evidence.Attr{Key: attrCPUIntervalNS, Value: evidence.IntValue(ns)})
			return nil
		},
		"span": func(v string) error {
			t, s, ok := strings.Cut(v, "/")
			if !ok {
				return fmt.Errorf("span=%q: want TRACE/SPAN", v)
			}
			var err error
			if ev.TraceID, err = evidence.ParseTraceID(pad(t, 32)); err != nil {
				return err
			}
			ev.SpanID, err = evidence.ParseSpanID(pad(s, 16))
			return err
		},
	})
	ev.CgroupID, ev.Addr = uint64(cgroup), uint64(addr)
	return ev, err
}

func parseEdge(f []string) (evidence.LockEdge, error) {
	if len(f) < 2 {
		return evidence.LockEdge{}, fmt.Errorf("edge needs HELD ACQUIRING")
	}
	e := evidence.LockEdge{Held: f[0], Acquiring: f[1], Count: 1}
	return e, options(f[2:], map[string]func(string) error{
		"count": intOpt(&e.Count),
		"pid":   intOpt(&e.PID),
		"node":  func(v string) error { e.Node = v; return nil },
	})
}

func options(f []string, set map[string]func(string) error) error {
	for _, o := range f {
		k, v, ok := strings.Cut(o, "=")
		fn := set[k]
		if !ok || fn == nil {
			return fmt.Errorf("option %q: unknown", o)
		}
		if err := fn(v); err != nil {
			return fmt.Errorf("option %q: %w", o, err)
		}
	}
	return nil
}

func intOpt(p *int64) func(string) error {
	return func(v string) (err error) {
		*p, err = strconv.ParseInt(v, 0, 64)
		return err
	}
}

func durOpt(p *int64) func(string) error {
	return func(v string) error {
		d, err := time.ParseDuration(v)
		*p = int64(d)
		return err
	}
}

func at(v string, shift int64) (int64, error) {
	d, err := time.ParseDuration(v)
	return epochNS + int64(d) + shift, err
}

func pad(hex string, n int) string {
	if len(hex) >= n {
		return hex
	}
	return strings.Repeat("0", n-len(hex)) + hex
}

// longID expands span:a1/b2 to a full span evidence ID; other IDs pass.
func longID(id string) (string, error) {
	rest, ok := strings.CutPrefix(id, "span:")
	if !ok {
		return id, nil
	}
	t, s, ok := strings.Cut(rest, "/")
	if !ok {
		return "", fmt.Errorf("ref %q: want span:TRACE/SPAN", id)
	}
	return "span:" + pad(t, 32) + "/" + pad(s, 16), nil
}

// tokens splits a line on spaces, keeping double-quoted tokens whole.
func tokens(line string) ([]string, error) {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return nil, nil
	}
	var out []string
	for line != "" {
		if line[0] == '"' {
			q, err := strconv.QuotedPrefix(line)
			if err != nil {
				return nil, fmt.Errorf("bad quoted token in %q", line)
			}
			s, _ := strconv.Unquote(q)
			out = append(out, s)
			line = strings.TrimSpace(line[len(q):])
			continue
		}
		tok, rest, _ := strings.Cut(line, " ")
		out = append(out, tok)
		line = strings.TrimSpace(rest)
	}
	return out, nil
}
