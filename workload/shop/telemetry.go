package shop

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/debugai/debugai/hint/otelhint"
)

// instrumentation is the tracer's instrumentation scope.
const instrumentation = "github.com/debugai/debugai/workload/shop"

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
