package bank

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"
)

// The ledger's gRPC service: debugai.bank.v1.Ledger with one unary method,
// Authorize. Its request and answer are google.protobuf.Struct messages
// (package structpb), so the wire format is real protobuf:
//
//	request: {"from": <account>, "to": <account>, "amount": <units>}
//	answer:  {"ok": <bool>, "reason": <string, when refused>}
const (
	// LedgerService is the ledger's gRPC service name.
	LedgerService = "debugai.bank.v1.Ledger"
	// AuthorizeMethod is the full name of the ledger's Authorize method.
	AuthorizeMethod = "/" + LedgerService + "/Authorize"
)

// ledgerServer is the handler type of ledgerServiceDesc.
type ledgerServer interface {
	Authorize(ctx context.Context, req *structpb.Struct) (*structpb.Struct, error)
}

// ledgerServiceDesc describes debugai.bank.v1.Ledger to grpc-go.
//
// It is written by hand, not generated: the build has no protoc (nor
// protoc-gen-go-grpc), and the service needs no .proto of its own because
// its messages are the well-known google.protobuf.Struct. The descriptor is
// what protoc-gen-go-grpc would emit for
//
//	service Ledger { rpc Authorize(google.protobuf.Struct) returns (google.protobuf.Struct); }
//
// in package debugai.bank.v1; keep the names in step with LedgerService and
// AuthorizeMethod.
var ledgerServiceDesc = grpc.ServiceDesc{
	ServiceName: LedgerService,
	HandlerType: (*ledgerServer)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Authorize", Handler: authorizeHandler}},
	Streams:     []grpc.StreamDesc{},
	Metadata:    "", // no .proto file: see above
}

// authorizeHandler decodes an Authorize request and calls the server
// through the interceptor, as generated handlers do.
func authorizeHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	in := new(structpb.Struct)
	if err := dec(in); err != nil {
		return nil, err
	}
	if interceptor == nil {
		return srv.(ledgerServer).Authorize(ctx, in)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: AuthorizeMethod}
	handler := func(ctx context.Context, req any) (any, error) {
		return srv.(ledgerServer).Authorize(ctx, req.(*structpb.Struct))
	}
	return interceptor(ctx, in, info, handler)
}

// grpcLedger serves debugai.bank.v1.Ledger for a ledger Service.
type grpcLedger struct{ s *Service }

var _ ledgerServer = grpcLedger{}

// Authorize answers ok when both accounts exist, differ and the amount is
// positive; otherwise ok is false and reason says why. It reads only the
// number of accounts, fixed when the ledger opens, and so never takes the
// ledger's mutex: the convoy and iostorm bugs behave as without it.
func (g grpcLedger) Authorize(ctx context.Context, req *structpb.Struct) (*structpb.Struct, error) {
	if d := g.s.cfg.AuthorizeDelay; d > 0 { // a slow dependency of the check
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
	reason := g.s.ledger.authorize(req.GetFields())
	return &structpb.Struct{Fields: map[string]*structpb.Value{
		"ok":     structpb.NewBoolValue(reason == ""),
		"reason": structpb.NewStringValue(reason),
	}}, nil
}

// authorize returns why a transfer of fields is refused, or "".
func (l *ledger) authorize(fields map[string]*structpb.Value) string {
	n := len(l.balances) // fixed at open: no lock
	num := func(key string) (float64, string) {
		v, ok := fields[key].GetKind().(*structpb.Value_NumberValue)
		if !ok {
			return 0, fmt.Sprintf("%s: want a number", key)
		}
		if x := v.NumberValue; x != math.Trunc(x) || math.IsInf(x, 0) {
			return 0, fmt.Sprintf("%s %v: want a whole number", key, x)
		}
		return v.NumberValue, ""
	}
	from, bad1 := num("from")
	to, bad2 := num("to")
	amount, bad3 := num("amount")
	for _, bad := range []string{bad1, bad2, bad3} {
		if bad != "" {
			return bad
		}
	}
	for _, a := range []struct {
		key string
		v   float64
	}{{"from", from}, {"to", to}} {
		if a.v < 0 || a.v >= float64(n) {
			return fmt.Sprintf("%s account %v does not exist (accounts 0 to %d)", a.key, a.v, n-1)
		}
	}
	switch {
	case from == to:
		return fmt.Sprintf("from and to are the same account %v", from)
	case amount <= 0:
		return fmt.Sprintf("amount %v: want a positive amount", amount)
	}
	return ""
}

// GRPCServer returns a gRPC server for the ledger's
// debugai.bank.v1.Ledger service, traced with the service's tracer
// provider (otelgrpc server spans continuing the caller's W3C trace
// context). The caller serves it on a listener and stops it; Stop and
// GracefulStop wait for running handlers, so their spans have ended when
// they return. Only the ledger serves gRPC.
func (s *Service) GRPCServer() (*grpc.Server, error) {
	if s.cfg.Role != RoleLedger {
		return nil, fmt.Errorf("%w: only the ledger serves gRPC, not the %s", ErrInvalidConfig, s.cfg.Role)
	}
	srv := grpc.NewServer(
		grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(s.tp),
			otelgrpc.WithPropagators(propagation.TraceContext{}))),
		grpc.WaitForHandlers(true))
	srv.RegisterService(&ledgerServiceDesc, grpcLedger{s})
	return srv, nil
}

// dialLedger returns a client connection to the ledger's gRPC address
// (insecure: loopback demo), traced with tp's otelgrpc client spans. It
// connects on the first call.
func (s *Service) dialLedger() (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient(s.cfg.LedgerGRPC,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(s.tp),
			otelgrpc.WithPropagators(propagation.TraceContext{}))))
	if err != nil {
		return nil, fmt.Errorf("dialing the ledger's gRPC address %s: %w", s.cfg.LedgerGRPC, err)
	}
	return conn, nil
}

// errRefused is wrapped by the error authorize returns when the ledger
// refuses a transfer.
var errRefused = errors.New("transfer refused")

// authorize asks the ledger over gRPC whether a transfer may proceed: nil
// when it may, an error wrapping errRefused when the ledger refuses it,
// and any other error when the call failed.
func (s *Service) authorize(ctx context.Context, from, to, amount int64) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req := &structpb.Struct{Fields: map[string]*structpb.Value{
		"from":   structpb.NewNumberValue(float64(from)),
		"to":     structpb.NewNumberValue(float64(to)),
		"amount": structpb.NewNumberValue(float64(amount)),
	}}
	out := new(structpb.Struct)
	if err := s.conn.Invoke(ctx, AuthorizeMethod, req, out); err != nil {
		return fmt.Errorf("calling %s: %w", AuthorizeMethod, err)
	}
	ok, isBool := out.GetFields()["ok"].GetKind().(*structpb.Value_BoolValue)
	switch {
	case !isBool:
		return fmt.Errorf("calling %s: the answer has no ok field", AuthorizeMethod)
	case !ok.BoolValue:
		return fmt.Errorf("%w: %s", errRefused, out.GetFields()["reason"].GetStringValue())
	}
	return nil
}

// transfer serves the frontend's POST /transfer?from=I&to=J&amount=N:
// with Config.LedgerGRPC it first asks the ledger's Authorize (403 when
// refused, 502 when the call fails), then forwards the entry to the
// ledger's POST /entries.
func (s *Service) transfer(w http.ResponseWriter, r *http.Request) {
	if s.conn != nil {
		q := r.URL.Query()
		var nums [3]int64
		for i, f := range []struct{ key, def string }{{"from", "0"}, {"to", "1"}, {"amount", "1"}} { // the ledger's defaults
			v := q.Get(f.key)
			if v == "" {
				v = f.def
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				http.Error(w, fmt.Sprintf("bad transfer: %s %q: want an integer", f.key, v), http.StatusBadRequest)
				return
			}
			nums[i] = n
		}
		held := s.Bug() == BugCallConvoy // the lock held across the downstream call
		if held {
			s.authMu.Lock()
		}
		err := s.authorize(r.Context(), nums[0], nums[1], nums[2])
		if held {
			s.authMu.Unlock()
		}
		switch {
		case errors.Is(err, errRefused):
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		case err != nil:
			http.Error(w, "authorizing with the ledger: "+err.Error(), http.StatusBadGateway)
			return
		}
	}
	s.forward(w, r, http.MethodPost, "/entries")
}
