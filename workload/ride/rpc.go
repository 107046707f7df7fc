package ride

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
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
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/debugai/debugai/hint/otelhint"
)

// instrumentation is the tracer's instrumentation scope.
const instrumentation = "github.com/debugai/debugai/workload/ride"

// The gRPC services, written by hand (no protoc in the build): unary
// methods whose messages are google.protobuf.Struct.
//
//	Pricing/Quote  {"rider", "city"} -> {"cents"}
//	Matcher/Match  {"rider", "city"} -> {"trip", "driver"}
//	Geo/Nearby     {"cell"} -> {"drivers"}      Geo/Update {"driver", "cell"} -> {}
//	TripDB/Exec    {"sql", "key"} -> {"rows"}
const (
	PricingService = "ride.v1.Pricing"
	MatcherService = "ride.v1.Matcher"
	GeoService     = "ride.v1.Geo"
	TripDBService  = "ride.v1.TripDB"

	quoteMethod  = "/" + PricingService + "/Quote"
	matchMethod  = "/" + MatcherService + "/Match"
	nearbyMethod = "/" + GeoService + "/Nearby"
	updateMethod = "/" + GeoService + "/Update"
	execMethod   = "/" + TripDBService + "/Exec"
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
		full, fn := "/"+service+"/"+m.name, m.fn
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

// dial returns a client connection to a gRPC address that reconnects fast
// after a callee restarts; traced (otelgrpc) unless tp is nil. Calls wait
// for a connection that is down instead of failing at once.
func dial(tp trace.TracerProvider, addr string) (*grpc.ClientConn, error) {
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6,
			Jitter: 0.2, MaxDelay: time.Second}, MinConnectTimeout: time.Second}),
		grpc.WithDefaultCallOptions(grpc.WaitForReady(true))}
	if tp != nil {
		opts = append(opts, grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(tp),
			otelgrpc.WithPropagators(propagation.TraceContext{}))))
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("dialing a callee: %w", err)
	}
	return conn, nil
}

// roundRobin spreads calls over a role's replicas, one connection each.
type roundRobin struct {
	conns []*grpc.ClientConn
	next  atomic.Uint64
}

// pick returns the next replica's connection.
func (rr *roundRobin) pick() *grpc.ClientConn {
	return rr.conns[(rr.next.Add(1)-1)%uint64(len(rr.conns))]
}

// invoke calls a unary method with fields and returns the answer's fields.
func invoke(ctx context.Context, conn *grpc.ClientConn, fullMethod string, fields map[string]any) (map[string]any, error) {
	req, err := structpb.NewStruct(fields)
	if err != nil {
		return nil, fmt.Errorf("encoding a request: %w", err)
	}
	out := new(structpb.Struct)
	if err := conn.Invoke(ctx, fullMethod, req, out); err != nil {
		return nil, fmt.Errorf("calling %s: %w", fullMethod, err)
	}
	return out.AsMap(), nil
}

// answer builds a reply.
func answer(fields map[string]any) *structpb.Struct {
	m, err := structpb.NewStruct(fields)
	if err != nil {
		return &structpb.Struct{}
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

// num reads a number field of an answer (0 when absent).
func num(m map[string]any, key string) int {
	f, _ := m[key].(float64)
	return int(f)
}

// postJSON POSTs v as JSON to u through client and decodes the answer
// into out (when not nil); a non-2xx answer is an *httpStatusError.
func postJSON(ctx context.Context, client *http.Client, method, u string, v, out any) error {
	var body io.Reader
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encoding a request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("calling %s: %w", req.URL.Path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return &httpStatusError{Code: resp.StatusCode}
	}
	if out == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(out); err != nil {
		return fmt.Errorf("decoding the answer of %s: %w", req.URL.Path, err)
	}
	return nil
}

// httpStatusError is a callee's non-2xx answer.
type httpStatusError struct{ Code int }

func (e *httpStatusError) Error() string { return fmt.Sprintf("answered %d", e.Code) }

// joinURL is base with path appended.
func joinURL(base, path string) string { return strings.TrimRight(base, "/") + path }

// validURL reports whether u parses as an absolute http URL.
func validURL(u string) bool {
	p, err := url.Parse(u)
	return err == nil && p.Scheme == "http" && p.Host != ""
}

// NewTracerProvider returns a tracer provider for cfg's process
// (service.name the role, service.instance.id, service.version,
// process.pid, host.name) that registers the hint span processor and
// batches spans every 200 ms to the OTLP/HTTP traces endpoint (a base URL
// gets "/v1/traces"; "" exports nothing). Shut it down to flush.
func NewTracerProvider(ctx context.Context, cfg *Config, endpoint string) (*sdktrace.TracerProvider, error) {
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", string(cfg.Role)), attribute.String("service.version", cfg.Version),
			attribute.String("service.instance.id", cfg.InstanceID())),
		resource.WithProcessPID(), resource.WithHost())
	if err != nil {
		return nil, fmt.Errorf("building the resource: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSpanProcessor(otelhint.New())}
	if endpoint != "" {
		u, err := url.Parse(endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%w: OTLP endpoint: want http://host:port[/v1/traces]", ErrInvalidConfig)
		}
		if strings.Trim(u.Path, "/") == "" {
			u.Path = "/v1/traces"
		}
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u.String()))
		if err != nil {
			return nil, fmt.Errorf("creating the OTLP exporter: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(200*time.Millisecond),
			sdktrace.WithMaxQueueSize(1<<14), sdktrace.WithMaxExportBatchSize(2048)))
	}
	return sdktrace.NewTracerProvider(opts...), nil
}

// mapCarrier carries W3C trace context in a message's headers.
type mapCarrier map[string]string

func (c mapCarrier) Get(key string) string { return c[key] }
func (c mapCarrier) Set(key, value string) { c[key] = value }
func (c mapCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

var _ propagation.TextMapCarrier = mapCarrier{}
