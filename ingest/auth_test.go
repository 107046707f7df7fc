package ingest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

const testToken = "otlp-test-token-0123456789"

func TestAuthConfigValidate(t *testing.T) {
	mtls := &tls.Config{Certificates: []tls.Certificate{{}}, ClientAuth: tls.RequireAndVerifyClientCert}
	serverOnly := &tls.Config{Certificates: []tls.Certificate{{}}}
	for _, tc := range []struct {
		name      string
		httpAddr  string
		auth      AuthConfig
		wantError error
	}{
		{"loopback without auth", "127.0.0.1:4318", AuthConfig{}, nil},
		{"localhost without auth", "localhost:4318", AuthConfig{}, nil},
		{"all interfaces without auth", ":4318", AuthConfig{}, ErrAuthRequired},
		{"non-loopback without auth", "0.0.0.0:4318", AuthConfig{}, ErrAuthRequired},
		{"non-loopback with server TLS only", "0.0.0.0:4318", AuthConfig{TLS: serverOnly}, ErrAuthRequired},
		{"non-loopback with token", "0.0.0.0:4318", AuthConfig{BearerTokens: []string{testToken}}, nil},
		{"non-loopback with mTLS", "0.0.0.0:4318", AuthConfig{TLS: mtls}, nil},
		{"blank token", "127.0.0.1:4318", AuthConfig{BearerTokens: []string{""}}, ErrWeakToken},
		{"one-character token", "127.0.0.1:4318", AuthConfig{BearerTokens: []string{"x"}}, ErrWeakToken},
		{"short token", "0.0.0.0:4318", AuthConfig{BearerTokens: []string{"0123456789abcde"}}, ErrWeakToken},
		{"token with a space", "0.0.0.0:4318", AuthConfig{BearerTokens: []string{"0123456789 abcdefgh"}}, ErrWeakToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.HTTPAddr, cfg.Auth = tc.httpAddr, tc.auth
			err := cfg.Validate()
			if !errors.Is(err, tc.wantError) || (tc.wantError == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, tc.wantError)
			}
			for _, tok := range tc.auth.BearerTokens {
				if err != nil && tok != "" && strings.Contains(err.Error(), tok) {
					t.Errorf("error %q shows the token", err)
				}
			}
		})
	}
}

// TestOTLPHTTPAuthAndRebinding: without or with a wrong token a request is
// refused with 401 (nothing read, nothing written); a Host or Origin that
// is not this server's is refused with 403 even with the token; a real SDK
// exporter sending the token, as the Collector's bearertokenauth does, is
// accepted.
func TestOTLPHTTPAuthAndRebinding(t *testing.T) {
	w := &recordingWriter{}
	s := startTestServer(t, w, func(c *Config) {
		c.Auth = AuthConfig{BearerTokens: []string{testToken}, AllowedHosts: []string{"debugai.internal"}}
	})
	url := "http://" + s.HTTPAddr() + TracesPath
	body := tracesBody(t, buildTraces("auth", 1), encProto)
	for _, tc := range []struct {
		name           string
		host, origin   string
		authz          string
		wantCode       int
		wantAuthHeader bool
	}{
		{"no token", "", "", "", http.StatusUnauthorized, true},
		{"wrong token", "", "", "Bearer wrong-token-0123456789", http.StatusUnauthorized, true},
		{"token as basic", "", "", "Basic " + testToken, http.StatusUnauthorized, true},
		{"rebinding host", "attacker.example:4318", "", "Bearer " + testToken, http.StatusForbidden, false},
		{"rebinding origin", "", "http://attacker.example", "Bearer " + testToken, http.StatusForbidden, false},
		{"origin by address", "", "http://198.51.100.9", "Bearer " + testToken, http.StatusForbidden, false},
		{"allowed host", "debugai.internal:4318", "", "Bearer " + testToken, http.StatusOK, false},
		{"loopback origin", "", "http://localhost:3000", "bearer " + testToken, http.StatusOK, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", contentTypeProto)
			if tc.host != "" {
				req.Host = tc.host
			}
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			if tc.authz != "" {
				req.Header.Set("Authorization", tc.authz)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.wantCode {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantCode)
			}
			if got := resp.Header.Get("WWW-Authenticate") != ""; got != tc.wantAuthHeader {
				t.Errorf("WWW-Authenticate present %v, want %v", got, tc.wantAuthHeader)
			}
		})
	}
	if st := s.Stats().HTTP; st.Unauthorized != 6 || st.Accepted != 2 || w.writeCount() != 2 {
		t.Errorf("stats %+v, writes %d: want 6 refused, 2 accepted", st, w.writeCount())
	}

	// The real exporter, with and without the header.
	bad, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpoint(s.HTTPAddr()), otlptracehttp.WithInsecure(),
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}))
	if err != nil {
		t.Fatal(err)
	}
	if err := exportOne(bad); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("unauthenticated exporter: err %v, want a 401", err)
	}
	good, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpoint(s.HTTPAddr()), otlptracehttp.WithInsecure(),
		otlptracehttp.WithHeaders(map[string]string{"Authorization": "Bearer " + testToken}))
	if err != nil {
		t.Fatal(err)
	}
	want := emitSpans(t, good, "authed", 5)
	var names []string
	for n := range want {
		names = append(names, n)
	}
	if !w.hasSpans(names) {
		t.Errorf("authenticated exporter's spans not committed")
	}
}

// exportOne exports one span and returns the exporter's error.
func exportOne(exp sdktrace.SpanExporter) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return exp.ExportSpans(ctx, tracetest.SpanStubs{{Name: "one",
		SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}}),
		StartTime:   time.Unix(1, 0), EndTime: time.Unix(2, 0)}}.Snapshots())
}

// TestOTLPGRPCAuth: gRPC without the "authorization" metadata is refused
// with UNAUTHENTICATED before anything is decoded; a real exporter sending
// it is accepted.
func TestOTLPGRPCAuth(t *testing.T) {
	w := &recordingWriter{}
	s := startTestServer(t, w, func(c *Config) { c.Auth = AuthConfig{BearerTokens: []string{testToken}} })
	client := dialGRPC(t, s.GRPCAddr())
	err := client.Invoke(context.Background(), traceExportMethod, &rawMessage{b: tracesBody(t, buildTraces("g", 1), encProto)}, &rawMessage{})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("without token: %v, want UNAUTHENTICATED", err)
	}
	if st := s.Stats().GRPC; st.Unauthorized != 1 || w.writeCount() != 0 {
		t.Errorf("stats %+v, writes %d", st, w.writeCount())
	}
	exp, err := otlptracegrpc.New(context.Background(), otlptracegrpc.WithEndpoint(s.GRPCAddr()), otlptracegrpc.WithInsecure(),
		otlptracegrpc.WithHeaders(map[string]string{"authorization": "Bearer " + testToken}))
	if err != nil {
		t.Fatal(err)
	}
	checkSpans(t, w, emitSpans(t, exp, "grpc-authed", 5))
}

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate.
type testPKI struct {
	pool           *x509.CertPool
	server, client tls.Certificate
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, usage x509.ExtKeyUsage) tls.Certificate {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "test"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			KeyUsage: x509.KeyUsageDigitalSignature}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return testPKI{pool: pool, server: issue(2, x509.ExtKeyUsageServerAuth), client: issue(3, x509.ExtKeyUsageClientAuth)}
}

// TestOTLPMutualTLS: with client certificates required, real exporters
// with a client certificate are accepted on both protocols and a client
// without one is refused.
func TestOTLPMutualTLS(t *testing.T) {
	pki := newTestPKI(t)
	w := &recordingWriter{}
	s := startTestServer(t, w, func(c *Config) {
		c.HTTPAddr, c.GRPCAddr = "0.0.0.0:0", "0.0.0.0:0" // allowed: senders are authenticated by certificate
		c.Auth = AuthConfig{TLS: &tls.Config{Certificates: []tls.Certificate{pki.server}, ClientCAs: pki.pool,
			ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}}
	})
	_, httpPort, _ := net.SplitHostPort(s.HTTPAddr())
	_, grpcPort, _ := net.SplitHostPort(s.GRPCAddr())
	clientTLS := &tls.Config{RootCAs: pki.pool, Certificates: []tls.Certificate{pki.client}, MinVersion: tls.VersionTLS12}

	anon := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.pool, MinVersion: tls.VersionTLS12}}}
	req, _ := http.NewRequest(http.MethodPost, "https://127.0.0.1:"+httpPort+TracesPath, bytes.NewReader(tracesBody(t, buildTraces("anon", 1), encProto)))
	req.Header.Set("Content-Type", contentTypeProto)
	if resp, err := anon.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a client without a certificate got %s", resp.Status)
	}

	hexp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpoint("127.0.0.1:"+httpPort), otlptracehttp.WithTLSClientConfig(clientTLS))
	if err != nil {
		t.Fatal(err)
	}
	want := emitSpans(t, hexp, "mtls-http", 3)
	gexp, err := otlptracegrpc.New(context.Background(), otlptracegrpc.WithEndpoint("127.0.0.1:"+grpcPort),
		otlptracegrpc.WithTLSCredentials(credentials.NewTLS(clientTLS)))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range emitSpans(t, gexp, "mtls-grpc", 3) {
		want[k] = v
	}
	checkSpans(t, w, want)
}

// TestOTLPHTTPRebindingOnLoopback: a loopback serve without a token still
// refuses a page that reached it through a rebound name (its Host or
// Origin), and accepts loopback and address Hosts.
func TestOTLPHTTPRebindingOnLoopback(t *testing.T) {
	w := &recordingWriter{}
	s := startTestServer(t, w, nil)
	url := "http://" + s.HTTPAddr() + TracesPath
	body := tracesBody(t, buildTraces("rb", 1), encJSON)
	for _, tc := range []struct {
		host, origin string
		want         int
	}{
		{"rebound.attacker.example:4318", "", http.StatusForbidden},
		{"", "http://rebound.attacker.example", http.StatusForbidden},
		{"", "null", http.StatusForbidden},
		{"localhost:4318", "", http.StatusOK},
		{"", "", http.StatusOK},
	} {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", contentTypeJSON)
		if tc.host != "" {
			req.Host = tc.host
		}
		if tc.origin != "" {
			req.Header.Set("Origin", tc.origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("Host %q Origin %q: status %d, want %d", tc.host, tc.origin, resp.StatusCode, tc.want)
		}
	}
	if w.writeCount() != 2 {
		t.Errorf("%d writes, want 2", w.writeCount())
	}
}
