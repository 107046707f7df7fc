package privacy

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/debugai/debugai/evidence"
)

// Keys under which names are counted.
const (
	KeySpanName  = "span.name"
	KeyEventName = "event.name"
)

// Redactor applies a privacy policy. It is safe for concurrent use.
type Redactor struct {
	ring     *KeyRing
	exact    map[string]ruleRef
	prefixes [256][]prefixRule // by first byte of the prefix
	def      ruleRef
	lim      Limits
	vocab    map[string]bool // message words kept (lower case)

	names    *cache // span and event names
	urls     *cache
	sqls     *cache // tag = query id
	messages *cache
}

type ruleRef struct {
	idx  int
	act  Action
	norm Normalizer
}

type prefixRule struct {
	prefix string // including the trailing '.'
	ruleRef
}

// NewRedactor validates cfg and returns a Redactor that tokenizes with ring.
func NewRedactor(cfg Config, ring *KeyRing) (*Redactor, error) {
	if ring == nil {
		return nil, errors.New("creating redactor: nil key ring")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("creating redactor: %w", err)
	}
	r := &Redactor{
		ring:     ring,
		exact:    make(map[string]ruleRef, len(cfg.Attributes)),
		def:      ruleRef{idx: math.MaxInt, act: cfg.Default},
		lim:      cfg.Limits.withDefaults(),
		names:    newCache(8192, 256),
		urls:     newCache(8192, 512),
		sqls:     newCache(4096, 4096),
		messages: newCache(4096, 1024),
	}
	r.vocab = make(map[string]bool, len(messageWords)+len(cfg.Messages.Words))
	for w := range messageWords {
		r.vocab[w] = true
	}
	for w := range sqlKeywords {
		r.vocab[strings.ToLower(w)] = true
	}
	for _, w := range cfg.Messages.Words {
		r.vocab[strings.ToLower(w)] = true
	}
	for i, rule := range cfg.Attributes {
		ref := ruleRef{idx: i, act: rule.Action, norm: rule.Normalizer}
		if p, ok := strings.CutSuffix(rule.Match, "*"); ok {
			r.prefixes[p[0]] = append(r.prefixes[p[0]], prefixRule{prefix: p, ruleRef: ref})
			continue
		}
		if _, dup := r.exact[rule.Match]; !dup {
			r.exact[rule.Match] = ref
		}
	}
	return r, nil
}

// decide returns the first rule matching key, else the default.
func (r *Redactor) decide(key string) ruleRef {
	best, ok := r.exact[key]
	if !ok {
		best = r.def
	}
	if key != "" {
		for _, p := range r.prefixes[key[0]] {
			if p.idx > best.idx {
				break // prefix rules are in rule order
			}
			if len(key) > len(p.prefix) && key[:len(p.prefix)] == p.prefix {
				best = p.ruleRef
				break
			}
		}
	}
	if best.act == ActionNormalize && best.norm == "" {
		best.norm = inferNormalizer(key)
	}
	return best
}

// ActionFor returns the configured action for key (keep, tokenize,
// normalize or drop), without applying it.
func (r *Redactor) ActionFor(key string) Action { return r.decide(key).act }

// Attribute decides one attribute from src. It returns the value to store and
// true, or false when the attribute is dropped, and counts the action taken
// in c (which may be nil): keep, tokenize, normalize (the value changed),
// redact (PII was replaced) or drop. Composite values must arrive as their
// string (JSON) form.
func (r *Redactor) Attribute(c *Counts, src Source, key string, v evidence.Value) (evidence.Value, bool) {
	rule := r.decide(key)
	if _, exact := r.exact[key]; !exact && !ValidKey(key) {
		// Not an identifier (an e-mail address, a sentence): counted
		// without its text. Keys a rule names exactly are the operator's.
		c.Add(src, KeyInvalid, ActionDrop, 1)
		return evidence.Value{}, false
	}
	if rule.act == ActionKeep && !typedKeyOK(key, v) {
		c.Add(src, key, ActionDrop, 1)
		return evidence.Value{}, false
	}
	switch rule.act {
	case ActionKeep:
		if v.Kind != evidence.KindString {
			c.Add(src, key, ActionKeep, 1)
			return v, true
		}
		if len(v.Str) > r.lim.ValueLength {
			out, act := bounded(c, src, key, v.Str, r.lim.ValueLength, scanKept)
			c.Add(src, key, act, 1)
			return evidence.StringValue(out), true
		}
		out, found := redactPII(v.Str)
		if found {
			c.Add(src, key, ActionRedact, 1)
			return evidence.StringValue(out), true
		}
		c.Add(src, key, ActionKeep, 1)
		return v, true
	case ActionTokenize:
		c.Add(src, key, ActionTokenize, 1)
		s := v.Str
		if v.Kind != evidence.KindString {
			s = v.String()
		}
		if s == "" {
			return evidence.StringValue(""), true
		}
		return evidence.StringValue(r.ring.Token(s)), true
	case ActionNormalize:
		s := v.Str
		if v.Kind != evidence.KindString {
			s = v.String()
		}
		out, act := r.normalize(c, src, key, rule.norm, s)
		c.Add(src, key, act, 1)
		return evidence.StringValue(out), true
	}
	c.Add(src, key, ActionDrop, 1)
	return evidence.Value{}, false
}

// normalize applies a normalizer, a PII scan and the normalizer's length
// limit (a truncation is counted under key), returning the action to count:
// redact when PII was found, normalize when the value changed, keep
// otherwise.
func (r *Redactor) normalize(c *Counts, src Source, key string, n Normalizer, s string) (string, Action) {
	switch n {
	case NormalizeURL:
		return r.url(c, src, key, s)
	case NormalizeSQL:
		fp, _, act := r.sql(c, src, key, s)
		return fp, act
	}
	return r.message(c, src, key, s)
}

// scanKept is the PII scan of a kept value as a bounded step.
func scanKept(s string) (string, Action) {
	out, found := redactPII(s)
	if found {
		return out, ActionRedact
	}
	return out, ActionKeep
}

func (r *Redactor) url(c *Counts, src Source, key, u string) (string, Action) {
	if len(u) <= r.lim.ValueLength {
		return r.cached(r.urls, u, scanURL)
	}
	return bounded(c, src, key, u, r.lim.ValueLength, func(s string) (string, Action) { return r.cached(r.urls, s, scanURL) })
}

func (r *Redactor) message(c *Counts, src Source, key, msg string) (string, Action) {
	if len(msg) <= r.lim.MessageLength {
		return r.cached(r.messages, msg, r.templateMessage)
	}
	return bounded(c, src, key, msg, r.lim.MessageLength, func(s string) (string, Action) { return r.cached(r.messages, s, r.templateMessage) })
}

// templateMessage is redactMessage followed by templateWords.
func (r *Redactor) templateMessage(s string) (string, bool) {
	out, pii := redactMessage(s)
	return templateWords(out, r.vocab), pii
}

// scanName templates the paths of a name, scans it for PII and templates
// the words of a name of several parts.
func (r *Redactor) scanName(s string) (string, bool) {
	out, pii := redactPII(templateName(s))
	return templateNameWords(out, r.vocab), pii
}

// cached runs fn (a normalizer that also scans for PII and reports whether
// it found any) on s, remembering the result in ch.
func (r *Redactor) cached(ch *cache, s string, fn func(string) (string, bool)) (string, Action) {
	if s == "" {
		return s, ActionKeep
	}
	if e, ok := ch.get(s); ok {
		return e.out, e.act
	}
	out, found := fn(s)
	act := ActionKeep
	switch {
	case found:
		act = ActionRedact
	case out != s:
		act = ActionNormalize
	}
	ch.put(s, cacheEntry{out: out, act: act})
	return out, act
}

// sql fingerprints q, bounded by Limits.StatementLength (a truncation is
// counted under key).
func (r *Redactor) sql(c *Counts, src Source, key, q string) (fp, id string, act Action) {
	if len(q) <= r.lim.StatementLength {
		return r.sqlFingerprint(q)
	}
	fp, act = bounded(c, src, key, q, r.lim.StatementLength, func(s string) (string, Action) {
		fp, _, act := r.sqlFingerprint(s)
		return fp, act
	})
	return fp, QueryID(fp), act
}

func (r *Redactor) sqlFingerprint(q string) (fp, id string, act Action) {
	if q == "" {
		return "", "", ActionKeep
	}
	if e, ok := r.sqls.get(q); ok {
		return e.out, e.tag, e.act
	}
	fp, _ = FingerprintSQL(q)
	fp, found := redactPII(fp)
	act = ActionKeep
	switch {
	case found:
		act = ActionRedact
	case fp != q:
		act = ActionNormalize
	}
	id = QueryID(fp)
	r.sqls.put(q, cacheEntry{out: fp, act: act, tag: id})
	return fp, id, act
}

// SQL fingerprints a statement (see [FingerprintSQL]), scans the fingerprint
// for PII, and returns it with its query id; it is counted under key.
func (r *Redactor) SQL(c *Counts, src Source, key, q string) (fingerprint, queryID string) {
	fp, id, act := r.sql(c, src, key, q)
	c.Add(src, key, act, 1)
	return fp, id
}

// URL keeps only the path template of a URL or request target (see
// [TemplatePath]), scanned for PII, counted under key.
func (r *Redactor) URL(c *Counts, src Source, key, u string) string {
	out, act := r.url(c, src, key, u)
	c.Add(src, key, act, 1)
	return out
}

// SpanName templates URL paths inside a span name ("GET /orders/123" becomes
// "GET /orders/{id}") and replaces PII. It is counted under "span.name":
// redact when PII was found, normalize when the name changed, keep otherwise.
func (r *Redactor) SpanName(c *Counts, src Source, name string) string {
	return r.Name(c, src, KeySpanName, name)
}

// EventName is SpanName for span event names, counted under "event.name"
// from [SourceSpanEvent].
func (r *Redactor) EventName(c *Counts, name string) string {
	return r.Name(c, SourceSpanEvent, KeyEventName, name)
}

// Name is SpanName with an explicit source and audit key (log event names,
// kernel stream names).
func (r *Redactor) Name(c *Counts, src Source, key, name string) string {
	var out string
	var act Action
	switch {
	case len(name) > r.lim.NameLength:
		out, act = bounded(c, src, key, name, r.lim.NameLength, func(s string) (string, Action) { return r.cached(r.names, s, r.scanName) })
	case len(name) <= 64 && strings.IndexByte(name, '/') < 0:
		// No path to template: the PII scan alone is cheaper than the cache.
		out, act = name, ActionKeep
		if o, found := redactPII(name); found {
			out, act = o, ActionRedact
		}
		if o := templateNameWords(out, r.vocab); o != out {
			out = o
			if act == ActionKeep {
				act = ActionNormalize
			}
		}
	default:
		out, act = r.cached(r.names, name, r.scanName)
	}
	c.Add(src, key, act, 1)
	return out
}

var scanURL = scanned(normalizeURL)

// scanned returns fn followed by the PII scan.
func scanned(fn func(string) string) func(string) (string, bool) {
	return func(s string) (string, bool) { return redactPII(fn(s)) }
}

// templateName templates every space-separated part of a name that looks
// like a URL path or a URL.
func templateName(name string) string {
	if strings.IndexByte(name, '/') < 0 {
		return name
	}
	var b strings.Builder
	changed := false
	start := 0
	for i := 0; i <= len(name); i++ {
		if i < len(name) && name[i] != ' ' {
			continue
		}
		part := name[start:i]
		out := part
		switch {
		case strings.HasPrefix(part, "/"):
			out = TemplatePath(part)
		case strings.Contains(part, "://"):
			out = normalizeURL(part)
		}
		if out != part && !changed {
			changed = true
			b.WriteString(name[:start])
		}
		if changed {
			b.WriteString(out)
			if i < len(name) {
				b.WriteByte(' ')
			}
		}
		start = i + 1
	}
	if !changed {
		return name
	}
	return b.String()
}

// Message redacts a status or exception message: it keeps the message's
// shape but none of its values. PII becomes typed placeholders; quoted
// strings, numbers of 4+ digits, UUIDs, hex strings and other words with 4+
// digits become {str}, {num}, {uuid}, {hex} and {id}. "" stays "". It is
// counted under key: redact when PII was found, normalize when the message
// changed, keep otherwise.
func (r *Redactor) Message(c *Counts, src Source, key, msg string) string {
	out, act := r.message(c, src, key, msg)
	c.Add(src, key, act, 1)
	return out
}

// Text replaces PII in s by typed placeholders and reports whether it
// replaced anything. It returns s itself, without allocating, when not.
func (r *Redactor) Text(s string) (string, bool) { return redactPII(s) }

// Token returns value's token under the current key, counted as tokenize
// under key. The empty string stays empty.
func (r *Redactor) Token(c *Counts, src Source, key, value string) string {
	c.Add(src, key, ActionTokenize, 1)
	if value == "" {
		return ""
	}
	return r.ring.Token(value)
}

// TokenInt is Token for an integer identifier (its decimal form).
func (r *Redactor) TokenInt(c *Counts, src Source, key string, v int64) string {
	return r.Token(c, src, key, strconv.FormatInt(v, 10))
}

// Limits returns the limits the Redactor applies, defaults filled in.
func (r *Redactor) Limits() Limits { return r.lim }

// NewCounts returns an empty Counts that names at most Limits.AuditKeys
// distinct keys (see [NewCountsLimit]).
func (r *Redactor) NewCounts() *Counts { return NewCountsLimit(r.lim.AuditKeys) }

// KeyRing returns the key ring the Redactor tokenizes with.
func (r *Redactor) KeyRing() *KeyRing { return r.ring }
