package tools

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/server"
)

// MCPPath is where the streamable HTTP endpoint is served.
const MCPPath = "/mcp"

// HTTPConfig configures the MCP streamable HTTP endpoint.
type HTTPConfig struct {
	// Addr is the listen address. Loopback by default; any other address
	// requires Token.
	Addr string
	// Token, when set, is the bearer token every request must carry
	// ("Authorization: Bearer <token>").
	Token string
	// AllowedHosts are host names accepted in the Host and Origin headers
	// besides the loopback names (localhost, 127.0.0.1, ::1): the names
	// clients use to reach a non-loopback address.
	AllowedHosts []string
	// Logger, nil = discard.
	Logger *slog.Logger
}

// DefaultHTTPAddr is the default listen address of the MCP endpoint.
const DefaultHTTPAddr = "127.0.0.1:4320"

// ErrTokenRequired reports a non-loopback MCP address without a token.
var ErrTokenRequired = errors.New("a bearer token is required when the MCP endpoint is not bound to loopback")

// Validate refuses a non-loopback address without a token.
func (c HTTPConfig) Validate() error {
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("mcp listen address %q: %w", c.Addr, err)
	}
	if !isLoopbackName(host) && c.Token == "" {
		return fmt.Errorf("mcp listen address %q: %w", c.Addr, ErrTokenRequired)
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

// guard checks Host and Origin against DNS rebinding (a page on another
// origin that resolves its name to 127.0.0.1) and the bearer token.
type guard struct {
	token string
	hosts []string // lower-case names accepted besides loopback
	next  http.Handler
}

func (g *guard) allowed(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return isLoopbackName(host) || slices.Contains(g.hosts, strings.ToLower(strings.Trim(host, "[]")))
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !g.allowed(r.Host) {
		http.Error(w, "forbidden: the Host header is not an allowed name for this MCP endpoint", http.StatusForbidden)
		return
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || !g.allowed(u.Host) {
			http.Error(w, "forbidden: requests from this Origin are not accepted", http.StatusForbidden)
			return
		}
	}
	if g.token != "" {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, []byte("Bearer "+g.token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="debugai-mcp"`)
			http.Error(w, "unauthorized: missing or wrong bearer token", http.StatusUnauthorized)
			return
		}
	}
	g.next.ServeHTTP(w, r)
}

// HTTPServer serves an MCP server over streamable HTTP at MCPPath.
type HTTPServer struct {
	ln      net.Listener
	srv     *http.Server
	mcp     *server.StreamableHTTPServer
	done    chan error
	stopped bool
}

// StartHTTP validates cfg, binds cfg.Addr and serves s at MCPPath until
// Shutdown.
func StartHTTP(s *server.MCPServer, cfg HTTPConfig) (*HTTPServer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("mcp listen: %w", err)
	}
	hs := &HTTPServer{ln: ln, done: make(chan error, 1)}
	hs.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	hs.mcp = server.NewStreamableHTTPServer(s, server.WithStreamableHTTPServer(hs.srv),
		server.WithStreamableHTTPLogger(logger), server.WithEndpointPath(MCPPath),
		// guard checks Host and Origin itself, with the configured names.
		server.WithDisableLocalhostProtection(true))
	hosts := make([]string, len(cfg.AllowedHosts))
	for i, h := range cfg.AllowedHosts {
		hosts[i] = strings.ToLower(strings.Trim(h, "[]"))
	}
	mux := http.NewServeMux()
	mux.Handle(MCPPath, &guard{token: cfg.Token, hosts: hosts, next: hs.mcp})
	hs.srv.Handler = mux
	go func() { hs.done <- hs.srv.Serve(ln) }()
	return hs, nil
}

// URL is the endpoint's URL (http://<bound address>/mcp).
func (h *HTTPServer) URL() string { return "http://" + h.ln.Addr().String() + MCPPath }

// Shutdown closes the MCP sessions and stops the listener, bounded by
// ctx. It is idempotent.
func (h *HTTPServer) Shutdown(ctx context.Context) error {
	if h.stopped {
		return nil
	}
	h.stopped = true
	err := h.mcp.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, h.srv.Close())
	}
	if serr := <-h.done; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
