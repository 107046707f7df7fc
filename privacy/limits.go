package privacy

import (
	"fmt"
	"unicode/utf8"
)

// Limits bound what one sender can make the store keep. Every bound counts
// what it cut in the audit: a shortened value as [ActionTruncate] under its
// key, attributes past AttributesPerItem as drop under [KeyAttributesOverCap],
// keys past AuditKeys as their action under [KeyAuditOverCap]. A zero field
// takes its default; a negative one is invalid.
type Limits struct {
	// NameLength bounds span, event and log event names, in bytes
	// (default 256).
	NameLength int `yaml:"name_length"`
	// ValueLength bounds string attribute values kept or normalized,
	// service names and routes among them (default 256).
	ValueLength int `yaml:"value_length"`
	// MessageLength bounds status and exception messages after templating
	// (default 512).
	MessageLength int `yaml:"message_length"`
	// StatementLength bounds SQL fingerprints (default 2048).
	StatementLength int `yaml:"statement_length"`
	// AttributesPerItem is how many attributes of one resource, span, span
	// event or log record are examined; the rest are dropped unread
	// (default 128, the OpenTelemetry SDKs' own attribute count limit).
	AttributesPerItem int `yaml:"attributes_per_item"`
	// AuditKeys is how many distinct keys one request's audit counts name;
	// the counts of further keys go to KeyAuditOverCap (default 256).
	AuditKeys int `yaml:"audit_keys"`
}

// Default limits.
const (
	DefaultNameLength        = 256
	DefaultValueLength       = 256
	DefaultMessageLength     = 512
	DefaultStatementLength   = 2048
	DefaultAttributesPerItem = 128
	DefaultAuditKeys         = 256
)

// Audit keys of the limits. They are never attribute keys a sender chose.
const (
	// KeyAttributesOverCap counts the attributes past Limits.AttributesPerItem.
	KeyAttributesOverCap = "(attributes over cap)"
	// KeyAuditOverCap counts decisions on keys past Limits.AuditKeys.
	KeyAuditOverCap = "(keys over cap)"
)

// ActionTruncate records a value shortened to its limit (see [Limits]). It is
// counted besides the value's own action.
const ActionTruncate Action = "truncate"

// minLength is the smallest configurable length: room for a placeholder.
const minLength = 16

// withDefaults returns l with zero fields set to their defaults.
func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.NameLength, DefaultNameLength)
	def(&l.ValueLength, DefaultValueLength)
	def(&l.MessageLength, DefaultMessageLength)
	def(&l.StatementLength, DefaultStatementLength)
	def(&l.AttributesPerItem, DefaultAttributesPerItem)
	def(&l.AuditKeys, DefaultAuditKeys)
	return l
}

func (l Limits) validate() error {
	for _, f := range []struct {
		name string
		v    int
		min  int
	}{
		{"name_length", l.NameLength, minLength},
		{"value_length", l.ValueLength, minLength},
		{"message_length", l.MessageLength, minLength},
		{"statement_length", l.StatementLength, minLength},
		{"attributes_per_item", l.AttributesPerItem, 1},
		{"audit_keys", l.AuditKeys, 16},
	} {
		if f.v != 0 && f.v < f.min {
			return fmt.Errorf("limits.%s: %d is below %d (0 means the default)", f.name, f.v, f.min)
		}
	}
	return nil
}

// ellipsis ends a shortened value.
const ellipsis = "…"

// capLength shortens s to at most limit bytes, on a rune boundary, ending it
// with an ellipsis; it reports whether it did.
func capLength(s string, limit int) (string, bool) {
	if len(s) <= limit {
		return s, false
	}
	cut := limit - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis, true
}

// scanFactor bounds the input the normalizers and PII scans read: a value
// longer than scanFactor times its limit is cut first (see precut), so a
// 1 MiB value costs no more than a short one.
const scanFactor = 4

// precut cuts s to at most scanFactor*limit bytes before it is scanned,
// backing up to the last separator so that no partial token (half an email,
// the first digits of a card) escapes the scan that would have recognized
// the whole; a token with no separator before the cut is dropped whole.
func precut(s string, limit int) string {
	n := scanFactor * limit
	if len(s) <= n {
		return s
	}
	for i := n; i > 0; i-- {
		if isSeparator(s[i]) {
			return s[:i]
		}
	}
	return ""
}

// isSeparator reports bytes that end a token: ASCII space and punctuation
// that PII and identifiers do not contain.
func isSeparator(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', ',', ';', '|', '(', ')', '[', ']', '{', '}', '<', '>', '"', '\'', '`':
		return true
	}
	return false
}

// bounded applies precut, fn and capLength to s, counting a truncation under
// key.
func bounded(c *Counts, src Source, key, s string, limit int, fn func(string) (string, Action)) (string, Action) {
	in := precut(s, limit)
	out, act := fn(in)
	out, cut := capLength(out, limit)
	if cut || len(in) < len(s) {
		c.Add(src, key, ActionTruncate, 1)
		if act == ActionKeep {
			act = ActionNormalize
		}
	}
	return out, act
}
