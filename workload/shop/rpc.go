package shop

import (
	"context"
	"fmt"
	"log/slog"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

// The gRPC services, written by hand like package bank's (no protoc in the
// build): unary methods whose messages are google.protobuf.Struct.
//
//	Catalog/GetProduct: {"product": n} -> {"found": bool, "name": string, "stock": n}
//	Pricing/Quote:      {"product": n} -> {"cents": n}
const (
	CatalogService   = "debugai.shop.v1.Catalog"
	GetProductMethod = "/" + CatalogService + "/GetProduct"
	PricingService   = "debugai.shop.v1.Pricing"
	QuoteMethod      = "/" + PricingService + "/Quote"
)

// unaryFunc is one method's implementation.
type unaryFunc func(ctx context.Context, req *structpb.Struct) (*structpb.Struct, error)

// unaryDesc describes a one-method service whose handler is fn.
func unaryDesc(service, method string, fn unaryFunc) *grpc.ServiceDesc {
	full := "/" + service + "/" + method
	return &grpc.ServiceDesc{
		ServiceName: service,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: method, Handler: func(_ any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			in := new(structpb.Struct)
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(ctx context.Context, req any) (any, error) { return fn(ctx, req.(*structpb.Struct)) }
			if ic == nil {
				return h(ctx, in)
			}
			return ic(ctx, in, &grpc.UnaryServerInfo{FullMethod: full}, h)
		}}},
		Streams: []grpc.StreamDesc{},
	}
}

// recoverInterceptor turns a handler's panic into codes.Internal, as
// many services' recovery middleware does.
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

// GRPCServer returns a gRPC server for the role's service (catalog or
// pricing), traced with otelgrpc server spans. The caller serves and
// stops it.
func (s *Service) GRPCServer() (*grpc.Server, error) {
	var desc *grpc.ServiceDesc
	switch s.cfg.Role {
	case RoleCatalog:
		desc = unaryDesc(CatalogService, "GetProduct", s.getProduct)
	case RolePricing:
		desc = unaryDesc(PricingService, "Quote", s.quote)
	default:
		return nil, fmt.Errorf("%w: the %s serves no gRPC", ErrInvalidConfig, s.cfg.Role)
	}
	srv := grpc.NewServer(
		grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(s.tp),
			otelgrpc.WithPropagators(propagation.TraceContext{}))),
		grpc.ChainUnaryInterceptor(recoverInterceptor(s.log)),
		grpc.WaitForHandlers(true))
	srv.RegisterService(desc, nil)
	return srv, nil
}

// dial returns a traced client connection to a gRPC address.
func (s *Service) dial(addr string) (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(s.tp),
			otelgrpc.WithPropagators(propagation.TraceContext{}))))
	if err != nil {
		return nil, fmt.Errorf("dialing %s: %w", addr, err)
	}
	return conn, nil
}

// invoke calls a unary method with {"product": product}.
func invoke(ctx context.Context, conn *grpc.ClientConn, method string, product int) (*structpb.Struct, error) {
	req := &structpb.Struct{Fields: map[string]*structpb.Value{"product": structpb.NewNumberValue(float64(product))}}
	out := new(structpb.Struct)
	if err := conn.Invoke(ctx, method, req, out); err != nil {
		return nil, fmt.Errorf("calling %s: %w", method, err)
	}
	return out, nil
}

// productOf reads a request's product number.
func productOf(req *structpb.Struct, products int) (int, error) {
	v, ok := req.GetFields()["product"].GetKind().(*structpb.Value_NumberValue)
	if !ok || v.NumberValue < 0 || v.NumberValue >= float64(products) || v.NumberValue != float64(int(v.NumberValue)) {
		return 0, status.Error(codes.InvalidArgument, "product: want a whole number below the product count")
	}
	return int(v.NumberValue), nil
}
