package loadgen

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

var testStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// allSpans calls f for every span of td with its resource's service.name.
func allSpans(td ptrace.Traces, f func(service string, s ptrace.Span)) {
	for _, rs := range td.ResourceSpans().All() {
		svc, _ := rs.Resource().Attributes().Get("service.name")
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				f(svc.Str(), s)
			}
		}
	}
}

func TestGenerateShape(t *testing.T) {
	tests := []struct {
		name string
		cfg  BodyConfig
	}{
		{"defaults, few bodies", BodyConfig{Bodies: 3, Seed: 7}},
		{"gzip", BodyConfig{Bodies: 2, SpansPerBody: 500, Gzip: true, Seed: 8}},
		{"ragged last trace", BodyConfig{Bodies: 3, SpansPerBody: 97, SpansPerTrace: 10, Seed: 9}},
		{"one service, one span per trace", BodyConfig{Bodies: 2, SpansPerBody: 50, SpansPerTrace: 1, Services: 1}},
		{"all services, long traces, no events", BodyConfig{Bodies: 2, SpansPerBody: 300, SpansPerTrace: 37, Services: 6, EventEvery: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Start = testStart
			bodies, err := Generate(tt.cfg)
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			cfg := tt.cfg.withDefaults()
			if len(bodies) != cfg.Bodies {
				t.Fatalf("got %d bodies, want %d", len(bodies), cfg.Bodies)
			}
			type key struct {
				t pcommon.TraceID
				s pcommon.SpanID
			}
			spanIDs := map[pcommon.SpanID]bool{}
			traceBody := map[pcommon.TraceID]int{}
			for b, body := range bodies {
				if got := isGzip(body); got != cfg.Gzip {
					t.Errorf("body %d: gzip = %v, want %v", b, got, cfg.Gzip)
				}
				td, err := Decode(body)
				if err != nil {
					t.Fatalf("body %d: %v", b, err)
				}
				if n := td.SpanCount(); n != cfg.SpansPerBody {
					t.Errorf("body %d: %d spans, want %d", b, n, cfg.SpansPerBody)
				}
				if n := td.ResourceSpans().Len(); n != min(cfg.Services, cfg.SpansPerBody) && cfg.SpansPerTrace > 1 {
					t.Errorf("body %d: %d resources, want %d", b, n, cfg.Services)
				}
				byID := map[key]ptrace.Span{}
				events := 0
				allSpans(td, func(_ string, s ptrace.Span) {
					if s.TraceID().IsEmpty() || s.SpanID().IsEmpty() {
						t.Errorf("body %d: empty id in span %q", b, s.Name())
					}
					if spanIDs[s.SpanID()] {
						t.Errorf("body %d: span id %v repeated", b, s.SpanID())
					}
					spanIDs[s.SpanID()] = true
					if ob, ok := traceBody[s.TraceID()]; ok && ob != b {
						t.Errorf("trace %v in bodies %d and %d", s.TraceID(), ob, b)
					}
					traceBody[s.TraceID()] = b
					byID[key{s.TraceID(), s.SpanID()}] = s
					events += s.Events().Len()
				})
				wantEvents := 0
				if cfg.EventEvery > 0 {
					wantEvents = cfg.SpansPerBody / cfg.EventEvery
				}
				if events != wantEvents {
					t.Errorf("body %d: %d events, want %d", b, events, wantEvents)
				}
				roots := 0
				for _, s := range byID {
					if s.StartTimestamp() >= s.EndTimestamp() {
						t.Errorf("span %v: start %v not before end %v", s.SpanID(), s.StartTimestamp(), s.EndTimestamp())
					}
					if s.ParentSpanID().IsEmpty() {
						roots++
						continue
					}
					p, ok := byID[key{s.TraceID(), s.ParentSpanID()}]
					if !ok {
						t.Errorf("span %v: parent %v not in its trace", s.SpanID(), s.ParentSpanID())
						continue
					}
					if s.StartTimestamp() <= p.StartTimestamp() || s.EndTimestamp() >= p.EndTimestamp() {
						t.Errorf("span %v not inside its parent's interval", s.SpanID())
					}
				}
				wantRoots := (cfg.SpansPerBody + cfg.SpansPerTrace - 1) / cfg.SpansPerTrace
				if roots != wantRoots {
					t.Errorf("body %d: %d root spans, want one per trace: %d", b, roots, wantRoots)
				}
			}
		})
	}
}

func TestGenerateDeterministic(t *testing.T) {
	cfg := BodyConfig{Bodies: 4, SpansPerBody: 200, Seed: 42, Start: testStart}
	a, err := Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Errorf("body %d differs between two calls with the same seed", i)
		}
		for j := range i {
			if bytes.Equal(a[i], a[j]) {
				t.Errorf("bodies %d and %d are identical", i, j)
			}
		}
	}
	cfg.Seed = 43
	c, err := Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tdA, _ := Decode(a[0])
	tdC, _ := Decode(c[0])
	first := func(td ptrace.Traces) ptrace.Span {
		return td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	}
	if first(tdA).TraceID() == first(tdC).TraceID() || first(tdA).SpanID() == first(tdC).SpanID() {
		t.Error("seeds 42 and 43 gave the same first ids")
	}
}

func TestGenerateAttributes(t *testing.T) {
	bodies, err := Generate(BodyConfig{Bodies: 1, SpansPerBody: 1000, Services: 4, Start: testStart})
	if err != nil {
		t.Fatal(err)
	}
	td, err := Decode(bodies[0])
	if err != nil {
		t.Fatal(err)
	}
	resKeys := map[string]bool{}
	for _, rs := range td.ResourceSpans().All() {
		for k := range rs.Resource().Attributes().All() {
			resKeys[k] = true
		}
	}
	for _, k := range []string{"service.name", "service.version", "host.name"} {
		if !resKeys[k] {
			t.Errorf("no resource has %q", k)
		}
	}
	values := map[string][]string{}
	eventKeys := map[string]bool{}
	services := map[string]bool{}
	allSpans(td, func(svc string, s ptrace.Span) {
		services[svc] = true
		for k, v := range s.Attributes().All() {
			values[k] = append(values[k], v.AsString())
		}
		for _, e := range s.Events().All() {
			for k := range e.Attributes().All() {
				eventKeys[k] = true
			}
		}
	})
	if len(services) != 4 {
		t.Errorf("spans spread over %d services, want 4", len(services))
	}
	// The keys a real service sends, PII-bearing ones included, each with a
	// value of the shape privacy has to handle.
	want := map[string]*regexp.Regexp{
		"http.request.method":       regexp.MustCompile(`^(GET|POST|PUT|PATCH)$`),
		"http.route":                regexp.MustCompile(`\{id\}`),
		"http.response.status_code": regexp.MustCompile(`^[2-5]\d\d$`),
		"url.path":                  regexp.MustCompile(`/\d+(/|$)`),
		"url.full":                  regexp.MustCompile(`\?email=[a-z]+\.\d+@example\.com$`),
		"server.address":            regexp.MustCompile(`\.internal$|\.local$`),
		"client.address":            regexp.MustCompile(`^203\.0\.113\.\d+$`),
		"user.id":                   regexp.MustCompile(`^u-\d+$`),
		"db.system":                 regexp.MustCompile(`^(postgresql|mysql|redis)$`),
		"db.statement":              regexp.MustCompile(`= \d+ AND email = '[^']+@example\.com'`),
		"thread.id":                 regexp.MustCompile(`^\d+$`),
		"app.session_token":         regexp.MustCompile(`^st_[0-9a-f]{16}$`),
		"customer.note":             regexp.MustCompile(`@example\.com`),
	}
	for k, re := range want {
		vs := values[k]
		if len(vs) == 0 {
			t.Errorf("no span has attribute %q", k)
			continue
		}
		matched := false
		for _, v := range vs {
			matched = matched || re.MatchString(v)
		}
		if !matched {
			t.Errorf("attribute %q: no value matches %v; e.g. %q", k, re, vs[0])
		}
	}
	for _, k := range []string{"log.message", "exception.message"} {
		if !eventKeys[k] {
			t.Errorf("no span event has %q", k)
		}
	}
}

func TestBodyConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     BodyConfig
		wantErr string
	}{
		{"defaults", BodyConfig{}, ""},
		{"negative bodies", BodyConfig{Bodies: -1}, "bodies -1: want 1..1048576"},
		{"negative spans", BodyConfig{SpansPerBody: -5}, "spans per body -5: want at least 1"},
		{"too many spans", BodyConfig{Bodies: 1000, SpansPerBody: 100000}, "more than 20000000 spans in all"},
		{"bad trace length", BodyConfig{SpansPerTrace: -1}, "spans per trace -1"},
		{"too many services", BodyConfig{Services: 7}, "services 7: want 1..6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate error = %v, want containing %q and ErrInvalidConfig", err, tt.wantErr)
			}
			if _, err := Generate(tt.cfg); !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("Generate error = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestDecodeBad(t *testing.T) {
	for _, body := range [][]byte{{0x1f, 0x8b, 0, 0}, {0x0a, 0xff, 0xff}} {
		if _, err := CountSpans(body); !errors.Is(err, ErrBadBody) {
			t.Errorf("CountSpans(%x) error = %v, want ErrBadBody", body, err)
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	for _, gz := range []bool{false, true} {
		name := "protobuf"
		if gz {
			name = "gzip"
		}
		b.Run(name, func(b *testing.B) {
			cfg := BodyConfig{Bodies: 8, SpansPerBody: 1000, Gzip: gz, Start: testStart}
			var size int
			for b.Loop() {
				bodies, err := Generate(cfg)
				if err != nil {
					b.Fatal(err)
				}
				size = 0
				for _, body := range bodies {
					size += len(body)
				}
			}
			spans := float64(cfg.Bodies * cfg.SpansPerBody)
			b.ReportMetric(spans*float64(b.N)/b.Elapsed().Seconds(), "spans/s")
			b.ReportMetric(float64(size)/spans, "bytes/span")
		})
	}
}
