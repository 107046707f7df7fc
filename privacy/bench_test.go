package privacy

import (
	"strconv"
	"testing"

	"github.com/debugai/debugai/evidence"
)

// A realistic span's attributes: mostly kept, one tokenized, one URL.
var benchAttrs = []struct {
	key string
	v   evidence.Value
}{
	{"http.request.method", evidence.StringValue("GET")},
	{"http.route", evidence.StringValue("/api/v2/orders/{id}")},
	{"http.response.status_code", evidence.IntValue(200)},
	{"url.full", evidence.StringValue("https://shop.example.com/api/v2/orders/48213?expand=items")},
	{"server.port", evidence.IntValue(8443)},
	{"client.address", evidence.StringValue("10.12.4.77")},
	{"network.protocol.version", evidence.StringValue("1.1")},
	{"user_agent.original", evidence.StringValue("Mozilla/5.0 (X11; Linux x86_64)")},
}

func BenchmarkAttributeSpan(b *testing.B) {
	r := newTestRedactor(b, nil)
	c := NewCounts()
	b.ReportAllocs()
	cpu0 := cpuNow()
	for b.Loop() {
		for _, a := range benchAttrs {
			r.Attribute(c, SourceSpan, a.key, a.v)
		}
	}
	reportCPU(b, cpu0, len(benchAttrs)) // per attribute
}

func BenchmarkAttributeKeep(b *testing.B) {
	r := newTestRedactor(b, nil)
	c := NewCounts()
	v := evidence.StringValue("checkout-service")
	b.ReportAllocs()
	cpu0 := cpuNow()
	for b.Loop() {
		r.Attribute(c, SourceResource, "service.name", v)
	}
	reportCPU(b, cpu0, 1)
}

func BenchmarkAttributeDrop(b *testing.B) {
	r := newTestRedactor(b, nil)
	c := NewCounts()
	v := evidence.StringValue("Mozilla/5.0")
	b.ReportAllocs()
	cpu0 := cpuNow()
	for b.Loop() {
		r.Attribute(c, SourceSpan, "user_agent.original", v)
	}
	reportCPU(b, cpu0, 1)
}

func BenchmarkAttributeTokenize(b *testing.B) {
	r := newTestRedactor(b, nil)
	c := NewCounts()
	vals := make([]evidence.Value, 1000)
	for i := range vals {
		vals[i] = evidence.StringValue("user-" + strconv.Itoa(i))
	}
	b.ReportAllocs()
	i := 0
	cpu0 := cpuNow()
	for b.Loop() {
		r.Attribute(c, SourceSpan, "user.id", vals[i%len(vals)])
		i++
	}
	reportCPU(b, cpu0, 1)
}

func BenchmarkAttributeURL(b *testing.B) {
	r := newTestRedactor(b, nil)
	c := NewCounts()
	v := evidence.StringValue("https://shop.example.com/api/v2/orders/48213?expand=items")
	b.ReportAllocs()
	cpu0 := cpuNow()
	for b.Loop() {
		r.Attribute(c, SourceSpan, "url.full", v)
	}
	reportCPU(b, cpu0, 1)
}

func BenchmarkSpanName(b *testing.B) {
	r := newTestRedactor(b, nil)
	c := NewCounts()
	names := []string{"GET /api/v2/orders/48213", "checkout.process", "SELECT orders", "POST /api/v2/cart/99/items"}
	b.ReportAllocs()
	i := 0
	cpu0 := cpuNow()
	for b.Loop() {
		r.SpanName(c, SourceSpan, names[i%len(names)])
		i++
	}
	reportCPU(b, cpu0, 1)
}

func BenchmarkTextNoPII(b *testing.B) {
	s := "checkout-7d9f4b-x2k: GET /api/v2/orders/{id} served in 12:30:45 by go1.24.7"
	b.ReportAllocs()
	b.SetBytes(int64(len(s)))
	cpu0 := cpuNow()
	for b.Loop() {
		redactPII(s)
	}
	reportCPU(b, cpu0, 1)
}

func BenchmarkTextWithPII(b *testing.B) {
	s := "user alice@example.com from 10.0.0.1 paid with 4111 1111 1111 1111, call +1 555 123 4567"
	b.ReportAllocs()
	b.SetBytes(int64(len(s)))
	cpu0 := cpuNow()
	for b.Loop() {
		redactPII(s)
	}
	reportCPU(b, cpu0, 1)
}

func BenchmarkFingerprintSQL(b *testing.B) {
	q := "SELECT o.id, o.total FROM orders o JOIN users u ON u.id = o.user_id WHERE u.email = 'a@b.c' AND o.status IN ('new', 'paid', 'shipped') AND o.total > 100.50 ORDER BY o.created_at DESC LIMIT 20"
	b.ReportAllocs()
	b.SetBytes(int64(len(q)))
	cpu0 := cpuNow()
	for b.Loop() {
		FingerprintSQL(q)
	}
	reportCPU(b, cpu0, 1)
}

func BenchmarkToken(b *testing.B) {
	c := &clock{}
	k := newTestRing(b, c)
	b.ReportAllocs()
	i := 0
	cpu0 := cpuNow()
	for b.Loop() {
		// Distinct values: measures the HMAC, not the cache.
		k.cur.Load().token(strconv.Itoa(i))
		i++
	}
	reportCPU(b, cpu0, 1)
}

func BenchmarkTokenCached(b *testing.B) {
	k := newTestRing(b, &clock{})
	b.ReportAllocs()
	cpu0 := cpuNow()
	for b.Loop() {
		k.Token("user-42")
	}
	reportCPU(b, cpu0, 1)
}
