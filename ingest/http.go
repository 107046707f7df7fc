package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// OTLP/HTTP paths and media types.
const (
	TracesPath = "/v1/traces"
	LogsPath   = "/v1/logs"

	contentTypeProto = "application/x-protobuf"
	contentTypeJSON  = "application/json"
)

// HTTPConfig configures the OTLP/HTTP handler.
type HTTPConfig struct {
	// MaxRequestBytes bounds a request body as sent (compressed); larger
	// requests get 413.
	MaxRequestBytes int64
	// MaxDecompressedBytes bounds a gzip body once decompressed (gzip
	// bombs); larger requests get 413. At least MaxRequestBytes.
	MaxDecompressedBytes int64
	// MaxConcurrentDecodes bounds the requests being decoded and converted
	// at once; others wait. A slot is taken only once the body has been
	// read, so slow senders cannot hold them.
	MaxConcurrentDecodes int
	// MaxConcurrentReads bounds the requests reading their bodies at once
	// (slow connections among them); a request beyond it is answered 503
	// with Retry-After at once, without reading its body.
	MaxConcurrentReads int
	// BodyReadTimeout bounds reading one request's body, from the end of
	// its headers; a body not complete by then is answered 408.
	BodyReadTimeout time.Duration
}

// DefaultHTTPConfig returns 16 MiB compressed, 64 MiB decompressed, two
// decoding slots per CPU (at least four), 256 bodies read at once and 30
// seconds to send one (16 MiB at about 0.5 MiB/s).
func DefaultHTTPConfig() HTTPConfig {
	return HTTPConfig{
		MaxRequestBytes:      16 << 20,
		MaxDecompressedBytes: 64 << 20,
		MaxConcurrentDecodes: defaultSlots(),
		MaxConcurrentReads:   256,
		BodyReadTimeout:      30 * time.Second,
	}
}

func defaultSlots() int { return max(4, 2*runtime.GOMAXPROCS(0)) }

// Validate reports the first invalid field.
func (c HTTPConfig) Validate() error {
	switch {
	case c.MaxRequestBytes <= 0:
		return fmt.Errorf("http: max request bytes %d: must be positive", c.MaxRequestBytes)
	case c.MaxDecompressedBytes < c.MaxRequestBytes:
		return fmt.Errorf("http: max decompressed bytes %d: must be at least max request bytes %d",
			c.MaxDecompressedBytes, c.MaxRequestBytes)
	case c.MaxConcurrentDecodes <= 0:
		return fmt.Errorf("http: max concurrent decodes %d: must be positive", c.MaxConcurrentDecodes)
	case c.MaxConcurrentReads <= 0:
		return fmt.Errorf("http: max concurrent reads %d: must be positive", c.MaxConcurrentReads)
	case c.BodyReadTimeout <= 0:
		return fmt.Errorf("http: body read timeout %s: must be positive", c.BodyReadTimeout)
	}
	return nil
}

// HTTPHandler serves OTLP/HTTP: POST /v1/traces and /v1/logs with
// application/x-protobuf or application/json bodies, identity or gzip. It
// answers in the request's encoding, with 200 only once the batch is
// committed. Failures carry a google.rpc.Status body.
type HTTPHandler struct {
	cfg   HTTPConfig
	r     *receiver
	reads chan struct{} // body-reading slots, taken without waiting
	auth  *authenticator
}

var _ http.Handler = (*HTTPHandler)(nil)

// NewHTTPHandler returns a handler feeding p through conv. A nil logger
// discards. The handler itself checks neither tokens nor Host/Origin; a
// Server applies its AuthConfig to it.
func NewHTTPHandler(cfg HTTPConfig, conv Converter, p *Pipeline, logger *slog.Logger) (*HTTPHandler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r, err := newReceiver(conv, p, discardLogger(logger).With("receiver", "otlp/http"), cfg.MaxConcurrentDecodes)
	if err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	return &HTTPHandler{cfg: cfg, r: r, reads: make(chan struct{}, cfg.MaxConcurrentReads)}, nil
}

// Register mounts the handler on mux at TracesPath and LogsPath.
func (h *HTTPHandler) Register(mux *http.ServeMux) {
	mux.Handle(TracesPath, h)
	mux.Handle(LogsPath, h)
}

// Stats returns the handler's counters.
func (h *HTTPHandler) Stats() ReceiverStats { return h.r.c.snapshot() }

type bodyEncoding uint8

const (
	encProto bodyEncoding = iota
	encJSON
)

// mediaType parses a Content-Type header down to its known encoding.
func mediaType(ct string) (bodyEncoding, bool) {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.TrimSpace(mt)
	switch {
	case strings.EqualFold(mt, contentTypeProto):
		return encProto, true
	case strings.EqualFold(mt, contentTypeJSON):
		return encJSON, true
	}
	return encJSON, false
}

// ServeHTTP implements http.Handler.
func (h *HTTPHandler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r := h.r
	r.c.requests.Add(1)
	enc, encOK := mediaType(req.Header.Get("Content-Type"))
	if h.auth != nil {
		if code, gcode, msg := h.auth.checkHTTP(req); code != 0 {
			r.c.unauthorized.Add(1)
			if code == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="debugai-otlp"`)
			}
			h.writeStatus(w, enc, code, gcode, msg)
			return
		}
	}
	var sig signal
	switch req.URL.Path {
	case TracesPath:
		sig = signalTraces
	case LogsPath:
		sig = signalLogs
	default:
		r.c.unsupported.Add(1)
		h.writeStatus(w, enc, http.StatusNotFound, codes.NotFound, fmt.Sprintf("unknown path %s: use %s or %s", headerToken(req.URL.Path), TracesPath, LogsPath))
		return
	}
	if req.Method != http.MethodPost {
		r.c.unsupported.Add(1)
		w.Header().Set("Allow", http.MethodPost)
		h.writeStatus(w, enc, http.StatusMethodNotAllowed, codes.Unimplemented, fmt.Sprintf("method %s not allowed: use POST", req.Method))
		return
	}
	if !encOK {
		r.c.unsupported.Add(1)
		h.writeStatus(w, enc, http.StatusUnsupportedMediaType, codes.InvalidArgument,
			fmt.Sprintf("unsupported content type %s: use %s or %s", headerToken(req.Header.Get("Content-Type")), contentTypeProto, contentTypeJSON))
		return
	}
	var gz bool
	switch ce := strings.TrimSpace(req.Header.Get("Content-Encoding")); {
	case ce == "" || strings.EqualFold(ce, "identity"):
	case strings.EqualFold(ce, "gzip"):
		gz = true
	default:
		r.c.unsupported.Add(1)
		h.writeStatus(w, enc, http.StatusUnsupportedMediaType, codes.InvalidArgument,
			fmt.Sprintf("unsupported content encoding %s: use gzip or identity", headerToken(ce)))
		return
	}
	if req.ContentLength > h.cfg.MaxRequestBytes {
		r.c.tooLarge.Add(1)
		h.writeStatus(w, enc, http.StatusRequestEntityTooLarge, codes.InvalidArgument,
			fmt.Sprintf("request body of %d bytes exceeds the limit of %d bytes", req.ContentLength, h.cfg.MaxRequestBytes))
		return
	}

	// Read the whole body first, under its own deadline and a bound on
	// bodies in flight; only then wait for a decoding slot, so that slow
	// senders hold a connection each and nothing the others need.
	select {
	case h.reads <- struct{}{}:
	default:
		r.c.unavailable.Add(1)
		w.Header().Set("Retry-After", strconv.FormatInt(retrySeconds(r.p.RetryAfter()), 10))
		h.writeStatus(w, enc, http.StatusServiceUnavailable, codes.Unavailable,
			fmt.Sprintf("too many request bodies in flight (limit %d): retry later", h.cfg.MaxConcurrentReads))
		return
	}
	// Every byte held for this request, from the body buffer to the
	// converted batch, is reserved in the memory budget first.
	ctx := req.Context()
	res := newReservation(r.budget)
	defer res.done()
	buf := getBuffer()
	bufDone := false
	defer func() {
		if !bufDone {
			putBuffer(buf)
		}
	}()
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(h.cfg.BodyReadTimeout)) // unsupported only by test recorders
	code, msg, err := h.readBody(ctx, req, buf, gz, res)
	<-h.reads
	if err != nil {
		h.fail(w, enc, err)
		return
	}
	if code != 0 {
		h.refuse(w, enc, code, msg)
		return
	}

	if err := r.acquire(ctx); err != nil { // the client is gone
		r.c.canceled.Add(1)
		h.writeStatus(w, enc, http.StatusServiceUnavailable, codes.Canceled, "request canceled while waiting to be decoded")
		return
	}
	factor := int64(decodeFactorProto)
	if enc == encJSON {
		factor = decodeFactorJSON
	}
	if err := res.ensureDecode(ctx, factor*int64(buf.Len())); err != nil {
		r.release()
		h.fail(w, enc, err)
		return
	}
	td, ld, code, msg := h.decode(buf.Bytes(), sig, enc)
	putBuffer(buf) // the decoders copy what they keep
	bufDone = true
	res.shrink(0)
	if code != 0 {
		r.release()
		h.refuse(w, enc, code, msg)
		return
	}
	b, rejected, reason, err := r.convert(sig, td, ld)
	r.release()
	// The batch now counts against the pipeline's queue bounds.
	td, ld = ptrace.Traces{}, plog.Logs{}
	res.done()
	if err == nil {
		err = r.p.Submit(ctx, b)
	}
	if err != nil {
		h.fail(w, enc, err)
		return
	}
	r.c.accepted.Add(1)
	r.c.rejectedItems.Add(rejected)
	if b != nil {
		r.c.acceptedItems.Add(int64(b.Len()))
	}
	h.answer(w, enc, sig, rejected, reason)
}

// fail answers a request that failed after its headers were accepted:
// budget, pipeline, converter or a client gone.
func (h *HTTPHandler) fail(w http.ResponseWriter, enc bodyEncoding, err error) {
	r := h.r
	{
		o := r.classify(err)
		o.counter.Add(1)
		if o.retry {
			w.Header().Set("Retry-After", strconv.FormatInt(retrySeconds(r.p.RetryAfter()), 10))
		}
		h.writeStatus(w, enc, o.httpStatus, o.code, err.Error())
	}
}

// answer writes the success response, with partial success when items
// were rejected.
func (h *HTTPHandler) answer(w http.ResponseWriter, enc bodyEncoding, sig signal, rejected int64, reason string) {
	r := h.r
	var resp interface {
		MarshalProto() ([]byte, error)
		MarshalJSON() ([]byte, error)
	}
	if sig == signalLogs {
		lr := plogotlp.NewExportResponse()
		if rejected > 0 || reason != "" {
			lr.PartialSuccess().SetRejectedLogRecords(rejected)
			lr.PartialSuccess().SetErrorMessage(cleanMessage(reason))
		}
		resp = lr
	} else {
		tr := ptraceotlp.NewExportResponse()
		if rejected > 0 || reason != "" {
			tr.PartialSuccess().SetRejectedSpans(rejected)
			tr.PartialSuccess().SetErrorMessage(cleanMessage(reason))
		}
		resp = tr
	}
	var (
		body []byte
		err  error
	)
	if enc == encJSON {
		body, err = resp.MarshalJSON()
	} else {
		body, err = resp.MarshalProto()
	}
	if err != nil { // the batch is committed; an empty 200 still acknowledges it
		r.log.Error("encoding OTLP response", "err", err)
		body = nil
	}
	writeBody(w, enc, http.StatusOK, body)
}

// refuse answers a body that could not be read or decoded: 400, 408 or
// 413.
func (h *HTTPHandler) refuse(w http.ResponseWriter, enc bodyEncoding, code int, msg string) {
	switch code {
	case http.StatusRequestEntityTooLarge:
		h.r.c.tooLarge.Add(1)
	case http.StatusRequestTimeout:
		h.r.c.timedOut.Add(1)
		w.Header().Set("Connection", "close")
	default:
		h.r.c.malformed.Add(1)
	}
	h.writeStatus(w, enc, code, codes.InvalidArgument, msg)
}

// decode decodes a body. On failure it returns the HTTP status (400) and a
// message naming the problem.
func (h *HTTPHandler) decode(body []byte, sig signal, enc bodyEncoding) (ptrace.Traces, plog.Logs, int, string) {
	var (
		err error
		td  ptrace.Traces
		ld  plog.Logs
	)
	switch {
	case sig == signalLogs && enc == encJSON:
		ld, err = unmarshalLogsJSON(body)
	case sig == signalLogs:
		r := plogotlp.NewExportRequest()
		err = r.UnmarshalProto(body)
		ld = r.Logs()
	case enc == encJSON:
		td, err = unmarshalTracesJSON(body)
	default:
		r := ptraceotlp.NewExportRequest()
		err = r.UnmarshalProto(body)
		td = r.Traces()
	}
	if err != nil {
		name := "protobuf"
		if enc == encJSON {
			name = "JSON"
		}
		return td, ld, http.StatusBadRequest, fmt.Sprintf("decoding %s %s export request: %v", name, sig, err)
	}
	return td, ld, 0, ""
}

// readBody reads the body into buf within the configured limits, holding
// its buffer in res. It returns the status (400, 408 or 413) and message of
// a body that cannot be read, or a budget (or client gone) error.
func (h *HTTPHandler) readBody(ctx context.Context, req *http.Request, buf *bytes.Buffer, gz bool, res *reservation) (int, string, error) {
	body := &limitedBody{r: req.Body, left: h.cfg.MaxRequestBytes + 1}
	tooLarge := func() (int, string, error) {
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds the limit of %d bytes", h.cfg.MaxRequestBytes), nil
	}
	timedOut := func() (int, string, error) {
		return http.StatusRequestTimeout, fmt.Sprintf("request body not received within %s", h.cfg.BodyReadTimeout), nil
	}
	// A pooled buffer much larger than this request needs (or than a fair
	// share of the budget) would be reserved whole: leave it to the GC.
	hold := int64(maxPooledBuffer)
	if b := h.r.budget; b != nil {
		hold = min(hold, b.read.limit/8)
	}
	if n := req.ContentLength; !gz && n >= 0 {
		hold = min(hold, 2*(n+1)+minGrow)
	}
	if int64(buf.Cap()) > hold {
		*buf = bytes.Buffer{}
	}
	if err := res.ensure(ctx, int64(buf.Cap())); err != nil {
		return 0, "", err
	}
	if !gz {
		if n := req.ContentLength; n > 0 && n <= h.cfg.MaxRequestBytes {
			// One byte more than announced: reading EOF then needs no growth.
			if err := res.ensure(ctx, int64(buf.Cap())+n+1); err != nil {
				return 0, "", err
			}
			buf.Grow(int(n) + 1)
			res.shrink(int64(buf.Cap()))
		}
		over, budgetErr, err := readInto(ctx, body, buf, h.cfg.MaxRequestBytes, res)
		switch {
		case budgetErr != nil:
			return 0, "", budgetErr
		case over || body.over():
			return tooLarge()
		case errors.Is(body.err, os.ErrDeadlineExceeded):
			return timedOut()
		case err != nil:
			return http.StatusBadRequest, fmt.Sprintf("reading request body: %v", err), nil
		}
		return 0, "", nil
	}
	zr, err := getGzipReader(body)
	if err != nil {
		if body.over() {
			return tooLarge()
		}
		if errors.Is(body.err, os.ErrDeadlineExceeded) {
			return timedOut()
		}
		return http.StatusBadRequest, fmt.Sprintf("decompressing gzip request body: %v", err), nil
	}
	defer gzipPool.Put(zr)
	over, budgetErr, err := readInto(ctx, zr, buf, h.cfg.MaxDecompressedBytes, res)
	switch {
	case budgetErr != nil:
		return 0, "", budgetErr
	case body.over():
		return tooLarge()
	case errors.Is(body.err, os.ErrDeadlineExceeded):
		return timedOut()
	case body.err != nil:
		return http.StatusBadRequest, fmt.Sprintf("reading request body: %v", body.err), nil
	case err != nil:
		return http.StatusBadRequest, fmt.Sprintf("decompressing gzip request body: %v", err), nil
	case over:
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("decompressed request body exceeds the limit of %d bytes", h.cfg.MaxDecompressedBytes), nil
	}
	return 0, "", nil
}

// minGrow is the smallest step a body buffer grows by.
const minGrow = 32 << 10

// readInto reads src into buf until EOF, or until buf holds limit bytes and
// src has more (over). Before the buffer grows it reserves in res what
// growing holds: the old and the new array (bytes.Buffer at least doubles)
// until the old one is garbage. It returns a budget error (nothing more
// could be reserved) or the read error.
func readInto(ctx context.Context, src io.Reader, buf *bytes.Buffer, limit int64, res *reservation) (over bool, budgetErr, readErr error) {
	for {
		if int64(buf.Len()) >= limit {
			var probe [1]byte
			n, err := io.ReadFull(src, probe[:])
			switch {
			case n > 0:
				return true, nil, nil
			case err == io.EOF:
				return false, nil, nil
			default:
				return false, nil, err
			}
		}
		if buf.Available() == 0 {
			grow := min(max(buf.Cap(), minGrow), int(limit)-buf.Len())
			next := int64(max(buf.Len()+grow, 2*buf.Cap()))
			if err := res.ensure(ctx, int64(buf.Cap())+next+next/8); err != nil {
				return false, err, nil
			}
			buf.Grow(grow)
			if err := res.ensure(ctx, int64(buf.Cap())); err != nil {
				return false, err, nil
			}
			res.shrink(int64(buf.Cap()))
		}
		p := buf.AvailableBuffer()
		p = p[:min(cap(p), int(limit)-buf.Len())]
		n, err := src.Read(p)
		buf.Write(p[:n])
		if err == io.EOF {
			return false, nil, nil
		}
		if err != nil {
			return false, nil, err
		}
	}
}

// limitedBody reads at most left bytes and remembers the underlying error.
// It is created with the limit plus one: reading that extra byte means the
// body is over the limit.
type limitedBody struct {
	r    io.Reader
	left int64
	err  error
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if err != nil && err != io.EOF {
		l.err = err
	}
	return n, err
}

func (l *limitedBody) over() bool { return l.left <= 0 }

// writeStatus writes a google.rpc.Status error body in enc.
func (h *HTTPHandler) writeStatus(w http.ResponseWriter, enc bodyEncoding, httpStatus int, code codes.Code, msg string) {
	st := status.New(code, cleanMessage(msg))
	if w.Header().Get("Retry-After") != "" {
		if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(h.r.p.RetryAfter())}); err == nil {
			st = d
		}
	}
	var (
		body []byte
		err  error
	)
	if enc == encJSON {
		body, err = protojson.Marshal(st.Proto())
	} else {
		body, err = proto.Marshal(st.Proto())
	}
	if err != nil {
		body = nil
	}
	writeBody(w, enc, httpStatus, body)
}

func writeBody(w http.ResponseWriter, enc bodyEncoding, code int, body []byte) {
	hd := w.Header()
	if enc == encJSON {
		hd.Set("Content-Type", contentTypeJSON)
	} else {
		hd.Set("Content-Type", contentTypeProto)
	}
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body) // a client that left cannot be told
}

// maxMessage bounds error and partial-success messages sent to clients.
const maxMessage = 1024

// cleanMessage makes msg valid UTF-8 (protobuf strings and JSON require it;
// decoder errors may quote the hostile input) and at most maxMessage bytes.
func cleanMessage(msg string) string {
	if len(msg) > maxMessage {
		msg = msg[:maxMessage] + "..."
	}
	return strings.ToValidUTF8(msg, "\uFFFD")
}

// retrySeconds rounds d up to whole seconds, at least one.
func retrySeconds(d time.Duration) int64 {
	return max(1, int64((d+time.Second-1)/time.Second))
}

// Pools for request bodies. Buffers above maxPooledBuffer are left to the
// garbage collector so that one huge request does not pin its memory.
const maxPooledBuffer = 16 << 20

var (
	bufferPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}
	gzipPool   sync.Pool // *gzip.Reader
)

func getBuffer() *bytes.Buffer { return bufferPool.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() > maxPooledBuffer {
		return
	}
	b.Reset()
	bufferPool.Put(b)
}

func getGzipReader(r io.Reader) (*gzip.Reader, error) {
	if zr, ok := gzipPool.Get().(*gzip.Reader); ok {
		if err := zr.Reset(r); err != nil {
			gzipPool.Put(zr)
			return nil, err
		}
		return zr, nil
	}
	return gzip.NewReader(r)
}
