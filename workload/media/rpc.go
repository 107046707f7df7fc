package media

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/debugai/debugai/hint/otelhint"
)

// instrumentation is the tracer's instrumentation scope.
const instrumentation = "github.com/debugai/debugai/workload/media"

// The gRPC services, written by hand (no protoc in the build): unary
// methods whose messages are google.protobuf.Struct with number fields.
//
//	Store/Read    {"video"} -> {"size"}          Store/Write {"video"} -> {}
//	Cache/Get     {"video"} -> {"hit", "size"}   Cache/Set   {"video", "size"} -> {}
//	Index/Search  {"user", "shard"} -> {"hits"}
//	Meta/GetVideo {"video"} -> {"size"}
//	Recs/Feed     {"user"} -> {"items"}
//	Ingest/Upload {"video"} -> {}
const (
	StoreService  = "media.v1.Store"
	CacheService  = "media.v1.Cache"
	IndexService  = "media.v1.Index"
	MetaService   = "media.v1.Meta"
	RecsService   = "media.v1.Recs"
	IngestService = "media.v1.Ingest"
)

// unaryFunc is one method's implementation.
type unaryFunc func(ctx context.Context, req *structpb.Struct) (*structpb.Struct, error)

// method is one unary method of a service.
type method struct {
	name string
	fn   unaryFunc
}

// serviceDesc describes service with its unary methods.
func serviceDesc(service string, methods ...method) *grpc.ServiceDesc {
	desc := &grpc.ServiceDesc{ServiceName: service, HandlerType: (*any)(nil), Streams: []grpc.StreamDesc{}}
	for _, m := range methods {
		full := "/" + service + "/" + m.name
		fn := m.fn
		desc.Methods = append(desc.Methods, grpc.MethodDesc{MethodName: m.name,
			Handler: func(_ any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
				in := new(structpb.Struct)
				if err := dec(in); err != nil {
					return nil, err
				}
				h := func(ctx context.Context, req any) (any, error) { return fn(ctx, req.(*structpb.Struct)) }
				if ic == nil {
					return h(ctx, in)
				}
				return ic(ctx, in, &grpc.UnaryServerInfo{FullMethod: full}, h)
			}})
	}
	return desc
}

// recoverInterceptor turns a handler's panic into codes.Internal.
func recoverInterceptor(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				log.Debug("recovered a panic", "method", info.FullMethod)
				resp, err = nil, status.Error(codes.Internal, "internal error")
			}
		}()
		return h(ctx, req)
	}
}

// mdCarrier reads and writes W3C trace context in gRPC metadata.
type mdCarrier metadata.MD

func (c mdCarrier) Get(key string) string {
	if v := metadata.MD(c).Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}
func (c mdCarrier) Set(key, value string) { metadata.MD(c).Set(key, value) }
func (c mdCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

var _ propagation.TextMapCarrier = mdCarrier{}

// handTraced is the index's hand-written server instrumentation: it
// extracts the caller's trace context, starts a span with no span kind
// named like an RPC, recovers a panic, and reports an error only as an
// exception event and an rpc.grpc.status_code attribute (no span status),
// as some real exports do.
func handTraced(tracer trace.Tracer, log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
		md, _ := metadata.FromIncomingContext(ctx)
		ctx = propagation.TraceContext{}.Extract(ctx, mdCarrier(md))
		service, meth, _ := strings.Cut(strings.TrimPrefix(info.FullMethod, "/"), "/")
		ctx, span := tracer.Start(ctx, service+"/"+meth, trace.WithAttributes(attribute.String("rpc.system", "grpc"),
			attribute.String("rpc.service", service), attribute.String("rpc.method", meth)))
		defer func() {
			if p := recover(); p != nil {
				log.Debug("recovered a panic", "method", info.FullMethod)
				span.RecordError(fmt.Errorf("%v", p), trace.WithAttributes(attribute.Bool("exception.escaped", true)))
				resp, err = nil, status.Error(codes.Internal, "internal error")
			} else if err != nil {
				span.RecordError(err)
			}
			span.SetAttributes(attribute.Int("rpc.grpc.status_code", int(status.Code(err))))
			span.End()
		}()
		return h(ctx, req)
	}
}

// dial returns a traced client connection to a gRPC address that
// reconnects fast after a callee restarts.
func dial(tp trace.TracerProvider, addr string) (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6,
			Jitter: 0.2, MaxDelay: time.Second}, MinConnectTimeout: time.Second}),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(tp),
			otelgrpc.WithPropagators(propagation.TraceContext{}))))
	if err != nil {
		return nil, fmt.Errorf("dialing a callee: %w", err)
	}
	return conn, nil
}

// invoke calls a unary method with number fields and returns the answer's
// number fields.
func invoke(ctx context.Context, conn *grpc.ClientConn, fullMethod string, fields map[string]float64) (map[string]float64, error) {
	req := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	for k, v := range fields {
		req.Fields[k] = structpb.NewNumberValue(v)
	}
	out := new(structpb.Struct)
	if err := conn.Invoke(ctx, fullMethod, req, out); err != nil {
		return nil, fmt.Errorf("calling %s: %w", fullMethod, err)
	}
	return numbers(out), nil
}

// numbers returns a message's number fields.
func numbers(m *structpb.Struct) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m.GetFields() {
		if n, ok := v.GetKind().(*structpb.Value_NumberValue); ok {
			out[k] = n.NumberValue
		}
	}
	return out
}

// answer builds a reply of number fields.
func answer(fields map[string]float64) *structpb.Struct {
	m := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	for k, v := range fields {
		m.Fields[k] = structpb.NewNumberValue(v)
	}
	return m
}

// intField reads a whole-number field in [0, n).
func intField(req *structpb.Struct, key string, n int) (int, error) {
	v, ok := req.GetFields()[key].GetKind().(*structpb.Value_NumberValue)
	if !ok || v.NumberValue < 0 || v.NumberValue >= float64(n) || v.NumberValue != float64(int(v.NumberValue)) {
		return 0, status.Errorf(codes.InvalidArgument, "%s: want a whole number below %d", key, n)
	}
	return int(v.NumberValue), nil
}

// NewTracerProvider returns a tracer provider for cfg's service
// (service.name the role, service.version, process.pid, host.name) that
// registers the hint span processor and batches spans every 200 ms to the
// OTLP/HTTP traces endpoint (a base URL gets "/v1/traces"; "" exports
// nothing). Shut it down to flush.
func NewTracerProvider(ctx context.Context, cfg *Config, endpoint string) (*sdktrace.TracerProvider, error) {
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", string(cfg.Role)), attribute.String("service.version", cfg.Version)),
		resource.WithProcessPID(), resource.WithHost())
	if err != nil {
		return nil, fmt.Errorf("building the resource: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSpanProcessor(otelhint.New())}
	if endpoint != "" {
		if !strings.HasPrefix(endpoint, "http://") && !strings.HasPrefix(endpoint, "https://") {
			return nil, fmt.Errorf("%w: OTLP endpoint: want http://host:port[/v1/traces]", ErrInvalidConfig)
		}
		u := endpoint
		if rest := strings.SplitN(strings.SplitN(u, "://", 2)[1], "/", 2); len(rest) == 1 || strings.Trim(rest[1], "/") == "" {
			u = strings.TrimRight(u, "/") + "/v1/traces"
		}
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u))
		if err != nil {
			return nil, fmt.Errorf("creating the OTLP exporter: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(200*time.Millisecond),
			sdktrace.WithMaxQueueSize(1<<14), sdktrace.WithMaxExportBatchSize(2048)))
	}
	return sdktrace.NewTracerProvider(opts...), nil
}
