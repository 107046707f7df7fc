package bank

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"
)

// authorizeSpan is the otelgrpc span name of Authorize on both sides.
const authorizeSpan = "debugai.bank.v1.Ledger/Authorize"

// TestBankGRPCTransfer: with the gRPC hop a transfer asks the ledger's
// Authorize first. An authorized transfer is one trace: the frontend's
// HTTP server span, its Authorize client span, the ledger's Authorize
// server span (a child of the client span), then the entry over HTTP. A
// refused one answers 403 and a failed call 502, neither posting an entry.
func TestBankGRPCTransfer(t *testing.T) {
	for _, tc := range []struct {
		name     string
		query    string
		down     bool // stop the ledger's gRPC server first
		code     int
		body     string
		balance3 string // account 3 afterwards
	}{
		{"authorized", "from=3&to=4&amount=7", false, http.StatusOK, "ok\n", "balance 1099511627769"},
		{"defaults", "", false, http.StatusOK, "ok\n", "balance 1099511627776"},
		{"unknown account", "from=3&to=100&amount=7", false, http.StatusForbidden, "to account 100 does not exist", "balance 1099511627776"},
		{"zero amount", "from=3&to=4&amount=0", false, http.StatusForbidden, "want a positive amount", "balance 1099511627776"},
		{"same account", "from=3&to=3&amount=1", false, http.StatusForbidden, "same account", "balance 1099511627776"},
		{"not a number", "from=x", false, http.StatusBadRequest, `from "x": want an integer`, "balance 1099511627776"},
		{"ledger gRPC down", "from=3&to=4&amount=7", true, http.StatusBadGateway, "authorizing with the ledger", "balance 1099511627776"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSystemWith(t, "v1", BugNone, true)
			if tc.down {
				s.stopGRPC(t)
			}
			code, body := do(t, http.MethodPost, s.frontURL+"/transfer?"+tc.query)
			if code != tc.code || !strings.Contains(body, tc.body) {
				t.Fatalf("transfer: %d %q, want %d containing %q", code, body, tc.code, tc.body)
			}
			if b := s.ledger.ledger.balance(3, false); "balance "+strconv.FormatInt(b, 10) != tc.balance3 {
				t.Errorf("account 3: balance %d, want %s", b, tc.balance3)
			}
			// The servers' Close and Stop wait for their handlers, so every
			// span has ended (and, with the syncer, been exported).
			s.frontSrv.Close()
			s.ledgSrv.Close()
			s.stopGRPC(t)
			front, ledg := s.frontSpans.GetSpans(), s.ledgSpans.GetSpans()
			entries := len(named(front, "POST /entries")) + len(named(ledg, "POST /entries"))
			if want := tc.code == http.StatusOK; (entries == 2) != want || (entries != 0) != want {
				t.Errorf("%d POST /entries spans (client and server), want an entry posted: %v", entries, want)
			}
			calls := named(front, authorizeSpan)
			if tc.code == http.StatusBadRequest {
				if len(calls) != 0 {
					t.Errorf("a malformed transfer called Authorize")
				}
				return
			}
			checkAuthorizeTrace(t, front, ledg, tc.down)
		})
	}
}

// checkAuthorizeTrace checks the chain frontend POST /transfer (server)
// -> Authorize (client) -> ledger Authorize (server), and that an entry
// follows the answer; when down, the client span failed and the ledger
// has none.
func checkAuthorizeTrace(t *testing.T, front, ledg tracetest.SpanStubs, down bool) {
	t.Helper()
	transfers, calls := named(front, "POST /transfer"), named(front, authorizeSpan)
	if len(transfers) != 1 || len(calls) != 1 {
		t.Fatalf("frontend: %d POST /transfer and %d %s spans, want 1 each", len(transfers), len(calls), authorizeSpan)
	}
	tr, call := transfers[0], calls[0]
	if tr.SpanKind != trace.SpanKindServer || tr.Parent.IsValid() {
		t.Errorf("POST /transfer: kind %v, parent %v; want a server root span", tr.SpanKind, tr.Parent.SpanID())
	}
	if call.SpanKind != trace.SpanKindClient || call.SpanContext.TraceID() != tr.SpanContext.TraceID() ||
		call.Parent.SpanID() != tr.SpanContext.SpanID() {
		t.Errorf("Authorize call: kind %v, trace %v, parent %v; want a client span under POST /transfer (%v %v)",
			call.SpanKind, call.SpanContext.TraceID(), call.Parent.SpanID(), tr.SpanContext.TraceID(), tr.SpanContext.SpanID())
	}
	servers := named(ledg, authorizeSpan)
	if down {
		if call.Status.Code != codes.Error || len(servers) != 0 {
			t.Errorf("ledger down: call status %v, %d ledger Authorize spans; want an error and none", call.Status, len(servers))
		}
		return
	}
	if call.Status.Code == codes.Error {
		t.Errorf("Authorize call failed: %v", call.Status)
	}
	if len(servers) != 1 {
		t.Fatalf("ledger: %d %s spans, want 1", len(servers), authorizeSpan)
	}
	srv := servers[0]
	if srv.SpanKind != trace.SpanKindServer || srv.SpanContext.TraceID() != tr.SpanContext.TraceID() ||
		srv.Parent.SpanID() != call.SpanContext.SpanID() || !srv.Parent.IsRemote() {
		t.Errorf("ledger Authorize: kind %v, trace %v, parent %v (remote %v); want a server span under the call %v",
			srv.SpanKind, srv.SpanContext.TraceID(), srv.Parent.SpanID(), srv.Parent.IsRemote(), call.SpanContext.SpanID())
	}
	if res := resourceName(srv); res != "ledger" {
		t.Errorf("ledger Authorize span from service %q", res)
	}
	for _, e := range named(front, "POST /entries") {
		if e.Parent.SpanID() != tr.SpanContext.SpanID() || e.StartTime.Before(call.EndTime) {
			t.Errorf("POST /entries call: parent %v, start %v; want under POST /transfer after Authorize's end %v",
				e.Parent.SpanID(), e.StartTime, call.EndTime)
		}
	}
}

func resourceName(sp tracetest.SpanStub) string {
	for _, kv := range sp.Resource.Attributes() {
		if kv.Key == "service.name" {
			return kv.Value.Emit()
		}
	}
	return ""
}

// TestBankAuthorize calls the ledger's Authorize with a plain gRPC client
// while the test holds the ledger's mutex: Authorize never takes it, so
// every call answers, and the answers follow the rules.
func TestBankAuthorize(t *testing.T) {
	s := newSystemWith(t, "v1", BugConvoy, true)
	conn, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	s.ledger.ledger.mu.Lock()
	defer s.ledger.ledger.mu.Unlock()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second) // one deadline: a lock taken fails every call
	defer cancel()
	num := structpb.NewNumberValue
	for _, tc := range []struct {
		name   string
		fields map[string]*structpb.Value
		reason string // "" : ok
	}{
		{"ok", map[string]*structpb.Value{"from": num(0), "to": num(99), "amount": num(1)}, ""},
		{"unknown from", map[string]*structpb.Value{"from": num(100), "to": num(1), "amount": num(1)}, "from account 100 does not exist"},
		{"negative to", map[string]*structpb.Value{"from": num(1), "to": num(-1), "amount": num(1)}, "to account -1 does not exist"},
		{"same account", map[string]*structpb.Value{"from": num(2), "to": num(2), "amount": num(1)}, "same account"},
		{"zero amount", map[string]*structpb.Value{"from": num(1), "to": num(2), "amount": num(0)}, "want a positive amount"},
		{"negative amount", map[string]*structpb.Value{"from": num(1), "to": num(2), "amount": num(-5)}, "want a positive amount"},
		{"fraction", map[string]*structpb.Value{"from": num(1.5), "to": num(2), "amount": num(1)}, "want a whole number"},
		{"missing amount", map[string]*structpb.Value{"from": num(1), "to": num(2)}, "amount: want a number"},
		{"string account", map[string]*structpb.Value{"from": structpb.NewStringValue("1"), "to": num(2), "amount": num(1)}, "from: want a number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := new(structpb.Struct)
			if err := conn.Invoke(ctx, AuthorizeMethod, &structpb.Struct{Fields: tc.fields}, out); err != nil {
				t.Fatalf("Authorize: %v", err)
			}
			ok, reason := out.GetFields()["ok"].GetBoolValue(), out.GetFields()["reason"].GetStringValue()
			if ok != (tc.reason == "") || !strings.Contains(reason, tc.reason) {
				t.Errorf("Authorize: ok %v, reason %q; want reason %q", ok, reason, tc.reason)
			}
		})
	}
}

// TestBankGRPCServerRole: only the ledger serves gRPC.
func TestBankGRPCServerRole(t *testing.T) {
	s := newSystem(t, "v1", BugNone)
	if _, err := s.frontend.GRPCServer(); err == nil || !strings.Contains(err.Error(), "only the ledger") {
		t.Fatalf("frontend GRPCServer: %v, want an error", err)
	}
}

func named(spans tracetest.SpanStubs, name string) tracetest.SpanStubs {
	var out tracetest.SpanStubs
	for _, sp := range spans {
		if sp.Name == name {
			out = append(out, sp)
		}
	}
	return out
}

// TestBankCallConvoy: under the callconvoy bug the frontend holds one
// mutex across each Authorize call, which the ledger's AuthorizeDelay
// slows: concurrent transfers take their turns, so n of them take at
// least n delays; with the bug off they run side by side.
func TestBankCallConvoy(t *testing.T) {
	const n = 4
	for _, tc := range []struct {
		bug    Bug
		serial bool
	}{{BugCallConvoy, true}, {BugNone, false}} {
		t.Run(string(tc.bug), func(t *testing.T) {
			s := newSystemWith(t, "v1", tc.bug, true)
			const delay = 20 * time.Millisecond
			s.ledger.cfg.AuthorizeDelay = delay
			start := time.Now()
			done := make(chan int, n)
			for i := range n {
				go func() {
					code, _ := do(t, http.MethodPost, s.frontURL+"/transfer?from="+strconv.Itoa(i)+"&to=50&amount=1")
					done <- code
				}()
			}
			for range n {
				if code := <-done; code != http.StatusOK {
					t.Fatalf("transfer: %d", code)
				}
			}
			elapsed := time.Since(start)
			if tc.serial && elapsed < n*delay {
				t.Errorf("%d transfers took %v, want at least %v (one Authorize delay each, in turn)", n, elapsed, n*delay)
			}
		})
	}
}
