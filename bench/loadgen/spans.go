package loadgen

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// service is one entry of the catalogue the generated traces run through.
type service struct {
	name, version string
	host          string // DNS name its clients call
	routes        []route
	db            database
}

type route struct{ method, template, pathFmt string }

type database struct{ system, name, host string }

var services = []service{
	{"frontend", "2.14.1", "frontend.shop.svc.cluster.local", []route{
		{"GET", "/api/orders/{id}", "/api/orders/%d"},
		{"POST", "/api/cart/{id}/items", "/api/cart/%d/items"},
		{"GET", "/api/users/{id}/profile", "/api/users/%d/profile"},
	}, database{"redis", "0", "redis-sessions.internal"}},
	{"checkout", "1.9.0", "checkout.shop.svc.cluster.local", []route{
		{"POST", "/v1/checkout/{id}", "/v1/checkout/%d"},
		{"GET", "/v1/quotes/{id}", "/v1/quotes/%d"},
	}, database{"postgresql", "orders", "pg-orders-primary.internal"}},
	{"payment", "3.2.7", "payment.shop.svc.cluster.local", []route{
		{"POST", "/v1/charges/{id}", "/v1/charges/%d"},
		{"GET", "/v1/cards/{id}", "/v1/cards/%d"},
	}, database{"postgresql", "payments", "pg-payments.internal"}},
	{"inventory", "0.18.3", "inventory.shop.svc.cluster.local", []route{
		{"GET", "/v1/items/{id}/stock", "/v1/items/%d/stock"},
		{"PUT", "/v1/items/{id}/reservations", "/v1/items/%d/reservations"},
	}, database{"mysql", "inventory", "mysql-inventory.internal"}},
	{"shipping", "1.1.0", "shipping.shop.svc.cluster.local", []route{
		{"POST", "/v1/shipments/{id}", "/v1/shipments/%d"},
	}, database{"postgresql", "shipping", "pg-shipping.internal"}},
	{"accounts", "4.0.2", "accounts.shop.svc.cluster.local", []route{
		{"GET", "/v1/accounts/{id}", "/v1/accounts/%d"},
		{"PATCH", "/v1/accounts/{id}/email", "/v1/accounts/%d/email"},
	}, database{"postgresql", "accounts", "pg-accounts.internal"}},
}

var firstNames = []string{"alice", "bob", "carol", "dmitri", "eve", "fatima", "grace", "hiro"}

// resourceScopes holds one service's resource and its two instrumentation scopes.
type resourceScopes struct {
	svc        service
	http, db   ptrace.SpanSlice
	internalSS ptrace.SpanSlice
}

func newResource(td ptrace.Traces, svc service, body int, seed uint64) resourceScopes {
	rs := td.ResourceSpans().AppendEmpty()
	a := rs.Resource().Attributes()
	replica := body % 3
	a.PutStr("service.name", svc.name)
	a.PutStr("service.version", svc.version)
	a.PutStr("service.namespace", "shop")
	a.PutStr("service.instance.id", fmt.Sprintf("%s-%08x-%d", svc.name, uint32(mix64(seed^0x5851f42d4c957f2d)), replica))
	a.PutStr("host.name", svc.name+"-7d9f8c6b5-"+[]string{"x2kq9", "m4tzp", "b8wnd"}[replica])
	a.PutStr("deployment.environment.name", "production")
	a.PutStr("os.type", "linux")
	a.PutInt("process.pid", int64(1000+17*replica+len(svc.name)))
	a.PutStr("telemetry.sdk.language", "go")
	a.PutStr("telemetry.sdk.name", "opentelemetry")
	a.PutStr("telemetry.sdk.version", "1.47.0")
	scope := func(name, version string) ptrace.SpanSlice {
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName(name)
		ss.Scope().SetVersion(version)
		return ss.Spans()
	}
	return resourceScopes{
		svc:        svc,
		http:       scope("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp", "0.72.0"),
		db:         scope("github.com/XSAM/otelsql", "0.41.0"),
		internalSS: scope("shop/"+svc.name, svc.version),
	}
}

// role is a span's place in the trace shape.
type role int

const (
	roleServer role = iota
	roleHTTPClient
	roleDBClient
	roleInternal
)

// spanGen builds traces into the resources of one body.
type spanGen struct {
	rng        *rand.Rand
	res        []resourceScopes
	eventEvery int
	nth        int // spans built so far in this body
}

// trace builds n spans of one trace. The shape repeats: a server span, then
// under it an HTTP client call whose server span lives in the next service,
// a database call and an internal span; deeper calls hang off the newest
// server span. Children start after and end before their parent.
func (g *spanGen) trace(tid pcommon.TraceID, n int, start time.Time, svc0 int, ids *idSource, span0 uint64) {
	dur := time.Duration(20+g.rng.IntN(180)) * time.Millisecond
	step := dur / time.Duration(2*n+2)
	spanIDs := make([]pcommon.SpanID, n)
	svcOf := make([]int, n)
	lastServer := 0
	user := 1000 + g.rng.IntN(90000)
	for i := range n {
		spanIDs[i] = ids.spanID(span0 + uint64(i))
		var r role
		parent := -1
		svc := svc0
		switch {
		case i == 0:
			r = roleServer
		case (i-1)%4 == 0:
			r, parent = roleHTTPClient, lastServer
		case (i-1)%4 == 1:
			r, parent = roleServer, i-1
			svc = (svcOf[i-1] + 1) % len(g.res)
		case (i-1)%4 == 2:
			r, parent = roleDBClient, lastServer
		default:
			r, parent = roleInternal, lastServer
		}
		if parent >= 0 && r != roleServer {
			svc = svcOf[parent]
		}
		svcOf[i] = svc
		if r == roleServer {
			lastServer = i
		}
		rs := g.res[svc]
		var s ptrace.Span
		switch r {
		case roleServer, roleHTTPClient:
			s = rs.http.AppendEmpty()
		case roleDBClient:
			s = rs.db.AppendEmpty()
		default:
			s = rs.internalSS.AppendEmpty()
		}
		s.SetTraceID(tid)
		s.SetSpanID(spanIDs[i])
		if parent >= 0 {
			s.SetParentSpanID(spanIDs[parent])
		}
		// W3C "sampled", plus OTLP's "is-remote known"; a server span's
		// parent is remote (it is the client span in another process).
		flags := uint32(0x101)
		if r == roleServer && parent >= 0 {
			flags |= 0x200
		}
		s.SetFlags(flags)
		st := start.Add(time.Duration(i) * step)
		en := start.Add(dur - time.Duration(i)*step - time.Duration(g.rng.IntN(int(step/2)+1)))
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(st))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(en))
		var next service
		if r == roleHTTPClient {
			next = g.res[(svc+1)%len(g.res)].svc
		}
		failed := g.fill(s, r, rs.svc, next, user)
		if g.eventEvery > 0 && g.nth%g.eventEvery == g.eventEvery-1 {
			g.event(s, st.Add(step/2), failed, user)
		}
		g.nth++
	}
}

func (g *spanGen) status() int64 {
	switch p := g.rng.IntN(100); {
	case p < 2:
		return 500
	case p < 3:
		return 503
	case p < 6:
		return 404
	case p < 10:
		return 201
	default:
		return 200
	}
}

func (g *spanGen) email(user int) string {
	return fmt.Sprintf("%s.%d@example.com", firstNames[user%len(firstNames)], user)
}

// fill sets name, kind, status and attributes; it reports whether the span
// failed.
func (g *spanGen) fill(s ptrace.Span, r role, svc, next service, user int) bool {
	a := s.Attributes()
	a.EnsureCapacity(14)
	id := 1 + g.rng.IntN(999999)
	a.PutInt("thread.id", int64(1+g.rng.IntN(64)))
	failed := false
	switch r {
	case roleServer:
		rt := svc.routes[g.rng.IntN(len(svc.routes))]
		code := g.status()
		failed = code >= 500
		s.SetName(rt.method + " " + rt.template)
		s.SetKind(ptrace.SpanKindServer)
		a.PutStr("http.request.method", rt.method)
		a.PutStr("http.route", rt.template)
		a.PutStr("url.path", fmt.Sprintf(rt.pathFmt, id))
		a.PutStr("url.scheme", "https")
		a.PutStr("server.address", svc.host)
		a.PutInt("server.port", 8443)
		a.PutInt("http.response.status_code", code)
		a.PutStr("network.protocol.version", "1.1")
		a.PutStr("client.address", fmt.Sprintf("203.0.113.%d", 1+user%254))
		a.PutStr("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36")
		a.PutStr("user.id", fmt.Sprintf("u-%d", user))
		// Custom keys no semantic convention knows: privacy drops them.
		a.PutStr("app.session_token", fmt.Sprintf("st_%016x", g.rng.Uint64()))
		a.PutStr("customer.note", "call "+g.email(user)+" before delivery")
	case roleHTTPClient:
		rt := next.routes[g.rng.IntN(len(next.routes))]
		code := g.status()
		failed = code >= 500
		s.SetName(rt.method)
		s.SetKind(ptrace.SpanKindClient)
		a.PutStr("http.request.method", rt.method)
		a.PutStr("url.full", fmt.Sprintf("http://%s:8080"+rt.pathFmt+"?email=%s", next.host, id, g.email(user)))
		a.PutStr("server.address", next.host)
		a.PutInt("server.port", 8080)
		a.PutInt("http.response.status_code", code)
	case roleDBClient:
		db := svc.db
		s.SetKind(ptrace.SpanKindClient)
		a.PutStr("db.system", db.system)
		a.PutStr("db.name", db.name)
		a.PutStr("server.address", db.host)
		if db.system == "redis" {
			s.SetName("GET")
			a.PutStr("db.operation", "GET")
			a.PutStr("db.statement", fmt.Sprintf("GET session:%d:%s", user, g.email(user)))
			a.PutInt("server.port", 6379)
			break
		}
		s.SetName("SELECT " + db.name)
		a.PutStr("db.operation", "SELECT")
		a.PutStr("db.statement", fmt.Sprintf(
			"SELECT id, status, total_cents FROM %s WHERE customer_id = %d AND email = '%s' LIMIT 50",
			db.name, user, g.email(user)))
		a.PutInt("server.port", 5432)
		if g.rng.IntN(100) < 1 {
			failed = true
		}
	case roleInternal:
		s.SetName("PriceCart")
		s.SetKind(ptrace.SpanKindInternal)
		a.PutStr("code.function.name", "shop/"+svc.name+".(*Service).PriceCart")
		a.PutBool("app.cache.hit", g.rng.IntN(4) != 0)
		a.PutInt("app.cart.items", int64(1+g.rng.IntN(12)))
		a.PutStr("x_debug_dump", fmt.Sprintf("cart=%d user=%s", id, g.email(user)))
	}
	if failed {
		s.Status().SetCode(ptrace.StatusCodeError)
		s.Status().SetMessage("upstream failed")
	}
	return failed
}

func (g *spanGen) event(s ptrace.Span, at time.Time, failed bool, user int) {
	e := s.Events().AppendEmpty()
	e.SetTimestamp(pcommon.NewTimestampFromTime(at))
	a := e.Attributes()
	if failed {
		e.SetName("exception")
		a.PutStr("exception.type", "*net.OpError")
		a.PutStr("exception.message", "dial tcp 10.0.3.7:5432: connect: connection refused")
		a.PutStr("exception.stacktrace", "goroutine 81 [running]:\nshop/checkout.(*Service).Charge(...)\n\t/src/checkout/charge.go:118")
		return
	}
	e.SetName("log")
	a.PutStr("log.severity", "INFO")
	a.PutStr("log.message", "sent receipt to "+g.email(user))
	a.PutInt("app.retry.count", int64(g.rng.IntN(3)))
}

// idSource derives trace and span ids from a seed. Each id is a bijection of
// its index (multiplication by an odd key, then the splitmix64 finaliser), so
// distinct indexes give distinct ids and index+1 ≠ 0 guarantees a non-zero id.
type idSource struct{ traceKey, traceHiKey, spanKey uint64 }

func newIDSource(seed uint64) idSource {
	return idSource{
		traceKey:   mix64(seed^0x9e3779b97f4a7c15) | 1,
		traceHiKey: mix64(seed ^ 0x6a09e667f3bcc909),
		spanKey:    mix64(seed^0xbb67ae8584caa73b) | 1,
	}
}

func (s idSource) traceID(i uint64) pcommon.TraceID {
	var t pcommon.TraceID
	binary.BigEndian.PutUint64(t[:8], mix64(i^s.traceHiKey))
	binary.BigEndian.PutUint64(t[8:], mix64((i+1)*s.traceKey))
	return t
}

func (s idSource) spanID(i uint64) pcommon.SpanID {
	var id pcommon.SpanID
	binary.BigEndian.PutUint64(id[:], mix64((i+1)*s.spanKey))
	return id
}

// mix64 is the splitmix64 finaliser: a bijection on uint64 that maps only 0 to 0.
func mix64(z uint64) uint64 {
	z ^= z >> 30
	z *= 0xbf58476d1ce4e5b9
	z ^= z >> 27
	z *= 0x94d049bb133111eb
	z ^= z >> 31
	return z
}
