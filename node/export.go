package node

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// exporter queues records and sends them as OTLP/HTTP protobuf export
// requests (logs, or the kernel.anomaly spans as traces), gzip-compressed, retrying 429/502/503/504 and connection
// errors with backoff (honouring Retry-After). The queue is bounded: when
// the endpoint stays away, the oldest records are dropped and counted.
type exporter struct {
	url      string
	encode   func(resource map[string]string, recs []record) ([]byte, error)
	headers  map[string]string
	resource map[string]string
	client   *http.Client
	log      *slog.Logger
	batch    int
	maxQueue int
	retryMax time.Duration

	mu      sync.Mutex
	queue   []record
	kick    chan struct{}
	dropped uint64 // records dropped from a full queue
	sent    uint64 // records acknowledged by the endpoint
	failed  uint64 // export requests that failed for good
}

// newExporter sends log records to cfg.Endpoint.
func newExporter(cfg Config, resource map[string]string, log *slog.Logger) *exporter {
	return newExporterTo(cfg, cfg.Endpoint, encodeLogs, resource, log)
}

func encodeLogs(res map[string]string, recs []record) ([]byte, error) {
	return plogotlp.NewExportRequestFromLogs(logs(res, recs)).MarshalProto()
}

func encodeTraces(res map[string]string, recs []record) ([]byte, error) {
	return ptraceotlp.NewExportRequestFromTraces(traces(res, recs)).MarshalProto()
}

func newExporterTo(cfg Config, url string, encode func(map[string]string, []record) ([]byte, error), resource map[string]string, log *slog.Logger) *exporter {
	return &exporter{
		url:      url,
		encode:   encode,
		headers:  cfg.Headers,
		resource: resource,
		client:   &http.Client{Timeout: cfg.ExportTimeout},
		log:      log,
		batch:    cfg.BatchRecords,
		maxQueue: cfg.QueueRecords,
		retryMax: cfg.RetryMax,
		kick:     make(chan struct{}, 1),
	}
}

// add queues a record, dropping the oldest when the queue is full.
func (x *exporter) add(r record) {
	x.mu.Lock()
	if len(x.queue) >= x.maxQueue {
		n := len(x.queue) - x.maxQueue + 1
		x.queue = x.queue[n:]
		x.dropped += uint64(n)
	}
	x.queue = append(x.queue, r)
	full := len(x.queue) >= x.batch
	x.mu.Unlock()
	if full {
		select {
		case x.kick <- struct{}{}:
		default:
		}
	}
}

func (x *exporter) take() []record {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := min(len(x.queue), x.batch)
	out := make([]record, n)
	copy(out, x.queue[:n])
	x.queue = x.queue[n:]
	return out
}

func (x *exporter) stats() (queued int, sent, dropped, failed uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.queue), x.sent, x.dropped, x.failed
}

// run sends batches every interval or when a batch is full, until ctx is
// done; then it flushes what is queued (bounded by flushTimeout).
func (x *exporter) run(ctx context.Context, interval, flushTimeout time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
			x.flush(fctx)
			cancel()
			return
		case <-t.C:
		case <-x.kick:
		}
		x.flush(ctx)
	}
}

// flush sends queued records in batches until the queue is empty or ctx
// ends.
func (x *exporter) flush(ctx context.Context) {
	for ctx.Err() == nil {
		recs := x.take()
		if len(recs) == 0 {
			return
		}
		if err := x.send(ctx, recs); err != nil {
			x.mu.Lock()
			x.failed++
			x.dropped += uint64(len(recs))
			x.mu.Unlock()
			x.log.Warn("exporting kernel events", "records", len(recs), "err", err)
			return
		}
		x.mu.Lock()
		x.sent += uint64(len(recs))
		x.mu.Unlock()
	}
}

// errPermanent marks a response that retrying cannot fix.
var errPermanent = errors.New("permanent export error")

func (x *exporter) send(ctx context.Context, recs []record) error {
	body, err := x.encode(x.resource, recs)
	if err != nil {
		return fmt.Errorf("encoding export request: %w", err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(body); err != nil {
		return fmt.Errorf("compressing export request: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("compressing export request: %w", err)
	}
	backoff := 100 * time.Millisecond
	deadline := time.Now().Add(x.retryMax)
	for {
		wait, err := x.post(ctx, gz.Bytes())
		if err == nil || errors.Is(err, errPermanent) {
			return err
		}
		if wait <= 0 {
			wait = backoff
			backoff = min(backoff*2, 5*time.Second)
		}
		if time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("giving up after retries: %w", err)
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
	}
}

// post sends one request; on a retryable failure it returns how long the
// server asked to wait (0: unspecified).
func (x *exporter) post(ctx context.Context, gz []byte) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, x.url, bytes.NewReader(gz))
	if err != nil {
		return 0, fmt.Errorf("%w: %v", errPermanent, err)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "gzip")
	for k, v := range x.headers {
		req.Header.Set(k, v)
	}
	resp, err := x.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("posting to %s: %w", x.url, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode/100 == 2:
		return 0, nil
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusBadGateway,
		resp.StatusCode == http.StatusServiceUnavailable, resp.StatusCode == http.StatusGatewayTimeout:
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return time.Duration(secs) * time.Second, fmt.Errorf("%s: %s", x.url, resp.Status)
	default:
		return 0, fmt.Errorf("%w: %s: %s: %s", errPermanent, x.url, resp.Status, bytes.TrimSpace(msg))
	}
}
