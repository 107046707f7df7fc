package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/ingest"
)

// serveSink sends raw records to a running serve over OTLP/HTTP protobuf,
// retrying on 429/503 as the OTLP spec asks.
type serveSink struct {
	url    string
	token  string // the run's token from serve's 0600 state file
	client http.Client
}

func (s *serveSink) write(ctx context.Context, _ *evidence.Batch, raw []ingest.FileRecord) error {
	for _, rec := range raw {
		var body []byte
		var err error
		path := "/v1/traces"
		if rec.IsLogs {
			path = "/v1/logs"
			body, err = plogotlp.NewExportRequestFromLogs(rec.Logs).MarshalProto()
		} else {
			body, err = ptraceotlp.NewExportRequestFromTraces(rec.Traces).MarshalProto()
		}
		if err != nil {
			return fmt.Errorf("encoding record %d: %w", rec.Index, err)
		}
		if err := s.post(ctx, strings.TrimSuffix(s.url, "/")+path, body); err != nil {
			return fmt.Errorf("sending record %d to debugai serve: %w", rec.Index, err)
		}
	}
	return nil
}

func (s *serveSink) post(ctx context.Context, url string, body []byte) error {
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-protobuf")
		if s.token != "" {
			req.Header.Set("Authorization", "Bearer "+s.token)
		}
		resp, err := s.client.Do(req)
		if err != nil {
			return err
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		switch {
		case resp.StatusCode/100 == 2:
			return nil
		case (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) && attempt < 20:
			wait := time.Second
			if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && n > 0 {
				wait = time.Duration(n) * time.Second
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		default:
			return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(msg))
		}
	}
}
