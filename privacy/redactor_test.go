package privacy

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/debugai/debugai/evidence"
)

func newTestRedactor(t testing.TB, c *clock) *Redactor {
	t.Helper()
	if c == nil {
		c = &clock{time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	}
	ring, err := NewKeyRing(testSecret, KeyConfig{Rotation: 24 * time.Hour, Lookback: 12 * time.Hour}, c.now)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRedactor(DefaultConfig(), ring)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestNewRedactorErrors(t *testing.T) {
	ring, err := NewKeyRing(testSecret, KeyConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewRedactor(DefaultConfig(), nil); err == nil || !strings.Contains(err.Error(), "nil key ring") {
		t.Errorf("nil ring: err = %v", err)
	}
	cfg := DefaultConfig()
	cfg.Default = "maybe"
	if _, err := NewRedactor(cfg, ring); err == nil || !strings.Contains(err.Error(), "default: unknown action") {
		t.Errorf("bad config: err = %v", err)
	}
}

func TestPolicyActions(t *testing.T) {
	r := newTestRedactor(t, nil)
	for key, want := range map[string]Action{
		"service.name":         ActionKeep,
		"k8s.pod.uid":          ActionKeep,
		"k8s.pod.labels.owner": ActionDrop,
		"rpc.method":           ActionKeep,
		"rpc.grpc.request.metadata.authorization": ActionDrop,
		"rpc":                               ActionDrop,
		"telemetry.sdk.language":            ActionKeep,
		"feature_flag.variant":              ActionKeep,
		"feature_flag.context.id":           ActionTokenize,
		"debugai.kernel.version":            ActionKeep,
		"vcs.ref.head.revision":             ActionKeep,
		"vcs.owner.name":                    ActionDrop,
		"git.commit.sha":                    ActionKeep,
		"user.id":                           ActionTokenize,
		"user.email":                        ActionTokenize,
		"enduser.pseudo.id":                 ActionTokenize,
		"client.address":                    ActionTokenize,
		"server.address":                    ActionTokenize,
		"db.user":                           ActionTokenize,
		"url.full":                          ActionNormalize,
		"db.query.text":                     ActionNormalize,
		"exception.message":                 ActionNormalize,
		"exception.stacktrace":              ActionDrop,
		"url.query":                         ActionDrop,
		"http.request.header.authorization": ActionDrop,
		"log.level":                         ActionDrop,
		"some.unknown.key":                  ActionDrop,
		"":                                  ActionDrop,
	} {
		if got := r.ActionFor(key); got != want {
			t.Errorf("ActionFor(%q) = %s, want %s", key, got, want)
		}
	}
}

func TestPrefixRuleOrder(t *testing.T) {
	ring, err := NewKeyRing(testSecret, KeyConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Keys: DefaultConfig().Keys, Default: ActionKeep, Attributes: []Rule{
		{Match: "app.secret.*", Action: ActionDrop},
		{Match: "app.secret.public", Action: ActionKeep}, // shadowed by the earlier prefix
		{Match: "app.id", Action: ActionTokenize},
		{Match: "app.*", Action: ActionNormalize, Normalizer: NormalizeURL},
	}}
	r, err := NewRedactor(cfg, ring)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]Action{
		"app.secret.public": ActionDrop, "app.secret.x": ActionDrop, "app.id": ActionTokenize,
		"app.link": ActionNormalize, "other": ActionKeep,
	} {
		if got := r.ActionFor(key); got != want {
			t.Errorf("ActionFor(%q) = %s, want %s", key, got, want)
		}
	}
	v, ok := r.Attribute(nil, SourceSpan, "app.link", evidence.StringValue("https://x.io/a/12?q=1"))
	if !ok || v.Str != "/a/{id}" {
		t.Errorf("explicit url normalizer: %v %v", v, ok)
	}
}

func TestAttribute(t *testing.T) {
	r := newTestRedactor(t, nil)
	tok := r.KeyRing().Token
	for _, tc := range []struct {
		src    Source
		key    string
		in     evidence.Value
		want   evidence.Value
		keep   bool
		action Action
	}{
		{SourceResource, "service.name", evidence.StringValue("checkout"), evidence.StringValue("checkout"), true, ActionKeep},
		{SourceResource, "process.pid", evidence.IntValue(42), evidence.IntValue(42), true, ActionKeep},
		{SourceSpan, "http.response.status_code", evidence.IntValue(500), evidence.IntValue(500), true, ActionKeep},
		{SourceSpan, "exception.escaped", evidence.BoolValue(true), evidence.BoolValue(true), true, ActionKeep},
		{SourceSpan, "thread.name", evidence.StringValue("mail bob@example.com"), evidence.StringValue("mail {email}"), true, ActionRedact},
		{SourceSpan, "debugai.note", evidence.StringValue("mail bob@example.com"), evidence.Value{}, false, ActionDrop}, // not a documented debugai key
		{SourceKernel, "debugai.stream", evidence.StringValue("futex_wait-dn45"), evidence.StringValue("futex_wait-dn45"), true, ActionKeep},
		{SourceKernel, "debugai.stream", evidence.StringValue("held by Jane Doe"), evidence.Value{}, false, ActionDrop}, // not one token
		{SourceKernel, "debugai.duration_ns", evidence.StringValue("12"), evidence.Value{}, false, ActionDrop},          // documented as int
		{SourceKernel, "debugai.duration_ns", evidence.IntValue(12), evidence.IntValue(12), true, ActionKeep},
		// The node's kernel.anomaly spans: exactly these keys and types.
		{SourceSpan, "kernel.anomaly", evidence.BoolValue(true), evidence.BoolValue(true), true, ActionKeep},
		{SourceSpan, "kernel.anomaly", evidence.StringValue("true because Jane Doe"), evidence.Value{}, false, ActionDrop}, // documented as bool
		{SourceSpan, "debugai.anomaly.kind", evidence.StringValue("futex_wait"), evidence.StringValue("futex_wait"), true, ActionKeep},
		{SourceSpan, "debugai.anomaly.kind", evidence.StringValue("slow for Jane Doe"), evidence.Value{}, false, ActionDrop}, // not one token
		{SourceSpan, "debugai.anomaly.kind", evidence.IntValue(3), evidence.Value{}, false, ActionDrop},
		{SourceSpan, "debugai.value", evidence.IntValue(3), evidence.IntValue(3), true, ActionKeep},
		{SourceSpan, "debugai.anomaly.detail", evidence.StringValue("x"), evidence.Value{}, false, ActionDrop}, // not a documented debugai key
		{SourceSpan, "user.id", evidence.StringValue("alice"), evidence.StringValue(tok("alice")), true, ActionTokenize},
		{SourceSpan, "user.id", evidence.IntValue(1234), evidence.StringValue(tok("1234")), true, ActionTokenize},
		{SourceSpan, "user.id", evidence.StringValue(""), evidence.StringValue(""), true, ActionTokenize},
		{SourceSpan, "url.full", evidence.StringValue("https://a:b@shop.io/orders/9?x=1"), evidence.StringValue("/orders/{id}"), true, ActionNormalize},
		{SourceSpan, "url.path", evidence.StringValue("/v1/traces"), evidence.StringValue("/v1/traces"), true, ActionKeep},
		{SourceSpan, "db.statement", evidence.StringValue("select 1"), evidence.StringValue("SELECT ?"), true, ActionNormalize},
		{SourceSpan, "exception.message", evidence.StringValue("no user 'bob@example.com'"), evidence.StringValue("no user '{str}'"), true, ActionRedact},
		{SourceSpan, "exception.message", evidence.StringValue("order 12345 missing"), evidence.StringValue("order {num} missing"), true, ActionNormalize},
		{SourceSpan, "exception.stacktrace", evidence.StringValue("at main()"), evidence.Value{}, false, ActionDrop},
		{SourceLog, "http.request.header.cookie", evidence.StringValue("sid=1"), evidence.Value{}, false, ActionDrop},
	} {
		c := NewCounts()
		got, keep := r.Attribute(c, tc.src, tc.key, tc.in)
		if got != tc.want || keep != tc.keep {
			t.Errorf("Attribute(%s, %v) = %v, %v; want %v, %v", tc.key, tc.in, got, keep, tc.want, tc.keep)
		}
		if n := c.Get(tc.src, tc.key, tc.action); n != 1 || c.Len() != 1 {
			t.Errorf("Attribute(%s, %v) counted %v, want one %s", tc.key, tc.in, c.Entries(), tc.action)
		}
	}
}

func TestSQLAndURL(t *testing.T) {
	r := newTestRedactor(t, nil)
	c := NewCounts()
	fp, id := r.SQL(c, SourceSpan, "db.query.text", "SELECT * FROM t WHERE a = 'x'")
	wfp, wid := FingerprintSQL("SELECT * FROM t WHERE a = 'y'")
	if fp != wfp || id != wid {
		t.Errorf("SQL = %q %s, want %q %s", fp, id, wfp, wid)
	}
	// Cached path returns the same.
	if fp2, id2 := r.SQL(c, SourceSpan, "db.query.text", "SELECT * FROM t WHERE a = 'x'"); fp2 != fp || id2 != id {
		t.Error("cached SQL differs")
	}
	if n := c.Get(SourceSpan, "db.query.text", ActionNormalize); n != 2 {
		t.Errorf("count = %d, want 2", n)
	}
	if got := r.URL(c, SourceSpan, "http.url", "http://h/a/1"); got != "/a/{id}" {
		t.Errorf("URL = %q", got)
	}
}

func TestSpanAndEventName(t *testing.T) {
	r := newTestRedactor(t, nil)
	for _, tc := range []struct {
		in, want string
		act      Action
	}{
		{"GET /orders/123", "GET /orders/{id}", ActionNormalize},
		{"GET /orders/{id}", "GET /orders/{id}", ActionKeep},
		{"checkout.process", "checkout.process", ActionKeep},
		{"POST https://api.example.com/v1/users/42/cards?x=1", "POST /v1/users/{id}/cards", ActionNormalize},
		{"notify alice@example.com", "notify {email}", ActionRedact},
		{"GET /u/7 from 10.1.2.3", "GET /u/{id} from {ipv4}", ActionRedact},
		{"", "", ActionKeep},
	} {
		for range 2 { // second round is served by the cache
			c := NewCounts()
			if got := r.SpanName(c, SourceSpan, tc.in); got != tc.want {
				t.Errorf("SpanName(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if c.Get(SourceSpan, KeySpanName, tc.act) != 1 {
				t.Errorf("SpanName(%q) counted %v, want %s", tc.in, c.Entries(), tc.act)
			}
			c = NewCounts()
			if got := r.EventName(c, tc.in); got != tc.want {
				t.Errorf("EventName(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if c.Get(SourceSpanEvent, KeyEventName, tc.act) != 1 {
				t.Errorf("EventName(%q) counted %v, want %s", tc.in, c.Entries(), tc.act)
			}
		}
	}
}

func TestMessage(t *testing.T) {
	r := newTestRedactor(t, nil)
	for _, tc := range []struct {
		in, want string
		act      Action
	}{
		{"", "", ActionKeep},
		{"connection refused", "connection refused", ActionKeep},
		{"user 'alice' not found", "user '{str}' not found", ActionNormalize},
		{`key "k-1" exists`, `key "{str}" exists`, ActionNormalize},
		{"can't open file, don't retry", "can't open file, don't retry", ActionKeep},
		{"order 12345 failed after 3 retries", "order {num} failed after 3 retries", ActionNormalize},
		{"trace 4bf92f3577b34da6a3ce929d0e0e4736 req 123e4567-e89b-12d3-a456-426614174000", "trace {hex} req {uuid}", ActionNormalize},
		{"timeout after 1500ms on shard-2024", "timeout after {id} on {id}", ActionNormalize},
		{"charge 4111 1111 1111 1111 declined for bob@example.com", "charge {card} declined for {email}", ActionRedact},
		{"invalid token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.sig", "invalid token {jwt}", ActionRedact},
	} {
		c := NewCounts()
		got := r.Message(c, SourceSpan, "otel.status_description", tc.in)
		if got != tc.want {
			t.Errorf("Message(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if again, _ := redactMessage(got); again != got {
			t.Errorf("Message not idempotent: %q -> %q", got, again)
		}
		if c.Get(SourceSpan, "otel.status_description", tc.act) != 1 {
			t.Errorf("Message(%q) counted %v, want %s", tc.in, c.Entries(), tc.act)
		}
	}
}

func TestTextAndToken(t *testing.T) {
	r := newTestRedactor(t, nil)
	if out, ok := r.Text("mail a@b.io"); out != "mail {email}" || !ok {
		t.Errorf("Text = %q %v", out, ok)
	}
	c := NewCounts()
	if got := r.Token(c, SourceSpan, "user.id", "alice"); got != r.KeyRing().Token("alice") {
		t.Errorf("Token = %q", got)
	}
	if got := r.TokenInt(c, SourceSpan, "user.id", 7); got != r.KeyRing().Token("7") {
		t.Errorf("TokenInt = %q", got)
	}
	if c.Get(SourceSpan, "user.id", ActionTokenize) != 2 {
		t.Errorf("counts = %v", c.Entries())
	}
}

// TestTokenCacheRotation checks that the token cache never serves a token of
// an earlier epoch.
func TestTokenCacheRotation(t *testing.T) {
	c := &clock{time.Date(2025, 6, 1, 23, 59, 59, 0, time.UTC)}
	r := newTestRedactor(t, c)
	before, _ := r.Attribute(nil, SourceSpan, "user.id", evidence.StringValue("alice"))
	c.t = c.t.Add(2 * time.Second)
	after, _ := r.Attribute(nil, SourceSpan, "user.id", evidence.StringValue("alice"))
	if before == after {
		t.Fatal("token cache served a token across a rotation")
	}
	if !strings.Contains(after.Str, r.KeyRing().KeyID()) {
		t.Errorf("token %q not under key %s", after.Str, r.KeyRing().KeyID())
	}
}

func TestRedactorConcurrent(t *testing.T) {
	r := newTestRedactor(t, nil)
	var wg sync.WaitGroup
	results := make([]*Counts, 4)
	for w := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := NewCounts()
			for i := range 2000 {
				r.SpanName(c, SourceSpan, fmt.Sprintf("GET /orders/%d", i%300))
				r.Attribute(c, SourceSpan, "user.id", evidence.StringValue(fmt.Sprint("u", i%500)))
				r.Attribute(c, SourceSpan, "db.statement", evidence.StringValue(fmt.Sprint("select ", i)))
			}
			results[w] = c
		}()
	}
	wg.Wait()
	total := NewCounts()
	for _, c := range results {
		total.Merge(c)
	}
	if n := total.Get(SourceSpan, "user.id", ActionTokenize); n != 8000 {
		t.Errorf("tokenize count = %d, want 8000", n)
	}
	if got := r.SpanName(nil, SourceSpan, "GET /orders/299"); got != "GET /orders/{id}" {
		t.Errorf("after concurrent use: %q", got)
	}
}

func TestCacheBounded(t *testing.T) {
	ch := newCache(64, 16)
	for i := range 10000 {
		ch.put(fmt.Sprint("k", i), cacheEntry{out: "v"})
	}
	if n := ch.len(); n > 2*64+2*cacheShards {
		t.Errorf("cache holds %d entries, want at most about 128", n)
	}
	ch.put(strings.Repeat("x", 17), cacheEntry{out: "v"})
	if _, ok := ch.get(strings.Repeat("x", 17)); ok {
		t.Error("cache stored a key longer than maxLen")
	}
	ch.put("recent", cacheEntry{out: "r"})
	if e, ok := ch.get("recent"); !ok || e.out != "r" {
		t.Error("recent entry missing")
	}
}
