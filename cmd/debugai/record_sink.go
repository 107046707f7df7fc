package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/debugai/debugai/ingest"
)

// maxRecordBody bounds one OTLP request the recorder accepts (decompressed).
const maxRecordBody = 64 << 20

// otlpRecorder is an OTLP/HTTP receiver (POST /v1/traces and /v1/logs,
// protobuf or JSON, optionally gzip) that writes every request as one
// OTLP/JSON line, the Collector file exporter's layout: traces to
// <phase>.otlp.jsonl.gz, logs to kernel.otlp.jsonl.gz.
type otlpRecorder struct {
	url string // base URL, without a path
	dir string
	srv *http.Server

	mu     sync.Mutex
	phase  string
	files  map[string]*gzFile // by file name
	spans  map[string]int     // spans per phase
	logs   int                // log records
	closed bool
	errs   error // first write error, reported by close
}

// gzFile is one gzip-compressed JSON-lines file.
type gzFile struct {
	f  *os.File
	zw *gzip.Writer
}

func startRecorder(dir, phase, host string) (*otlpRecorder, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, fmt.Errorf("recording receiver: %w", err)
	}
	r := &otlpRecorder{url: "http://" + l.Addr().String(), dir: dir, phase: phase,
		files: map[string]*gzFile{}, spans: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", r.serveTraces)
	mux.HandleFunc("POST /v1/logs", r.serveLogs)
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(l) }()
	return r, nil
}

// warmupPhase is the phase whose traces the recorder acknowledges and
// drops (a warm-up before the baseline: the media scenarios fill their
// cache).
const warmupPhase = "warmup"

// setPhase sends the traces received from now on to <phase>.otlp.jsonl.gz
// (warmupPhase: nowhere).
func (r *otlpRecorder) setPhase(phase string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.phase = phase
}

// counts returns the spans recorded per phase and the log records.
func (r *otlpRecorder) counts() (map[string]int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := make(map[string]int, len(r.spans))
	for k, v := range r.spans {
		m[k] = v
	}
	return m, r.logs
}

// close stops the receiver and finishes the files.
func (r *otlpRecorder) close() error {
	err := r.srv.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	err = errors.Join(err, r.errs)
	for _, f := range r.files {
		err = errors.Join(err, f.zw.Close(), f.f.Close())
	}
	return err
}

// readOTLPBody reads a request body, undoing gzip.
func readOTLPBody(req *http.Request) ([]byte, error) {
	var rd io.Reader = http.MaxBytesReader(nil, req.Body, maxRecordBody)
	if strings.EqualFold(req.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(rd)
		if err != nil {
			return nil, fmt.Errorf("opening gzip: %w", err)
		}
		defer zr.Close()
		rd = io.LimitReader(zr, maxRecordBody+1)
	}
	b, err := io.ReadAll(rd)
	if err == nil && len(b) > maxRecordBody {
		err = fmt.Errorf("request larger than %d bytes", maxRecordBody)
	}
	return b, err
}

func isJSON(req *http.Request) bool {
	return strings.HasPrefix(strings.ToLower(req.Header.Get("Content-Type")), "application/json")
}

// otlpExport is what the traces and logs export requests share.
type otlpExport interface {
	UnmarshalJSON([]byte) error
	UnmarshalProto([]byte) error
	MarshalJSON() ([]byte, error)
}

// exportLine decodes req's body (protobuf or JSON) into ex and returns it
// as one OTLP/JSON line. JSON goes through ingest's nesting check, and its
// errors name the field path, never a value (the 400 body lands in the
// sender's log).
func exportLine(req *http.Request, ex otlpExport) ([]byte, error) {
	b, err := readOTLPBody(req)
	if err != nil {
		return nil, err
	}
	if isJSON(req) {
		err = ingest.UnmarshalJSONRequest(b, ex)
	} else {
		err = ex.UnmarshalProto(b)
	}
	if err != nil {
		return nil, err
	}
	return ex.MarshalJSON()
}

func (r *otlpRecorder) serveTraces(w http.ResponseWriter, req *http.Request) {
	ex := ptraceotlp.NewExportRequest()
	line, err := exportLine(req, &ex)
	if err != nil {
		http.Error(w, "decoding OTLP traces: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	phase := r.phase
	name := phase + ".otlp.jsonl.gz"
	r.spans[phase] += ex.Traces().SpanCount()
	r.mu.Unlock()
	if phase == warmupPhase { // acknowledged, not kept
		r.answer(w, req, "", nil)
		return
	}
	r.answer(w, req, name, line)
}

func (r *otlpRecorder) serveLogs(w http.ResponseWriter, req *http.Request) {
	ex := plogotlp.NewExportRequest()
	line, err := exportLine(req, &ex)
	if err != nil {
		http.Error(w, "decoding OTLP logs: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.logs += ex.Logs().LogRecordCount()
	r.mu.Unlock()
	r.answer(w, req, "kernel.otlp.jsonl.gz", line)
}

// answer writes line to the file name (none: "") and acknowledges the
// request with an empty export response in the request's encoding.
func (r *otlpRecorder) answer(w http.ResponseWriter, req *http.Request, name string, line []byte) {
	if name != "" {
		if err := r.write(name, line); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	if isJSON(req) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{}"))
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

func (r *otlpRecorder) write(name string, line []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errors.New("recording closed")
	}
	f, ok := r.files[name]
	if !ok {
		out, err := os.Create(filepath.Join(r.dir, name))
		if err != nil {
			r.errs = errors.Join(r.errs, err)
			return err
		}
		zw, _ := gzip.NewWriterLevel(out, gzip.BestCompression) // a valid level never fails
		f = &gzFile{f: out, zw: zw}
		r.files[name] = f
	}
	line = bytes.TrimRight(line, "\n")
	if _, err := f.zw.Write(append(line, '\n')); err != nil {
		err = fmt.Errorf("writing %s: %w", name, err)
		r.errs = errors.Join(r.errs, err)
		return err
	}
	return nil
}
