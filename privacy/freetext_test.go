package privacy

import (
	"strings"
	"testing"
	"time"

	"github.com/debugai/debugai/evidence"
)

// names are the canaries: person names, and a place.
var names = []string{"Jane", "Doe", "Okonkwo", "Zoë", "MARGARETHE", "Winterbottom"}

func TestMessageDropsNames(t *testing.T) {
	r := newTestRedactor(t, &clock{time.Unix(0, 0)})
	for _, tc := range []struct{ in, want string }{
		{"denied Jane Doe ssn 123-45-6789", "denied {word} {word} {word} {num}"},
		{"user Okonkwo Winterbottom not found", "user {word} {word} not found"},
		{"payment declined for Zoë MARGARETHE", "payment declined for {word} {word}"},
		{"java.lang.NullPointerException at getUser(): IO error", "java.lang.NullPointerException at getUser(): IO error"},
		{"connection refused", "connection refused"},
		{"can't open file, don't retry", "can't open file, don't retry"},
		{"order {num} failed after 3 retries", "order {num} failed after 3 retries"},
	} {
		got := r.Message(nil, SourceSpan, "status.message", tc.in)
		if got != tc.want {
			t.Errorf("Message(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if again := r.Message(nil, SourceSpan, "status.message", got); again != got {
			t.Errorf("not idempotent: %q -> %q", got, again)
		}
	}
}

func TestMessageWordsAllowList(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Messages.Words = []string{"Reconciler", "ssn"}
	r, err := NewRedactor(cfg, newTestRing(t, &clock{time.Unix(0, 0)}))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Message(nil, SourceSpan, "k", "reconciler denied Jane ssn"); got != "reconciler denied {word} ssn" {
		t.Errorf("allow-listed words: %q", got)
	}
	cfg.Messages.Words = []string{"two words"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "messages.words[0]") {
		t.Errorf("Validate = %v, want messages.words[0] named", err)
	}
}

func TestNamesDropWords(t *testing.T) {
	r := newTestRedactor(t, &clock{time.Unix(0, 0)})
	for _, tc := range []struct{ in, want string }{
		{"GET /orders/123", "GET /orders/{id}"},
		{"POST /entries", "POST /entries"},
		{"ledger.commit", "ledger.commit"},
		{"debugai.bank.v1.Ledger/Authorize", "debugai.bank.v1.Ledger/Authorize"},
		{"refund for Jane Doe", "refund for {word} {word}"},
		{"SELECT orders", "SELECT orders"},
	} {
		if got := r.SpanName(nil, SourceSpan, tc.in); got != tc.want {
			t.Errorf("SpanName(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got := r.Name(nil, SourceLog, KeyEventName, tc.in); got != tc.want {
			t.Errorf("Name(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestInvalidKeysCountedWithoutText(t *testing.T) {
	r := newTestRedactor(t, &clock{time.Unix(0, 0)})
	c := NewCounts()
	for _, k := range []string{"jane.doe@example.com", "Jane Doe", "user.4111111111111111", "+1 555 0100", ""} {
		if _, ok := r.Attribute(c, SourceSpan, k, evidence.StringValue("v")); ok {
			t.Errorf("key %q kept", k)
		}
	}
	for _, e := range c.Entries() {
		if e.Key != KeyInvalid {
			t.Errorf("audit row names %q", e.Key)
		}
	}
	if c.Get(SourceSpan, KeyInvalid, ActionDrop) != 5 {
		t.Errorf("counts %v", c.Entries())
	}
	for _, k := range []string{"http.route", "k8s.pod.labels.app.kubernetes.io/name", "x-request-id", "_private"} {
		if !ValidKey(k) {
			t.Errorf("ValidKey(%q) = false", k)
		}
	}
}
