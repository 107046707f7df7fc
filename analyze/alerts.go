package analyze

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/debugai/debugai/evidence"
)

// AlertRequest asks the analysis loop to investigate one firing alert:
// the window of Window length ending when it started, against the window
// before, scoped to its service when that is one of the window's services.
type AlertRequest struct {
	// Key identifies the alert occurrence (its fingerprint or labels, and
	// its start): a repeat of the same occurrence is not investigated again.
	Key string
	// ServiceLabel is the alert's service label value, kept in memory only
	// and used only when it equals a stored service's name.
	ServiceLabel string
	// AtNS is when the alert started (unix ns).
	AtNS int64
}

// AlertConfig bounds the Alertmanager webhook receiver.
type AlertConfig struct {
	// ServiceLabels are the alert labels that may name the service, first
	// match wins.
	ServiceLabels []string
	// MaxBodyBytes bounds a webhook body (413 above).
	MaxBodyBytes int64
	// MaxAlerts bounds the alerts of one body (400 above).
	MaxAlerts int
	// Queue is how many investigations may wait for the loop (503 with
	// Retry-After when full).
	Queue int
	// Remember is how many alert occurrences are remembered to drop
	// repeats (Alertmanager resends a group every group_interval).
	Remember int
}

// DefaultAlertConfig: the service from "service", "service_name",
// "service.name" or "job"; 1 MiB bodies of up to 1,000 alerts; 64 queued.
func DefaultAlertConfig() AlertConfig {
	return AlertConfig{ServiceLabels: []string{"service", "service_name", "service.name", "job"},
		MaxBodyBytes: 1 << 20, MaxAlerts: 1000, Queue: 64, Remember: 4096}
}

// Validate reports the first invalid field.
func (c AlertConfig) Validate() error {
	switch {
	case len(c.ServiceLabels) == 0:
		return fmt.Errorf("%w: no service labels", ErrLoopConfig)
	case c.MaxBodyBytes < 1024:
		return fmt.Errorf("%w: MaxBodyBytes %d is below 1024", ErrLoopConfig, c.MaxBodyBytes)
	case c.MaxAlerts < 1 || c.Queue < 1 || c.Remember < c.Queue:
		return fmt.Errorf("%w: MaxAlerts, Queue and Remember must be positive, Remember at least Queue", ErrLoopConfig)
	}
	return nil
}

// alertmanagerBody is the part of Alertmanager's webhook payload (version
// 4) the receiver reads; other fields are ignored.
type alertmanagerBody struct {
	Alerts []struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		StartsAt    string            `json:"startsAt"`
		Fingerprint string            `json:"fingerprint"`
	} `json:"alerts"`
}

// ErrAlertBody reports a webhook body that is not an Alertmanager payload.
// Its messages name what was wrong, never a value from the body.
var ErrAlertBody = errors.New("invalid alert payload")

// DecodeAlerts reads an Alertmanager webhook body into the requests of
// its firing alerts; resolved alerts are counted in ignored.
func DecodeAlerts(body []byte, cfg AlertConfig) (reqs []AlertRequest, ignored int, err error) {
	var b alertmanagerBody
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&b); err != nil {
		return nil, 0, fmt.Errorf("%w: not a JSON object with an alerts array", ErrAlertBody)
	}
	if dec.More() {
		return nil, 0, fmt.Errorf("%w: data after the JSON object", ErrAlertBody)
	}
	if b.Alerts == nil {
		return nil, 0, fmt.Errorf("%w: no alerts array", ErrAlertBody)
	}
	if len(b.Alerts) > cfg.MaxAlerts {
		return nil, 0, fmt.Errorf("%w: %d alerts, at most %d per request", ErrAlertBody, len(b.Alerts), cfg.MaxAlerts)
	}
	for i, a := range b.Alerts {
		switch a.Status {
		case "resolved":
			ignored++
			continue
		case "firing":
		default:
			return nil, 0, fmt.Errorf("%w: alert %d: status must be firing or resolved", ErrAlertBody, i)
		}
		at, err := time.Parse(time.RFC3339Nano, a.StartsAt)
		if err != nil || at.Year() < 2000 {
			return nil, 0, fmt.Errorf("%w: alert %d: startsAt is not an RFC 3339 time", ErrAlertBody, i)
		}
		req := AlertRequest{AtNS: at.UnixNano(), Key: alertKey(a.Fingerprint, a.Labels, at)}
		for _, l := range cfg.ServiceLabels {
			if v := a.Labels[l]; v != "" {
				req.ServiceLabel = v
				break
			}
		}
		reqs = append(reqs, req)
	}
	return reqs, ignored, nil
}

// alertKey is a digest of the alert's identity and start: its fingerprint,
// or its sorted labels when it has none.
func alertKey(fingerprint string, labels map[string]string, at time.Time) string {
	h := sha256.New()
	if fingerprint != "" {
		h.Write([]byte("fp\x00" + fingerprint))
	} else {
		keys := make([]string, 0, len(labels))
		for k := range labels {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			h.Write([]byte(k + "\x00" + labels[k] + "\x00"))
		}
	}
	h.Write([]byte(strconv.FormatInt(at.UnixNano(), 10)))
	return "alert:" + hex.EncodeToString(h.Sum(nil)[:8])
}

// AlertQueue hands alert investigations to the analysis loop, dropping
// repeats of an occurrence it has already taken. Safe for concurrent use.
type AlertQueue struct {
	ch chan AlertRequest

	mu    sync.Mutex
	seen  map[string]bool
	order []string
	max   int
}

// NewAlertQueue returns a queue of cfg.Queue requests remembering
// cfg.Remember occurrences.
func NewAlertQueue(cfg AlertConfig) *AlertQueue {
	return &AlertQueue{ch: make(chan AlertRequest, cfg.Queue), seen: map[string]bool{}, max: cfg.Remember}
}

// Enqueue queues req unless its occurrence was taken before (dup) or the
// queue is full (!ok; a later repeat may then be taken).
func (q *AlertQueue) Enqueue(req AlertRequest) (dup, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.seen[req.Key] {
		return true, true
	}
	select {
	case q.ch <- req:
	default:
		return false, false
	}
	q.seen[req.Key] = true
	q.order = append(q.order, req.Key)
	if len(q.order) > q.max {
		delete(q.seen, q.order[0])
		q.order = q.order[1:]
	}
	return false, true
}

// C is where the loop takes requests.
func (q *AlertQueue) C() <-chan AlertRequest { return q.ch }

// AlertResponse is the receiver's JSON answer.
type AlertResponse struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
	Ignored    int `json:"ignored_resolved"`
	Refused    int `json:"refused_queue_full,omitempty"`
}

// AlertHandler is an Alertmanager-compatible webhook receiver
// (POST, application/json, the version 4 payload): each firing alert
// queues an investigation of its service at its start; resolved ones and
// repeats are counted and dropped. 202 when every firing alert is queued
// or known; 503 with Retry-After when the queue is full (Alertmanager
// retries); 400, 413 or 415 for a body that is not a payload, naming what
// was wrong, never echoing it.
func AlertHandler(q *AlertQueue, cfg AlertConfig, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ct := r.Header.Get("Content-Type"); ct != "" {
			if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
				http.Error(w, "unsupported media type: send application/json (an Alertmanager webhook payload)", http.StatusUnsupportedMediaType)
				return
			}
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, cfg.MaxBodyBytes))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				http.Error(w, fmt.Sprintf("request body too large: at most %d bytes", cfg.MaxBodyBytes), http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "reading the request body failed", http.StatusBadRequest)
			return
		}
		reqs, ignored, err := DecodeAlerts(body, cfg)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resp := AlertResponse{Ignored: ignored}
		for _, req := range reqs {
			switch dup, ok := q.Enqueue(req); {
			case !ok:
				resp.Refused++
			case dup:
				resp.Duplicates++
			default:
				resp.Accepted++
			}
		}
		logger.Info("alerts received", "accepted", resp.Accepted, "duplicates", resp.Duplicates,
			"resolved", resp.Ignored, "refused", resp.Refused)
		w.Header().Set("Content-Type", "application/json")
		status := http.StatusAccepted
		if resp.Refused > 0 {
			w.Header().Set("Retry-After", "30")
			status = http.StatusServiceUnavailable
		}
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(resp)
	})
}

// Alert investigates one alert: the detectors over the window of
// cfg.Window ending at the alert's start (at the latest stored evidence
// when it started later) against the window before it, the findings
// stored, then the deterministic investigation — within the alert's
// service when its label names one of the window's services, else over
// every service — its report stored and announced as
// "alert.investigated". It does not open or close the tracker's incident.
func (t *Tracker) Alert(ctx context.Context, cfg LoopConfig, req AlertRequest) (Incident, error) {
	stats, err := t.st.Stats(ctx)
	if err != nil {
		return Incident{}, fmt.Errorf("reading stats: %w", err)
	}
	end := stats.MaxEndNS
	if stats.Spans == 0 {
		end = stats.EvidenceMaxNS
	}
	if end == 0 {
		return Incident{}, errors.New("the store holds no evidence yet")
	}
	at := min(req.AtNS, end+1)
	plan, err := ResolvePlan(stats, FmtNS(at-int64(cfg.Window)), FmtNS(at), "", "")
	if err != nil {
		return Incident{}, err
	}
	in, err := Load(ctx, t.st, stats, plan, cfg.MaxItems, "the served store")
	if err != nil {
		return Incident{}, err
	}
	fs, _, err := Detect(in)
	if err != nil {
		return Incident{}, err
	}
	if err := t.st.WriteFindings(ctx, fs); err != nil {
		return Incident{}, fmt.Errorf("storing findings: %w", err)
	}
	var services []string
	svc := ""
	if req.ServiceLabel != "" && slices.ContainsFunc(in.Spans, func(s evidence.Span) bool { return s.Service == req.ServiceLabel }) {
		svc, services = req.ServiceLabel, []string{req.ServiceLabel}
	}
	inc, body, err := t.investigate(ctx, in, svc, 0, services, req.Key)
	if err != nil {
		return inc, err
	}
	t.notify(ctx, Event{Event: "alert.investigated", Incident: inc, Report: body})
	return inc, nil
}
