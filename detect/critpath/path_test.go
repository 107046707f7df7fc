package critpath

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/debugai/debugai/evidence"
)

var testTrace = evidence.TraceID{0xab, 1}

// span builds a span of testTrace; ids and parents are small numbers, 0 =
// no parent. The name doubles as the segment label in expectations.
func span(id, parent byte, name string, start, end int64) evidence.Span {
	s := evidence.Span{
		TraceID: testTrace, SpanID: evidence.SpanID{7: id},
		Service: "svc", Name: name, StartNS: start, EndNS: end,
	}
	if parent != 0 {
		s.ParentSpanID = evidence.SpanID{7: parent}
	}
	return s
}

// render writes segments as "name:start-end ...".
func render(p Path) string {
	var b strings.Builder
	for i, s := range p.Segments {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s:%d-%d", s.Name, s.StartNS, s.EndNS)
	}
	return b.String()
}

// checkPartition asserts the segments tile [StartNS, EndNS] in order and
// that every field is consistent with the input.
func checkPartition(t *testing.T, spans []evidence.Span, p Path) {
	t.Helper()
	at, sum := p.StartNS, int64(0)
	for i, s := range p.Segments {
		if s.StartNS != at || s.EndNS <= s.StartNS || s.SelfNS != s.EndNS-s.StartNS {
			t.Fatalf("segment %d %+v: want start %d, positive length, SelfNS = length", i, s, at)
		}
		if in := spans[s.Index]; in.SpanID != s.SpanID || in.Name != s.Name || in.Service != s.Service {
			t.Fatalf("segment %d %+v: Index %d names span %s %q", i, s, s.Index, in.SpanID, in.Name)
		}
		at = s.EndNS
		sum += s.SelfNS
	}
	if len(p.Segments) > 0 && at != p.EndNS {
		t.Fatalf("segments end at %d, root at %d", at, p.EndNS)
	}
	if sum != p.DurationNS() {
		t.Fatalf("segments sum to %d, root lasts %d", sum, p.DurationNS())
	}
}

func TestCriticalPath(t *testing.T) {
	tests := []struct {
		name  string
		spans []evidence.Span
		want  string
		root  string // root span name, default "root"
		roots int    // default 1
		dups  int
	}{
		{
			name:  "single span",
			spans: []evidence.Span{span(1, 0, "root", 0, 100)},
			want:  "root:0-100",
		},
		{
			name: "sequential children touching at the same ns",
			spans: []evidence.Span{
				span(1, 0, "root", 0, 100), span(2, 1, "A", 10, 40), span(3, 1, "B", 40, 90),
			},
			want: "root:0-10 A:10-40 B:40-90 root:90-100",
		},
		{
			name: "parallel children: only the last finishing one",
			spans: []evidence.Span{
				span(1, 0, "root", 0, 100), span(2, 1, "A", 10, 60), span(3, 1, "B", 20, 80),
			},
			want: "root:0-20 B:20-80 root:80-100",
		},
		{
			name: "fan-out then a dependent call",
			spans: []evidence.Span{
				span(1, 0, "root", 0, 100), span(2, 1, "A", 10, 50), span(3, 1, "B", 10, 30),
				span(4, 1, "C", 50, 90),
			},
			want: "root:0-10 A:10-50 C:50-90 root:90-100",
		},
		{
			name: "gaps between children are parent self time",
			spans: []evidence.Span{
				span(1, 0, "root", 0, 100), span(2, 1, "A", 10, 20), span(3, 1, "B", 50, 60),
			},
			want: "root:0-10 A:10-20 root:20-50 B:50-60 root:60-100",
		},
		{
			name: "nested",
			spans: []evidence.Span{
				span(1, 0, "root", 0, 100), span(2, 1, "P", 10, 90), span(3, 2, "C", 20, 80),
				span(4, 3, "D", 30, 40), span(5, 3, "E", 50, 70),
			},
			want: "root:0-10 P:10-20 C:20-30 D:30-40 C:40-50 E:50-70 C:70-80 P:80-90 root:90-100",
		},
		{
			name: "fire-and-forget child the parent did not wait for",
			spans: []evidence.Span{
				span(1, 0, "root", 0, 100), span(2, 1, "A", 10, 90), span(3, 1, "F", 20, 30),
			},
			want: "root:0-10 A:10-90 root:90-100",
		},
		{
			name: "async child outliving its parent is clipped at the parent's end",
			spans: []evidence.Span{
				span(1, 0, "root", 0, 100), span(2, 1, "A", 10, 40), span(3, 1, "async", 50, 300),
				span(4, 3, "late", 120, 250),
			},
			want: "root:0-10 A:10-40 root:40-50 async:50-100",
		},
		{
			name: "child starting before its parent is clipped at the parent's start",
			spans: []evidence.Span{
				span(1, 0, "root", 0, 100), span(2, 1, "P", 10, 90), span(3, 2, "C", 5, 50),
			},
			want: "root:0-10 C:10-50 P:50-90 root:90-100",
		},
		{
			name: "clock skew: child wholly after its parent contributes nothing",
			spans: []evidence.Span{
				span(1, 0, "root", 0, 100), span(2, 1, "skewed", 150, 200), span(3, 2, "deeper", 160, 170),
			},
			want: "root:0-100",
		},
		{
			name: "clock skew: child straddling its parent's end",
			spans: []evidence.Span{
				span(1, 0, "root", 0, 100), span(2, 1, "A", 20, 60), span(3, 1, "skewed", 80, 130),
			},
			want: "root:0-20 A:20-60 root:60-80 skewed:80-100",
		},
		{
			name: "skewed child clips against its clipped parent",
			spans: []evidence.Span{
				span(1, 0, "root", 0, 100), span(2, 1, "P", 50, 150), span(3, 2, "C", 90, 140),
			},
			want: "root:0-50 P:50-90 C:90-100",
		},
		{
			name: "zero-length children",
			spans: []evidence.Span{
				span(1, 0, "root", 0, 100), span(2, 1, "Z", 60, 60), span(3, 1, "A", 10, 50),
				span(4, 1, "Z2", 50, 50),
			},
			want: "root:0-10 A:10-50 root:50-100",
		},
		{
			name:  "zero-length root",
			spans: []evidence.Span{span(1, 0, "root", 5, 5), span(2, 1, "A", 5, 9)},
			want:  "",
		},
		{
			name: "span ending before it starts is zero-length",
			spans: []evidence.Span{
				span(1, 0, "root", 0, 100), span(2, 1, "bad", 50, 40),
			},
			want: "root:0-100",
		},
		{
			name: "orphan subtree is detached, the root keeps its path",
			spans: []evidence.Span{
				span(1, 0, "root", 0, 100), span(2, 1, "A", 10, 90),
				span(3, 99, "orphan", 20, 50), span(4, 3, "under-orphan", 30, 40),
			},
			want:  "root:0-10 A:10-90 root:90-100",
			roots: 2,
		},
		{
			name: "missing root: the longest parentless span is the root",
			spans: []evidence.Span{
				span(2, 99, "short", 10, 20), span(3, 99, "long", 0, 200), span(4, 3, "C", 50, 150),
			},
			want:  "long:0-50 C:50-150 long:150-200",
			root:  "long",
			roots: 2,
		},
		{
			name: "equal-length roots: the earlier start wins",
			spans: []evidence.Span{
				span(2, 0, "late", 10, 110), span(3, 0, "early", 0, 100),
			},
			want:  "early:0-100",
			root:  "early",
			roots: 2,
		},
		{
			name: "self-parented span is a root",
			spans: []evidence.Span{
				span(1, 1, "root", 0, 100), span(2, 1, "A", 10, 90),
			},
			want: "root:0-10 A:10-90 root:90-100",
		},
		{
			name: "duplicate span ids: the first wins",
			spans: []evidence.Span{
				span(1, 0, "root", 0, 100), span(2, 1, "A", 10, 40), span(2, 1, "A-again", 10, 95),
				span(1, 0, "root-again", 0, 500),
			},
			want: "root:0-10 A:10-40 root:40-100",
			dups: 2,
		},
		{
			name: "input order does not matter",
			spans: []evidence.Span{
				span(4, 1, "C", 50, 90), span(3, 1, "B", 10, 30), span(1, 0, "root", 0, 100),
				span(2, 1, "A", 10, 50),
			},
			want: "root:0-10 A:10-50 C:50-90 root:90-100",
		},
	}
	var tr Tracer // shared: buffers must not leak between traces
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tr.Path(tt.spans)
			if err != nil {
				t.Fatal(err)
			}
			if got := render(p); got != tt.want {
				t.Errorf("path:\n got  %s\n want %s", got, tt.want)
			}
			root, roots := tt.root, tt.roots
			if root == "" {
				root = "root"
			}
			if roots == 0 {
				roots = 1
			}
			if got := tt.spans[p.RootIndex].Name; got != root || tt.spans[p.RootIndex].SpanID != p.Root {
				t.Errorf("root %q (%s), want %q", got, p.Root, root)
			}
			if p.Roots != roots || p.Duplicates != tt.dups {
				t.Errorf("roots %d, duplicates %d; want %d, %d", p.Roots, p.Duplicates, roots, tt.dups)
			}
			if p.TraceID != testTrace {
				t.Errorf("trace id %s", p.TraceID)
			}
			checkPartition(t, tt.spans, p)
		})
	}
}

func TestCriticalPathErrors(t *testing.T) {
	other := span(2, 1, "A", 10, 20)
	other.TraceID = evidence.TraceID{0xcd}
	tests := []struct {
		name  string
		spans []evidence.Span
		want  error
	}{
		{"no spans", nil, ErrNoSpans},
		{"mixed traces", []evidence.Span{span(1, 0, "root", 0, 100), other}, ErrMixedTraces},
		{"parent cycle", []evidence.Span{span(1, 2, "A", 0, 100), span(2, 1, "B", 0, 100)}, ErrNoRoot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CriticalPath(tt.spans)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
		})
	}
}
