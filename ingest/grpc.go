package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // accept gzip-compressed OTLP/gRPC
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// GRPCConfig configures the OTLP/gRPC receiver.
type GRPCConfig struct {
	// MaxRecvMsgBytes bounds one request message, after decompression;
	// larger ones fail with RESOURCE_EXHAUSTED.
	MaxRecvMsgBytes int
	// MaxConcurrentStreams bounds concurrent RPCs per connection.
	MaxConcurrentStreams uint32
	// MaxConcurrentConverts bounds requests being converted at once.
	MaxConcurrentConverts int
}

// DefaultGRPCConfig returns 16 MiB messages, 64 streams per connection and
// two converting slots per CPU (at least four).
func DefaultGRPCConfig() GRPCConfig {
	return GRPCConfig{
		MaxRecvMsgBytes:       16 << 20,
		MaxConcurrentStreams:  64,
		MaxConcurrentConverts: defaultSlots(),
	}
}

// Validate reports the first invalid field.
func (c GRPCConfig) Validate() error {
	switch {
	case c.MaxRecvMsgBytes <= 0:
		return fmt.Errorf("grpc: max receive message bytes %d: must be positive", c.MaxRecvMsgBytes)
	case c.MaxConcurrentStreams == 0:
		return errors.New("grpc: max concurrent streams: must be positive")
	case c.MaxConcurrentConverts <= 0:
		return fmt.Errorf("grpc: max concurrent converts %d: must be positive", c.MaxConcurrentConverts)
	}
	return nil
}

// ServerOptions returns the grpc.Server options the configuration implies.
func (c GRPCConfig) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(c.MaxRecvMsgBytes),
		grpc.MaxConcurrentStreams(c.MaxConcurrentStreams),
	}
}

// GRPCReceiver serves the OTLP trace and log services. Get one from
// RegisterGRPC.
type GRPCReceiver struct {
	r *receiver
}

// Stats returns the receiver's counters.
func (g *GRPCReceiver) Stats() ReceiverStats { return g.r.c.snapshot() }

// RegisterGRPC registers the OTLP TraceService and LogsService on s, feeding
// p through conv. Build s with cfg.ServerOptions(). A nil logger discards.
//
// The services are registered with their own descriptors rather than
// ptraceotlp.RegisterGRPCServer so that an undecodable request is answered
// with INVALID_ARGUMENT (grpc-go itself would answer INTERNAL).
func RegisterGRPC(s *grpc.Server, cfg GRPCConfig, conv Converter, p *Pipeline, logger *slog.Logger) (*GRPCReceiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if s == nil {
		return nil, errors.New("grpc: nil server")
	}
	r, err := newReceiver(conv, p, discardLogger(logger).With("receiver", "otlp/grpc"), cfg.MaxConcurrentConverts)
	if err != nil {
		return nil, fmt.Errorf("grpc: %w", err)
	}
	s.RegisterService(&traceServiceDesc, &traceService{r: r})
	s.RegisterService(&logsServiceDesc, &logsService{r: r})
	return &GRPCReceiver{r: r}, nil
}

// export converts and submits one decoded request, answering with a gRPC
// status error on failure.
func (r *receiver) export(ctx context.Context, sig signal, td ptrace.Traces, ld plog.Logs) (rejected int64, reason string, err error) {
	// A request decoded by the receiver's own handlers holds its decoding
	// slot and budget since before decoding (forMessage).
	res, _ := ctx.Value(reservationKey{}).(*reservation)
	if res == nil || res.releaseSlot == nil {
		if err := r.acquire(ctx); err != nil {
			r.c.canceled.Add(1)
			return 0, "", status.FromContextError(err).Err()
		}
	}
	b, rejected, reason, err := r.convert(sig, td, ld)
	// The decoded request is garbage now and the batch counts against the
	// pipeline's queue bounds: the slot and the budget go back.
	if res != nil && res.releaseSlot != nil {
		res.done()
	} else {
		r.release()
	}
	if err == nil {
		err = r.p.Submit(ctx, b)
	}
	if err != nil {
		o := r.classify(err)
		o.counter.Add(1)
		st := status.New(o.code, cleanMessage(err.Error()))
		if o.retry {
			if d, derr := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(r.p.RetryAfter())}); derr == nil {
				st = d
			}
		}
		return 0, "", st.Err()
	}
	r.c.accepted.Add(1)
	r.c.rejectedItems.Add(rejected)
	if b != nil {
		r.c.acceptedItems.Add(int64(b.Len()))
	}
	return rejected, reason, nil
}

type traceService struct {
	ptraceotlp.UnimplementedGRPCServer
	r *receiver
}

var _ ptraceotlp.GRPCServer = (*traceService)(nil)

// Export implements ptraceotlp.GRPCServer.
func (s *traceService) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	resp := ptraceotlp.NewExportResponse()
	rejected, reason, err := s.r.export(ctx, signalTraces, req.Traces(), plog.Logs{})
	if err != nil {
		return resp, err
	}
	if rejected > 0 || reason != "" {
		resp.PartialSuccess().SetRejectedSpans(rejected)
		resp.PartialSuccess().SetErrorMessage(cleanMessage(reason))
	}
	return resp, nil
}

type logsService struct {
	plogotlp.UnimplementedGRPCServer
	r *receiver
}

var _ plogotlp.GRPCServer = (*logsService)(nil)

// Export implements plogotlp.GRPCServer.
func (s *logsService) Export(ctx context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	resp := plogotlp.NewExportResponse()
	rejected, reason, err := s.r.export(ctx, signalLogs, ptrace.Traces{}, req.Logs())
	if err != nil {
		return resp, err
	}
	if rejected > 0 || reason != "" {
		resp.PartialSuccess().SetRejectedLogRecords(rejected)
		resp.PartialSuccess().SetErrorMessage(cleanMessage(reason))
	}
	return resp, nil
}

const (
	traceExportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
	logsExportMethod  = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
)

var traceServiceDesc = grpc.ServiceDesc{
	ServiceName: "opentelemetry.proto.collector.trace.v1.TraceService",
	HandlerType: (*ptraceotlp.GRPCServer)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Export", Handler: traceExportHandler}},
	Metadata:    "opentelemetry/proto/collector/trace/v1/trace_service.proto",
}

var logsServiceDesc = grpc.ServiceDesc{
	ServiceName: "opentelemetry.proto.collector.logs.v1.LogsService",
	HandlerType: (*plogotlp.GRPCServer)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Export", Handler: logsExportHandler}},
	Metadata:    "opentelemetry/proto/collector/logs/v1/logs_service.proto",
}

//nolint:revive // the signature is grpc.MethodHandler's
func traceExportHandler(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
	s := srv.(*traceService)
	s.r.c.requests.Add(1)
	req := ptraceotlp.NewExportRequest()
	ctx, res := s.r.reserve(ctx)
	defer res.done()
	m := &lenientMessage{unmarshal: req.UnmarshalProto, reserve: s.r.forMessage(ctx, res)}
	if err := s.r.decoded(dec, m, "traces"); err != nil {
		return nil, err
	}
	return runExport(ctx, srv, ic, m, traceExportMethod, func(ctx context.Context) ([]byte, error) {
		resp, err := s.Export(ctx, req)
		if err != nil {
			return nil, err
		}
		return resp.MarshalProto()
	})
}

//nolint:revive // the signature is grpc.MethodHandler's
func logsExportHandler(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
	s := srv.(*logsService)
	s.r.c.requests.Add(1)
	req := plogotlp.NewExportRequest()
	ctx, res := s.r.reserve(ctx)
	defer res.done()
	m := &lenientMessage{unmarshal: req.UnmarshalProto, reserve: s.r.forMessage(ctx, res)}
	if err := s.r.decoded(dec, m, "logs"); err != nil {
		return nil, err
	}
	return runExport(ctx, srv, ic, m, logsExportMethod, func(ctx context.Context) ([]byte, error) {
		resp, err := s.Export(ctx, req)
		if err != nil {
			return nil, err
		}
		return resp.MarshalProto()
	})
}

// runExport calls export, through the server's interceptor when there is
// one, and wraps its encoded response for the raw codec.
func runExport(ctx context.Context, srv any, ic grpc.UnaryServerInterceptor, m any, method string,
	export func(context.Context) ([]byte, error)) (any, error) {
	call := func(ctx context.Context, _ any) (any, error) {
		b, err := export(ctx)
		if err != nil {
			return nil, err
		}
		return &rawMessage{b: b}, nil
	}
	if ic == nil {
		return call(ctx, m)
	}
	return ic(ctx, m, &grpc.UnaryServerInfo{Server: srv, FullMethod: method}, call)
}

// decoded runs grpc's decoder on m and turns a decoding failure into
// INVALID_ARGUMENT.
func (r *receiver) decoded(dec func(any) error, m *lenientMessage, what string) error {
	if err := dec(m); err != nil {
		r.c.malformed.Add(1)
		return err
	}
	if m.budgetErr != nil {
		o := r.classify(m.budgetErr)
		o.counter.Add(1)
		st := status.New(o.code, cleanMessage(m.budgetErr.Error()))
		if o.retry {
			if d, derr := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(r.p.RetryAfter())}); derr == nil {
				st = d
			}
		}
		return st.Err()
	}
	if m.err != nil {
		r.c.malformed.Add(1)
		return status.Error(codes.InvalidArgument, cleanMessage(fmt.Sprintf("decoding protobuf %s export request: %v", what, m.err)))
	}
	return nil
}

// reservationKey carries a gRPC request's reservation to export.
type reservationKey struct{}

// reserve starts a request's reservation in the budget.
func (r *receiver) reserve(ctx context.Context) (context.Context, *reservation) {
	res := newReservation(r.budget)
	return context.WithValue(ctx, reservationKey{}, res), res
}

// forMessage returns the hook run before a received message is decoded:
// it reserves the message's bytes (already read by grpc-go, which bounds
// them by MaxRecvMsgBytes), takes a decoding slot, then reserves what
// decoding and converting will hold. export gives slot and budget back.
func (r *receiver) forMessage(ctx context.Context, res *reservation) func(n int) error {
	return func(n int) error {
		if err := res.ensure(ctx, int64(n)); err != nil {
			return err
		}
		if err := r.acquire(ctx); err != nil {
			return err
		}
		res.releaseSlot = r.release
		return res.ensureDecode(ctx, decodeFactorProto*int64(n))
	}
}

// lenientMessage and rawMessage go through the gRPC codec that pdata
// registers as "proto" (it handles any message with SizeProto, MarshalProto
// and UnmarshalProto, which is how pdata's own request types travel).
// lenientMessage keeps a decoding error instead of returning it, so that the
// handler, not grpc-go, chooses the status code; rawMessage carries an
// already encoded response.
type lenientMessage struct {
	unmarshal func([]byte) error
	reserve   func(n int) error // nil: no budget
	err       error
	budgetErr error
}

func (m *lenientMessage) SizeProto() int          { return 0 }
func (m *lenientMessage) MarshalProto([]byte) int { return 0 }
func (m *lenientMessage) UnmarshalProto(b []byte) error {
	if m.reserve != nil {
		if m.budgetErr = m.reserve(len(b)); m.budgetErr != nil {
			return nil
		}
	}
	m.err = m.unmarshal(b)
	return nil
}

type rawMessage struct{ b []byte }

func (m *rawMessage) SizeProto() int              { return len(m.b) }
func (m *rawMessage) MarshalProto(buf []byte) int { return copy(buf, m.b) }
func (m *rawMessage) UnmarshalProto(b []byte) error {
	m.b = append(m.b[:0], b...)
	return nil
}
