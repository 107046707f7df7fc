package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
)

const otlpTestToken = "serve-otlp-token-0123456789"

// TestServeRefusesUnauthenticatedNonLoopback: a non-loopback OTLP address
// needs a token (or client certificates), and a blank or one-character
// token is refused, without showing it.
func TestServeRefusesUnauthenticatedNonLoopback(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "ev.duckdb")
	blank := filepath.Join(dir, "blank.token")
	if err := os.WriteFile(blank, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, env string
		args      []string
		want      string
	}{
		{"no token", "", []string{"--listen", "0.0.0.0:0"}, "requires a bearer token"},
		{"grpc no token", "", []string{"--grpc-listen", "0.0.0.0:0"}, "requires a bearer token"},
		{"one-character env token", "q", []string{"--listen", "0.0.0.0:0"}, "at least 16 characters"},
		{"one-character loopback token", "q", nil, "at least 16 characters"},
		{"blank token file", "", []string{"--listen", "0.0.0.0:0", "--otlp-token-file", blank}, "at least 16 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("DEBUGAI_HMAC_KEY", testKey)
			t.Setenv("DEBUGAI_OTLP_TOKEN", tc.env)
			args := append([]string{"serve", "--store", store, "--mcp-listen", "", "--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0"}, tc.args...)
			_, stderr, err := runCLI(t, args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to contain %q (stderr %s)", err, tc.want, stderr)
			}
			if tc.env != "" && strings.Contains(err.Error()+stderr, "\""+tc.env+"\"") {
				t.Errorf("the token is shown: %v", err)
			}
		})
	}
}

// TestServeOTLPTokenFromFile runs serve on all interfaces with a token
// file: an unauthenticated request is refused with 401, a rebinding Host
// with 403, a real SDK exporter sending the token is committed, and import
// reaches the running serve with the token of its state file.
func TestServeOTLPTokenFromFile(t *testing.T) {
	t.Setenv("DEBUGAI_HMAC_KEY", testKey)
	t.Setenv("DEBUGAI_OTLP_TOKEN", "")
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "otlp.token")
	if err := os.WriteFile(tokenFile, []byte(otlpTestToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(dir, "ev.duckdb")
	sp := startServe(t, store, "--listen", "0.0.0.0:0", "--grpc-listen", "", "--mcp-listen", "", "--otlp-token-file", tokenFile)
	port := sp.httpURL[strings.LastIndex(sp.httpURL, ":")+1:]
	url := "http://127.0.0.1:" + port + "/v1/traces"

	post := func(host, authz string) int {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader([]byte(`{}`)))
		req.Header.Set("Content-Type", "application/json")
		if host != "" {
			req.Host = host
		}
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := post("", ""); c != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", c)
	}
	if c := post("", "Bearer not-the-token-0123456789"); c != http.StatusUnauthorized {
		t.Errorf("wrong token: %d, want 401", c)
	}
	if c := post("rebound.attacker.example", "Bearer "+otlpTestToken); c != http.StatusForbidden {
		t.Errorf("rebinding Host: %d, want 403", c)
	}

	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpoint("127.0.0.1:"+port), otlptracehttp.WithInsecure(),
		otlptracehttp.WithHeaders(map[string]string{"Authorization": "Bearer " + otlpTestToken}))
	if err != nil {
		t.Fatal(err)
	}
	emitCanaryTraces(t, exp, "authed")

	line := `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"imported"}}]},"scopeSpans":[{"spans":[` +
		`{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"GET /imported",` +
		`"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000001000000000"}]}]}]}`
	in := filepath.Join(dir, "in.otlp.jsonl")
	if err := os.WriteFile(in, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := runChild(t, "import", "--store", store, in); err != nil {
		t.Fatalf("import through serve: %v (stderr %s)", err, stderr)
	}
	sp.stop(t)

	stats := openStats(t, store)
	if !slices.Contains(stats.Services, "imported") || len(stats.Services) < 2 || stats.Traces < 2 {
		t.Errorf("store stats %+v: want the exporter's trace and the imported one", stats)
	}
}
