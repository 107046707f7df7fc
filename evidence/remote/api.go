package remote

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/debugai/debugai/evidence"
)

// errorBody is the JSON shape of every API error.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"` // not_found, bad_id, bad_request, unauthorized, not_supported, internal
}

// ErrNotSupported reports a query that the serve's store does not answer.
var ErrNotSupported = errors.New("not supported over the remote API")

type traceRequest struct {
	TraceID evidence.TraceID `json:"trace_id"`
}

type spanBounds struct {
	MinStartNS int64 `json:"min_start_ns"`
	MaxEndNS   int64 `json:"max_end_ns"`
}

type getRequest struct {
	ID string `json:"id"`
}

// Handler serves r under APIPrefix. Every request must carry
// "Authorization: Bearer <token>".
func Handler(r evidence.Reader, token string, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{r: r, token: token, log: logger}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+APIPrefix+"stats", h.stats)
	mux.HandleFunc("GET "+APIPrefix+"audit", h.audit)
	mux.HandleFunc("GET "+APIPrefix+"span-bounds", h.spanBounds)
	mux.HandleFunc("POST "+APIPrefix+"spans", h.spans)
	mux.HandleFunc("POST "+APIPrefix+"trace", h.trace)
	mux.HandleFunc("POST "+APIPrefix+"kernel-events", h.kernelEvents)
	mux.HandleFunc("POST "+APIPrefix+"get", h.get)
	mux.HandleFunc("POST "+APIPrefix+"findings", h.findings)
	mux.HandleFunc("POST "+APIPrefix+"lock-edges", h.lockEdges)
	mux.HandleFunc("POST "+APIPrefix+"reports", h.reports)
	mux.HandleFunc("POST "+APIPrefix+"report", h.report)
	mux.HandleFunc("POST "+APIPrefix+"write-findings", h.writeFindings)
	mux.HandleFunc("POST "+APIPrefix+"write-report", h.writeReport)
	return h.auth(mux)
}

// maxWriteBody bounds a write request (findings of a window, a report).
const maxWriteBody = 32 << 20

// maxWriteFindings bounds the findings of one write request.
const maxWriteFindings = 100_000

// writeFindings stores findings computed by a client (detect run against
// a store this serve owns).
func (h *handler) writeFindings(w http.ResponseWriter, req *http.Request) {
	fw, ok := h.r.(evidence.FindingWriter)
	if !ok {
		writeError(w, http.StatusNotImplemented, "not_supported", "this serve's store does not store findings")
		return
	}
	var fs []evidence.Finding
	if !decodeLimit(w, req, &fs, maxWriteBody) {
		return
	}
	if len(fs) > maxWriteFindings {
		writeError(w, http.StatusRequestEntityTooLarge, "bad_request", fmt.Sprintf("%d findings in one request: at most %d", len(fs), maxWriteFindings))
		return
	}
	h.reply(w, writeResult{Stored: len(fs)}, fw.WriteFindings(req.Context(), fs))
}

// writeReport stores a report built by a client (investigate run against
// a store this serve owns).
func (h *handler) writeReport(w http.ResponseWriter, req *http.Request) {
	rw, ok := h.r.(evidence.ReportWriter)
	if !ok {
		writeError(w, http.StatusNotImplemented, "not_supported", "this serve's store does not store reports")
		return
	}
	var r evidence.StoredReport
	if !decodeLimit(w, req, &r, maxWriteBody) {
		return
	}
	if !strings.HasPrefix(r.ID, "report:") || len(r.ID) > 64 || len(r.Body) == 0 {
		writeError(w, http.StatusBadRequest, "bad_request", "a report needs a report: id of at most 64 bytes and a body")
		return
	}
	h.reply(w, writeResult{Stored: 1}, rw.WriteReport(req.Context(), r))
}

// writeResult answers a write.
type writeResult struct {
	Stored int `json:"stored"`
}

type handler struct {
	r     evidence.Reader
	token string
	log   *slog.Logger
}

func (h *handler) auth(next http.Handler) http.Handler {
	want := []byte("Bearer " + h.token)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		got := []byte(req.Header.Get("Authorization"))
		if h.token == "" || subtle.ConstantTimeCompare(got, want) != 1 {
			writeError(w, http.StatusUnauthorized, "unauthorized", "missing or wrong bearer token (see the store's .serve.json)")
			return
		}
		next.ServeHTTP(w, req)
	})
}

func (h *handler) stats(w http.ResponseWriter, req *http.Request) {
	st, err := h.r.Stats(req.Context())
	h.reply(w, st, err)
}

// spanBounds answers from the store's SpanBounds, or from Stats when it
// has none.
func (h *handler) spanBounds(w http.ResponseWriter, req *http.Request) {
	var b spanBounds
	var err error
	if br, ok := h.r.(evidence.SpanBoundsReader); ok {
		b.MinStartNS, b.MaxEndNS, err = br.SpanBounds(req.Context())
	} else {
		var st evidence.Stats
		st, err = h.r.Stats(req.Context())
		b.MinStartNS, b.MaxEndNS = st.MinStartNS, st.MaxEndNS
	}
	h.reply(w, b, err)
}

func (h *handler) audit(w http.ResponseWriter, req *http.Request) {
	a, err := h.r.Audit(req.Context())
	h.reply(w, a, err)
}

func (h *handler) spans(w http.ResponseWriter, req *http.Request) {
	var f evidence.SpanFilter
	if !decode(w, req, &f) {
		return
	}
	s, err := h.r.Spans(req.Context(), f)
	h.reply(w, s, err)
}

func (h *handler) trace(w http.ResponseWriter, req *http.Request) {
	var t traceRequest
	if !decode(w, req, &t) {
		return
	}
	s, err := h.r.Trace(req.Context(), t.TraceID)
	h.reply(w, s, err)
}

func (h *handler) kernelEvents(w http.ResponseWriter, req *http.Request) {
	var f evidence.KernelEventFilter
	if !decode(w, req, &f) {
		return
	}
	e, err := h.r.KernelEvents(req.Context(), f)
	h.reply(w, e, err)
}

func (h *handler) get(w http.ResponseWriter, req *http.Request) {
	var g getRequest
	if !decode(w, req, &g) {
		return
	}
	it, err := h.r.Get(req.Context(), g.ID)
	h.reply(w, it, err)
}

func (h *handler) findings(w http.ResponseWriter, req *http.Request) {
	optional(h, w, req, "list findings", evidence.FindingReader.Findings)
}

func (h *handler) lockEdges(w http.ResponseWriter, req *http.Request) {
	optional(h, w, req, "list lock edges", evidence.LockEdgeReader.LockEdges)
}

func (h *handler) reports(w http.ResponseWriter, req *http.Request) {
	optional(h, w, req, "list reports", evidence.ReportReader.Reports)
}

func (h *handler) report(w http.ResponseWriter, req *http.Request) {
	optional(h, w, req, "read reports", func(rr evidence.ReportReader, ctx context.Context, g getRequest) (evidence.StoredReport, error) {
		return rr.Report(ctx, g.ID)
	})
}

// optional serves a query of type F that only stores implementing R
// answer: others get 501 not_supported, saying what they cannot do.
func optional[F, R, T any](h *handler, w http.ResponseWriter, req *http.Request, what string, call func(R, context.Context, F) (T, error)) {
	var f F
	if !decode(w, req, &f) {
		return
	}
	r, ok := h.r.(R)
	if !ok {
		writeError(w, http.StatusNotImplemented, "not_supported", "this serve's store does not "+what)
		return
	}
	out, err := call(r, req.Context(), f)
	h.reply(w, out, err)
}

func decode(w http.ResponseWriter, req *http.Request, v any) bool {
	return decodeLimit(w, req, v, 1<<20)
}

// decodeLimit decodes a JSON request of at most limit bytes.
func decodeLimit(w http.ResponseWriter, req *http.Request, v any, limit int64) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, req.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "bad_request", fmt.Sprintf("request body larger than %d bytes", limit))
			return false
		}
		writeError(w, http.StatusBadRequest, "bad_request", "decoding request: "+err.Error())
		return false
	}
	return true
}

func (h *handler) reply(w http.ResponseWriter, v any, err error) {
	switch {
	case err == nil:
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(v); err != nil {
			h.log.Warn("writing api response", "err", err)
		}
	case errors.Is(err, evidence.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, evidence.ErrBadID):
		writeError(w, http.StatusBadRequest, "bad_id", err.Error())
	default:
		h.log.Error("evidence api query failed", "err", err)
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
	}
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorBody{Error: msg, Code: code})
}

// Client implements evidence.Reader against a running serve.
type Client struct {
	base  string
	token string
	http  *http.Client
}

var (
	_ evidence.Reader           = (*Client)(nil)
	_ evidence.FindingReader    = (*Client)(nil)
	_ evidence.LockEdgeReader   = (*Client)(nil)
	_ evidence.ReportReader     = (*Client)(nil)
	_ evidence.SpanBoundsReader = (*Client)(nil)
	_ evidence.FindingWriter    = (*Client)(nil)
	_ evidence.ReportWriter     = (*Client)(nil)
)

// WriteFindings implements evidence.FindingWriter: serve stores them.
func (c *Client) WriteFindings(ctx context.Context, fs []evidence.Finding) error {
	var out writeResult
	return c.call(ctx, http.MethodPost, "write-findings", fs, &out)
}

// WriteReport implements evidence.ReportWriter: serve stores it.
func (c *Client) WriteReport(ctx context.Context, r evidence.StoredReport) error {
	var out writeResult
	return c.call(ctx, http.MethodPost, "write-report", r, &out)
}

// NewClient returns a client for the serve described by st.
func NewClient(st State) *Client {
	return &Client{
		base:  strings.TrimSuffix(st.HTTPURL, "/") + APIPrefix,
		token: st.Token,
		http:  &http.Client{Timeout: 2 * time.Minute},
	}
}

func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encoding %s request: %w", path, err)
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("building %s request: %w", path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("asking debugai serve for %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e errorBody
		_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&e)
		switch e.Code {
		case "not_found":
			return fmt.Errorf("%s: %w", e.Error, evidence.ErrNotFound)
		case "bad_id":
			return fmt.Errorf("%s: %w", e.Error, evidence.ErrBadID)
		case "not_supported":
			return fmt.Errorf("%s: %s: %w", path, e.Error, ErrNotSupported)
		}
		return fmt.Errorf("debugai serve answered %s for %s: %s", resp.Status, path, e.Error)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decoding %s response: %w", path, err)
	}
	return nil
}

// Spans implements evidence.Reader.
func (c *Client) Spans(ctx context.Context, f evidence.SpanFilter) ([]evidence.Span, error) {
	var out []evidence.Span
	return out, c.call(ctx, http.MethodPost, "spans", f, &out)
}

// Trace implements evidence.Reader.
func (c *Client) Trace(ctx context.Context, id evidence.TraceID) ([]evidence.Span, error) {
	var out []evidence.Span
	return out, c.call(ctx, http.MethodPost, "trace", traceRequest{TraceID: id}, &out)
}

// KernelEvents implements evidence.Reader.
func (c *Client) KernelEvents(ctx context.Context, f evidence.KernelEventFilter) ([]evidence.KernelEvent, error) {
	var out []evidence.KernelEvent
	return out, c.call(ctx, http.MethodPost, "kernel-events", f, &out)
}

// SpanBounds implements evidence.SpanBoundsReader.
func (c *Client) SpanBounds(ctx context.Context) (minStartNS, maxEndNS int64, err error) {
	var b spanBounds
	err = c.call(ctx, http.MethodGet, "span-bounds", nil, &b)
	return b.MinStartNS, b.MaxEndNS, err
}

// Get implements evidence.Reader.
func (c *Client) Get(ctx context.Context, id string) (evidence.Item, error) {
	var out evidence.Item
	return out, c.call(ctx, http.MethodPost, "get", getRequest{ID: id}, &out)
}

// Audit implements evidence.Reader.
func (c *Client) Audit(ctx context.Context) ([]evidence.AuditCount, error) {
	var out []evidence.AuditCount
	return out, c.call(ctx, http.MethodGet, "audit", nil, &out)
}

// Stats implements evidence.Reader.
func (c *Client) Stats(ctx context.Context) (evidence.Stats, error) {
	var out evidence.Stats
	return out, c.call(ctx, http.MethodGet, "stats", nil, &out)
}

// Findings implements evidence.FindingReader.
func (c *Client) Findings(ctx context.Context, f evidence.FindingFilter) ([]evidence.Finding, error) {
	var out []evidence.Finding
	return out, c.call(ctx, http.MethodPost, "findings", f, &out)
}

// LockEdges implements evidence.LockEdgeReader.
func (c *Client) LockEdges(ctx context.Context, f evidence.LockEdgeFilter) ([]evidence.LockEdge, error) {
	var out []evidence.LockEdge
	return out, c.call(ctx, http.MethodPost, "lock-edges", f, &out)
}

// Reports implements evidence.ReportReader.
func (c *Client) Reports(ctx context.Context, f evidence.ReportFilter) ([]evidence.StoredReport, error) {
	var out []evidence.StoredReport
	return out, c.call(ctx, http.MethodPost, "reports", f, &out)
}

// Report implements evidence.ReportReader.
func (c *Client) Report(ctx context.Context, id string) (evidence.StoredReport, error) {
	var out evidence.StoredReport
	return out, c.call(ctx, http.MethodPost, "report", getRequest{ID: id}, &out)
}
