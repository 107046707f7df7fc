package ingest

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"unicode"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
)

// AuthConfig says who may send OTLP. It follows what an OpenTelemetry
// Collector in front can send: the bearertokenauth extension's
// "Authorization: Bearer <token>" (an HTTP header, or gRPC metadata
// "authorization"), and the otlp/otlphttp exporters' TLS settings (ca_file,
// and cert_file/key_file for a client certificate).
type AuthConfig struct {
	// BearerTokens, when not empty, are the tokens accepted; every OTLP
	// request (HTTP and gRPC) must carry one. Each is at least
	// MinTokenLength characters without spaces.
	BearerTokens []string
	// TLS, when set, serves both listeners over TLS. With ClientAuth
	// tls.RequireAndVerifyClientCert it authenticates senders by their
	// certificate (mTLS), alone or together with a token.
	TLS *tls.Config
	// AllowedHosts are the host names accepted in OTLP/HTTP's Host and
	// Origin headers besides loopback names (and, for Host, IP literals):
	// the names collectors use to reach a non-loopback address. A page on
	// another origin whose name resolves to this address (DNS rebinding)
	// is refused. "*" accepts any Host (Origin is still checked).
	AllowedHosts []string
}

// MinTokenLength is the shortest bearer token accepted.
const MinTokenLength = 16

// Authentication errors.
var (
	// ErrAuthRequired reports a non-loopback listener without a bearer
	// token or client certificates.
	ErrAuthRequired = errors.New("OTLP ingest on a non-loopback address requires a bearer token or client certificates (mTLS)")
	// ErrWeakToken reports a bearer token that is blank, too short or has
	// spaces or control characters.
	ErrWeakToken = fmt.Errorf("bearer token must be at least %d characters without spaces", MinTokenLength)
)

// mTLS reports whether senders must present a verified client certificate.
func (a AuthConfig) mTLS() bool {
	return a.TLS != nil && a.TLS.ClientAuth == tls.RequireAndVerifyClientCert
}

// validate checks the tokens and refuses a non-loopback address without
// authentication. The error never shows a token.
func (a AuthConfig) validate(addrs ...string) error {
	for i, tok := range a.BearerTokens {
		if len(tok) < MinTokenLength || strings.IndexFunc(tok, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
			return fmt.Errorf("auth: bearer token %d: %w", i+1, ErrWeakToken)
		}
	}
	if a.TLS != nil && len(a.TLS.Certificates) == 0 && a.TLS.GetCertificate == nil {
		return errors.New("auth: TLS without a server certificate")
	}
	if len(a.BearerTokens) > 0 || a.mTLS() {
		return nil
	}
	for _, addr := range addrs {
		if addr == "" {
			continue
		}
		host, _, err := net.SplitHostPort(addr)
		if err == nil && !isLoopbackName(host) {
			return fmt.Errorf("auth: address %q: %w", addr, ErrAuthRequired)
		}
	}
	return nil
}

// isLoopbackName reports whether host (no port) names a loopback address.
// The empty host (all interfaces) is not loopback.
func isLoopbackName(host string) bool {
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// authenticator applies an AuthConfig to requests.
type authenticator struct {
	tokens  [][]byte // "Bearer <token>" is compared after the scheme
	hosts   []string // lower-case names accepted besides loopback
	anyHost bool
}

func newAuthenticator(a AuthConfig) *authenticator {
	au := &authenticator{}
	for _, t := range a.BearerTokens {
		au.tokens = append(au.tokens, []byte(t))
	}
	for _, h := range a.AllowedHosts {
		h = strings.ToLower(strings.Trim(strings.TrimSpace(h), "[]"))
		switch h {
		case "":
		case "*":
			au.anyHost = true
		default:
			au.hosts = append(au.hosts, h)
		}
	}
	return au
}

// tokenOK reports whether an Authorization value carries an accepted token.
// The scheme is case-insensitive (RFC 6750); every token is compared in
// constant time.
func (au *authenticator) tokenOK(authz string) bool {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(authz), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	tok = strings.TrimSpace(tok)
	match := 0
	for _, want := range au.tokens {
		match |= subtle.ConstantTimeCompare([]byte(tok), want)
	}
	return match == 1
}

// hostAllowed reports whether a Host (or, with ipOK false, an Origin's
// host) names this server rather than someone else's page.
func (au *authenticator) hostAllowed(host string, ipOK bool) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.Trim(host, "[]"))
	if host == "" {
		return false
	}
	if isLoopbackName(host) || slices.Contains(au.hosts, host) {
		return true
	}
	if ipOK {
		if _, err := netip.ParseAddr(host); err == nil {
			return true // a rebinding page's Host is its own name, not an address
		}
	}
	return false
}

// checkHTTP applies the Host/Origin checks and the token. It returns 0, or
// the status and message to answer.
func (au *authenticator) checkHTTP(r *http.Request) (int, codes.Code, string) {
	if !au.anyHost && !au.hostAllowed(r.Host, true) {
		return http.StatusForbidden, codes.PermissionDenied, "forbidden: the Host header is not an allowed name for this OTLP endpoint (see --otlp-allowed-hosts)"
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || !au.hostAllowed(u.Host, false) {
			return http.StatusForbidden, codes.PermissionDenied, "forbidden: requests from this Origin are not accepted"
		}
	}
	if len(au.tokens) > 0 && !au.tokenOK(r.Header.Get("Authorization")) {
		return http.StatusUnauthorized, codes.Unauthenticated, "unauthenticated: missing or wrong bearer token"
	}
	return 0, codes.OK, ""
}

// grpcTap refuses gRPC streams without an accepted token before anything
// of the request is read. refused counts them.
func (au *authenticator) grpcTap(refused func()) tap.ServerInHandle {
	return func(ctx context.Context, info *tap.Info) (context.Context, error) {
		if len(au.tokens) == 0 {
			return ctx, nil
		}
		var md metadata.MD = info.Header
		for _, v := range md.Get("authorization") {
			if au.tokenOK(v) {
				return ctx, nil
			}
		}
		refused()
		return ctx, status.Error(codes.Unauthenticated, "unauthenticated: missing or wrong bearer token")
	}
}
