package privacy

import (
	"strings"
	"testing"

	"github.com/debugai/debugai/evidence"
)

var canaries = []string{
	"canary.person@example.com",
	"4111111111111111",
	"4111 1111 1111 1111",
	"5500-0000-0000-0004",
	"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjYW5hcnkifQ.c2lnbmF0dXJl",
}

var textSeeds = []string{
	"", "plain words", "GET /orders/123", "12:30:45 1.24.7 v1.2.3.4", "a@b.co", "+1 555 123 4567",
	"Bearer abc.def", "2001:db8::1", "4111111111111111", "x=1&password=2", "::::::", "9 9 9 9 9 9 9 9",
	"\x00\xff{}", "eyJ.eyJ.", "AKIA", "(555) 123-4567",
}

// FuzzText checks that Text never panics, is idempotent, and that a planted
// canary email, card or JWT never survives, wherever it sits in the text.
func FuzzText(f *testing.F) {
	for i, s := range textSeeds {
		f.Add(s, s, uint8(i))
	}
	f.Fuzz(func(t *testing.T, before, after string, which uint8) {
		out, _ := redactPII(before + after)
		if again, _ := redactPII(out); again != out {
			t.Fatalf("not idempotent: %q -> %q -> %q", before+after, out, again)
		}
		canary := canaries[int(which)%len(canaries)]
		in := before + " " + canary + " " + after
		out, changed := redactPII(in)
		// The random parts may hold the canary's digits inside longer
		// numbers, which are rightly not cards: count occurrences.
		if !changed || strings.Count(out, canary) > strings.Count(before, canary)+strings.Count(after, canary) {
			t.Fatalf("canary %q survived: %q -> %q", canary, in, out)
		}
	})
}

func FuzzTemplatePath(f *testing.F) {
	for _, s := range []string{"/", "/orders/123", "/a/b?c#d", "/u/a%40b.c", "//x/{id}.json", "/v1/x;y=1", "/%zz/1", "/deadbeef00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		out := TemplatePath(p)
		if again := TemplatePath(out); again != out {
			t.Fatalf("not idempotent: %q -> %q -> %q", p, out, again)
		}
		if strings.ContainsAny(out, "?#") {
			t.Fatalf("query or fragment kept: %q -> %q", p, out)
		}
		u := normalizeURL(p)
		if again := normalizeURL(u); again != u {
			t.Fatalf("normalizeURL not idempotent: %q -> %q -> %q", p, u, again)
		}
	})
}

func FuzzFingerprintSQL(f *testing.F) {
	for _, s := range []string{
		"SELECT * FROM t WHERE a = 'x''y' AND b IN (1,2,3)", "insert into t values (1),(2)", "/* c */ select -1",
		`SELECT "a" FROM "t" WHERE "b" = "c"`, "SELECT $$x$$, $1, :n, @p, %s, %(x)s", "select 'unterminated", "(((", "))) ,,",
		"SELECT E'\\'' FROM t # c", "HGETALL k", "select 0x1F, 1e5, .5, 1.5e-3",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		fp, id := FingerprintSQL(q)
		fp2, id2 := FingerprintSQL(fp)
		if fp2 != fp || id2 != id {
			t.Fatalf("not idempotent: %q -> %q -> %q", q, fp, fp2)
		}
		if len(id) != 16 {
			t.Fatalf("query id %q", id)
		}
	})
}

// FuzzAttribute drives the redactor with arbitrary keys and values: no
// panics, dropped values are empty, kept strings carry no canary.
func FuzzAttribute(f *testing.F) {
	r := newTestRedactor(f, nil)
	for _, s := range []string{"service.name", "user.id", "url.full", "db.statement", "exception.message", "x.y", "rpc.z", ""} {
		f.Add(s, "value 4111111111111111 /orders/12 alice@example.com", int64(7), uint8(0))
	}
	f.Fuzz(func(t *testing.T, key, s string, n int64, kind uint8) {
		var v evidence.Value
		switch kind % 4 {
		case 0:
			v = evidence.StringValue(s)
		case 1:
			v = evidence.IntValue(n)
		case 2:
			v = evidence.FloatValue(float64(n) / 3)
		default:
			v = evidence.BoolValue(n%2 == 0)
		}
		c := NewCounts()
		out, keep := r.Attribute(c, SourceSpan, key, v)
		if c.Len() != 1 {
			t.Fatalf("counted %v, want one row", c.Entries())
		}
		if !keep && out != (evidence.Value{}) {
			t.Fatalf("dropped attribute returned %v", out)
		}
		if keep && out.Kind == evidence.KindString {
			for _, canary := range canaries {
				if strings.Contains(s, " "+canary+" ") && strings.Contains(out.Str, canary) {
					t.Fatalf("%s: canary survived: %q", key, out.Str)
				}
			}
		}
		_ = r.SpanName(c, SourceSpan, s)
		_ = r.Message(c, SourceSpan, key, s)
	})
}
