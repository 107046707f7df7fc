package privacy

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestCapLength(t *testing.T) {
	for _, tc := range []struct {
		in    string
		limit int
		want  string
		cut   bool
	}{
		{"short", 16, "short", false},
		{strings.Repeat("a", 20), 16, strings.Repeat("a", 13) + "…", true},
		{strings.Repeat("é", 10), 16, strings.Repeat("é", 6) + "…", true}, // never splits a rune
	} {
		got, cut := capLength(tc.in, tc.limit)
		if got != tc.want || cut != tc.cut || len(got) > tc.limit || !utf8.ValidString(got) {
			t.Errorf("capLength(%q, %d) = %q, %v; want %q, %v", tc.in, tc.limit, got, cut, tc.want, tc.cut)
		}
	}
}

// TestPrecutKeepsWholeTokens: a value cut before its scan never ends in
// part of a token the scan would have recognized whole.
func TestPrecutKeepsWholeTokens(t *testing.T) {
	pad := strings.Repeat("x ", 30)
	in := pad + "jane.doe@example.com trailing"
	for n := 60; n < len(in); n++ {
		limit := (n + scanFactor - 1) / scanFactor
		out := precut(in, limit)
		if strings.Contains(out, "jane") && !strings.Contains(out, "jane.doe@example.com") {
			t.Errorf("limit %d: %q keeps part of the email", limit, out)
		}
	}
	if got := precut(strings.Repeat("y", 1000), 16); got != "" {
		t.Errorf("one long token: %q, want it dropped whole", got)
	}
}

func TestRedactorLimits(t *testing.T) {
	r := newTestRedactor(t, &clock{time.Unix(0, 0)})
	c := NewCounts()
	email := "jane.doe@example.com "
	name := r.SpanName(c, SourceSpan, strings.Repeat(email, 100_000))
	if len(name) > DefaultNameLength || strings.Contains(name, "jane") || c.Get(SourceSpan, KeySpanName, ActionTruncate) != 1 {
		t.Errorf("span name %d bytes %.40q, truncations %d", len(name), name, c.Get(SourceSpan, KeySpanName, ActionTruncate))
	}
}

func TestCountsLimit(t *testing.T) {
	c := NewCountsLimit(16)
	for i := range 1000 {
		c.Add(SourceSpan, "k"+strings.Repeat("x", i), ActionDrop, 1)
	}
	c.Add(SourceSpan, "k", ActionDrop, 1) // a key already named keeps its row
	if c.Len() > 16 || c.Get(SourceSpan, KeyAuditOverCap, ActionDrop) != 1000-15 || c.Get(SourceSpan, "k", ActionDrop) != 2 {
		t.Errorf("%d rows, over cap %d, k %d", c.Len(), c.Get(SourceSpan, KeyAuditOverCap, ActionDrop), c.Get(SourceSpan, "k", ActionDrop))
	}
}

func TestLimitsValidate(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Limits.NameLength = 3
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "limits.name_length") {
		t.Errorf("Validate = %v, want limits.name_length named", err)
	}
	cfg.Limits = Limits{}
	if err := cfg.Validate(); err != nil {
		t.Errorf("zero limits (defaults): %v", err)
	}
}
