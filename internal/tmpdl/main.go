package main
import (
 _ "github.com/duckdb/duckdb-go/v2"
 _ "go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
 _ "go.opentelemetry.io/collector/pdata/plog/plogotlp"
 _ "golang.org/x/crypto/hkdf"
 _ "google.golang.org/grpc"
 _ "go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
 _ "go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
 _ "go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
 _ "go.opentelemetry.io/otel/sdk/trace"
 _ "go.opentelemetry.io/otel/sdk/log"
 _ "gopkg.in/yaml.v3"
 _ "golang.org/x/term"
)
func main(){}
