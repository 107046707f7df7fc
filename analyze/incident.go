package analyze

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/debugai/debugai/agent"
	"github.com/debugai/debugai/agent/hypothesis"
	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/report"
)

// IncidentConfig says when the continuous analysis opens an incident and
// where it is announced.
type IncidentConfig struct {
	// MinChange is the least change of the window against its baseline:
	// the mean critical path longer by this share (M_lat), or this share
	// of traces with a changed shape (M_shape); docs/ranking.md.
	MinChange float64
	// MinExplained is the least share of that change the leading location
	// must explain, with a significant test.
	MinExplained float64
	// ClearAfter is how many passes in a row without such a change close
	// an open incident.
	ClearAfter int
	// NotifyURL receives each incident event as a JSON POST ("" : none).
	NotifyURL string
	// NotifyTimeout bounds one notification.
	NotifyTimeout time.Duration
}

// DefaultIncidentConfig: a 20 % change, 30 % of it at one significant
// location, closed after 3 calm passes; no webhook.
func DefaultIncidentConfig() IncidentConfig {
	return IncidentConfig{MinChange: 0.2, MinExplained: 0.3, ClearAfter: 3, NotifyTimeout: 10 * time.Second}
}

// Validate reports the first invalid field.
func (c IncidentConfig) Validate() error {
	switch {
	case !(c.MinChange > 0 && c.MinChange <= 1):
		return fmt.Errorf("%w: MinChange %v not in (0, 1]", ErrLoopConfig, c.MinChange)
	case !(c.MinExplained > 0 && c.MinExplained <= 1):
		return fmt.Errorf("%w: MinExplained %v not in (0, 1]", ErrLoopConfig, c.MinExplained)
	case c.ClearAfter < 1:
		return fmt.Errorf("%w: ClearAfter %d must be at least 1", ErrLoopConfig, c.ClearAfter)
	case c.NotifyTimeout <= 0:
		return fmt.Errorf("%w: NotifyTimeout %s must be positive", ErrLoopConfig, c.NotifyTimeout)
	}
	if c.NotifyURL != "" {
		u, err := url.Parse(c.NotifyURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%w: the notify URL is not an http(s) URL", ErrLoopConfig)
		}
	}
	return nil
}

// Incident is one open (or just closed) incident of the continuous
// analysis.
type Incident struct {
	ID string `json:"id"`
	// Service is where the ranking model put the change when it opened.
	Service string `json:"service"`
	// Explained is the share of the change that service explained.
	Explained float64 `json:"explained_share"`
	OpenedNS  int64   `json:"opened_ns"`
	ClosedNS  int64   `json:"closed_ns,omitempty"`
	// Status is the investigation's: accepted or unconfirmed.
	Status string `json:"status"`
	// ReportID is the stored report (an MCP resource).
	ReportID string `json:"report_id,omitempty"`
	Title    string `json:"title,omitempty"`
	Compared string `json:"compared"`
}

// Event is what a webhook receives: an incident opened or closed, with
// the report's JSON when one was written.
type Event struct {
	Event    string          `json:"event"` // "incident.opened", "incident.closed" or "alert.investigated"
	Incident Incident        `json:"incident"`
	Report   json.RawMessage `json:"report,omitempty"`
}

// IncidentStore is what the tracker needs of the served store.
type IncidentStore interface {
	Store
	agent.FindingLister
	evidence.ReportWriter
}

// Tracker turns analysis passes into incidents: it opens one when a pass
// shows a large, significant change at one location, investigates it
// with the deterministic investigator, stores the report, announces it,
// keeps it (one at a time: later passes of the same change add nothing)
// and closes it after ClearAfter calm passes. Not safe for concurrent use.
type Tracker struct {
	cfg    IncidentConfig
	st     IncidentStore
	logger *slog.Logger
	client *http.Client
	open   *Incident
	calm   int
}

// NewTracker returns a tracker over st.
func NewTracker(st IncidentStore, cfg IncidentConfig, logger *slog.Logger) (*Tracker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Tracker{cfg: cfg, st: st, logger: logger, client: &http.Client{Timeout: cfg.NotifyTimeout}}, nil
}

// Open returns the open incident (nil when none).
func (t *Tracker) Open() *Incident { return t.open }

// Observe takes one pass's result and returns the event it caused ("" for
// none).
func (t *Tracker) Observe(ctx context.Context, pass Pass) (string, error) {
	if pass.Input == nil {
		return "", nil // skipped: nothing new
	}
	svc, share, changed := t.change(pass.Input)
	switch {
	case changed && t.open != nil:
		t.calm = 0
		return "", nil
	case changed:
		inc, body, err := t.investigate(ctx, pass.Input, svc, share, nil, "")
		if err != nil {
			return "", err
		}
		t.open, t.calm = &inc, 0
		t.notify(ctx, Event{Event: "incident.opened", Incident: inc, Report: body})
		return "incident.opened", nil
	case t.open != nil:
		if t.calm++; t.calm >= t.cfg.ClearAfter {
			closed := *t.open
			closed.ClosedNS = time.Now().UnixNano()
			t.open, t.calm = nil, 0
			t.notify(ctx, Event{Event: "incident.closed", Incident: closed})
			return "incident.closed", nil
		}
	}
	return "", nil
}

// change reports the leading location of a pass's change when the change
// is large and significant enough to open an incident.
func (t *Tracker) change(in *Input) (string, float64, bool) {
	m := in.Model
	if m == nil || !m.Baseline || len(m.Candidates) == 0 {
		return "", 0, false
	}
	c := m.Candidates[0]
	large := m.LatencyChange >= t.cfg.MinChange || m.ShapeChange >= t.cfg.MinChange
	return c.Service, c.Explained, large && c.Significant && c.Explained >= t.cfg.MinExplained
}

// investigate runs the deterministic investigator over the pass's window
// (within services, when given), builds and stores the report. id names
// the incident ("": one derived from the service and window).
func (t *Tracker) investigate(ctx context.Context, in *Input, svc string, share float64, services []string, id string) (Incident, json.RawMessage, error) {
	now := time.Now()
	scope := hypothesis.Scope{SinceNS: in.SinceNS, UntilNS: in.UntilNS, Baseline: in.Plan.Baseline, Services: services}
	inc := Incident{ID: id, Service: svc, Explained: share, OpenedNS: now.UnixNano(), Status: string(hypothesis.Unconfirmed), Compared: in.Describe()}
	if inc.ID == "" {
		sum := sha256.Sum256(fmt.Appendf(nil, "%s/%d", svc, in.SinceNS))
		inc.ID = "incident:" + hex.EncodeToString(sum[:8])
	}
	res, err := agent.NewDeterministic(t.st, t.st).Investigate(ctx, agent.Incident{Scope: scope})
	if err != nil {
		return inc, nil, fmt.Errorf("investigating: %w", err)
	}
	if res.Hypothesis == nil {
		return inc, nil, nil // no candidate: announced without a report
	}
	if inc.Service == "" {
		inc.Service = res.Hypothesis.Location.Service
	}
	rep, err := report.Build(ctx, t.st, *res.Hypothesis, res.Verdict, report.Options{Scope: scope, Compared: inc.Compared,
		GeneratedAtNS: now.UnixNano()})
	if err != nil {
		return inc, nil, fmt.Errorf("building the report: %w", err)
	}
	body, err := report.JSON(rep)
	if err != nil {
		return inc, nil, fmt.Errorf("encoding the report: %w", err)
	}
	sr, err := StoreReport(ctx, t.st, rep, body, now.UnixNano())
	if err != nil {
		return inc, nil, err
	}
	inc.Status, inc.ReportID, inc.Title = string(rep.Status), sr.ID, rep.Title
	return inc, body, nil
}

// notify posts the event to the webhook; a failure is logged, not
// returned (the incident stands whether or not anyone heard of it).
func (t *Tracker) notify(ctx context.Context, ev Event) {
	t.logger.Info(ev.Event, "incident", ev.Incident.ID, "service", ev.Incident.Service, "status", ev.Incident.Status,
		"report", ev.Incident.ReportID)
	if t.cfg.NotifyURL == "" {
		return
	}
	body, err := json.Marshal(ev)
	if err != nil {
		t.logger.Warn("encoding the notification", "err", err)
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.cfg.NotifyURL, bytes.NewReader(body))
	if err != nil {
		t.logger.Warn("notifying", "err", err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may carry a secret: never log it
		}
		t.logger.Warn("notifying: the webhook did not answer", "err", err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.logger.Warn("notifying: the webhook refused the event", "status", resp.StatusCode)
	}
}

// StoreReport keeps a report (body: its JSON) in the store, under an ID
// derived from its content, so that MCP lists it as a resource.
func StoreReport(ctx context.Context, w evidence.ReportWriter, rep report.Report, body []byte, createdNS int64) (evidence.StoredReport, error) {
	sum := sha256.Sum256(body)
	sr := evidence.StoredReport{ID: "report:" + hex.EncodeToString(sum[:12]), CreatedNS: createdNS,
		Status: string(rep.Status), Title: rep.Title, Body: body}
	if err := w.WriteReport(ctx, sr); err != nil {
		return sr, fmt.Errorf("storing the report: %w", err)
	}
	return sr, nil
}
