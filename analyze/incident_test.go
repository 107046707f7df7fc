package analyze

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/evidence/duckdb"
)

func openStore(t *testing.T) *duckdb.Store {
	t.Helper()
	st, err := duckdb.Open(context.Background(), filepath.Join(t.TempDir(), "ev.duckdb"), duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestTrackerOpensInvestigatesAndCloses: a pass with a large change opens
// one incident (investigated, its report stored, the event posted to the
// webhook); the same change again adds nothing; calm passes close it.
func TestTrackerOpensInvestigatesAndCloses(t *testing.T) {
	ctx := context.Background()
	events := make(chan Event, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev Event
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		events <- ev
	}))
	defer hook.Close()
	cfg := DefaultIncidentConfig()
	cfg.NotifyURL, cfg.ClearAfter = hook.URL, 2

	st := openStore(t)
	writeTwoMinutes(t, st, 40e6)
	tr, err := NewTracker(st, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	pass, _, err := Recent(ctx, st, DefaultLoopConfig(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := tr.Observe(ctx, pass); err != nil || ev != "incident.opened" {
		t.Fatalf("first pass: %q, %v; want an incident opened", ev, err)
	}
	ev := <-events
	if ev.Event != "incident.opened" || ev.Incident.Service != "db" || ev.Incident.ReportID == "" || len(ev.Report) == 0 {
		t.Fatalf("event %+v; want db's incident with its report", ev.Incident)
	}
	if rs, err := st.Reports(ctx, evidence.ReportFilter{}); err != nil || len(rs) != 1 || rs[0].ID != ev.Incident.ReportID {
		t.Fatalf("stored reports %+v, %v", rs, err)
	}
	if ev, err := tr.Observe(ctx, pass); err != nil || ev != "" {
		t.Errorf("the same change again: %q, %v; want nothing new", ev, err)
	}

	calm := openStore(t)
	writeTwoMinutes(t, calm, 0)
	quiet, _, err := Recent(ctx, calm, DefaultLoopConfig(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if ev, _ := tr.Observe(ctx, quiet); ev != "" {
		t.Errorf("first calm pass: %q; want the incident still open", ev)
	}
	if ev, err := tr.Observe(ctx, quiet); err != nil || ev != "incident.closed" || tr.Open() != nil {
		t.Fatalf("second calm pass: %q, %v; want the incident closed", ev, err)
	}
	if ev := <-events; ev.Event != "incident.closed" || ev.Incident.ClosedNS == 0 {
		t.Errorf("close event %+v", ev)
	}
}

func TestIncidentConfigValidate(t *testing.T) {
	for _, url := range []string{"ftp://x", "not a url", "http://"} {
		c := DefaultIncidentConfig()
		c.NotifyURL = url
		if err := c.Validate(); err == nil {
			t.Errorf("notify URL %q accepted", url)
		}
	}
}
