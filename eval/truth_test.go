package eval

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEvalParseTruth(t *testing.T) {
	tests := []struct {
		name, doc string
		field     string // the *TruthError's field; "-" for no error
		wantErr   string
	}{
		{"full", `{"root_cause_service":"ledger","root_cause_operation":"POST /entries","pattern":"lock_convoy","inject_time_utc":"2026-11-25T07:36:20.9Z","notes":"x"}`, "-", ""},
		{"date time", `{"root_cause_service":"mysql","inject_time_utc":"2023-01-30 12:29:29"}`, "-", ""},
		{"control", `{"root_cause_service":"none","pattern":"none"}`, "-", ""},
		{"unknown fields ignored", `{"root_cause_service":"a","extra":1}`, "-", ""},
		{"missing service", `{"pattern":"lock_convoy"}`, "root_cause_service", "required"},
		{"blank service", `{"root_cause_service":"  "}`, "root_cause_service", "required"},
		{"service not a string", `{"root_cause_service":7}`, "root_cause_service", "must be a JSON string"},
		{"bad time", `{"root_cause_service":"a","inject_time_utc":"yesterday"}`, "inject_time_utc", "neither RFC 3339"},
		{"bad pattern", `{"root_cause_service":"a","pattern":"gremlins"}`, "pattern", "not a known pattern"},
		{"secondary causes", `{"root_cause_service":"payments","pattern":"pool_saturation","secondary_causes":[{"service":"inventory","operation":"GET /stock","pattern":"lock_convoy"}]}`, "-", ""},
		{"secondary without service", `{"root_cause_service":"a","secondary_causes":[{"pattern":"lock_convoy"}]}`, "secondary_causes[0].service", "required"},
		{"secondary none service", `{"root_cause_service":"a","secondary_causes":[{"service":"none","pattern":"lock_convoy"}]}`, "secondary_causes[0].service", "required"},
		{"secondary bad pattern", `{"root_cause_service":"a","secondary_causes":[{"service":"b","pattern":"x"}]}`, "secondary_causes[0].pattern", "known pattern"},
		{"secondary without pattern", `{"root_cause_service":"a","secondary_causes":[{"service":"b"},{"service":"c"}]}`, "secondary_causes[0].pattern", "known pattern"},
		{"secondary on a control", `{"root_cause_service":"none","secondary_causes":[{"service":"b","pattern":"lock_convoy"}]}`, "secondary_causes", "control"},
		{"secondary not an array", `{"root_cause_service":"a","secondary_causes":{}}`, "secondary_causes", "must be a JSON array"},
		{"not JSON", `{"root_cause_service":`, "", "not a JSON object"},
		{"array", `[1]`, "", "must be a JSON object, not array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTruth([]byte(tt.doc))
			if tt.field == "-" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var te *TruthError
			if !errors.As(err, &te) || te.Field != tt.field || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want field %q and %q", err, tt.field, tt.wantErr)
			}
			if tt.field != "" && !strings.Contains(err.Error(), "field "+tt.field) {
				t.Errorf("error %q does not name the field", err)
			}
		})
	}
}

// TestEvalParseTruthSecondary: secondary causes keep their order and
// fields (the service trimmed).
func TestEvalParseTruthSecondary(t *testing.T) {
	tr, err := ParseTruth([]byte(`{"root_cause_service":"catalog","secondary_causes":[{"service":" inventory ","operation":"GET /items","pattern":"lock_convoy"},{"service":"orders","pattern":"io_latency"}]}`))
	want := []Cause{{Service: "inventory", Operation: "GET /items", Pattern: "lock_convoy"}, {Service: "orders", Pattern: "io_latency"}}
	if err != nil || len(tr.SecondaryCauses) != 2 || tr.SecondaryCauses[0] != want[0] || tr.SecondaryCauses[1] != want[1] {
		t.Fatalf("%+v, %v; want %+v", tr.SecondaryCauses, err, want)
	}
}

func TestEvalParseTruthTimes(t *testing.T) {
	for doc, want := range map[string]time.Time{
		`{"root_cause_service":"a","inject_time_utc":"2023-01-30 12:29:29"}`:       time.Date(2023, 1, 30, 12, 29, 29, 0, time.UTC),
		`{"root_cause_service":"a","inject_time_utc":"2023-01-30T13:29:29+01:00"}`: time.Date(2023, 1, 30, 12, 29, 29, 0, time.UTC),
	} {
		tr, err := ParseTruth([]byte(doc))
		if err != nil || !tr.InjectTime.Equal(want) || tr.InjectTime.Location() != time.UTC {
			t.Errorf("%s: %v, %v; want %v", doc, tr.InjectTime, err, want)
		}
	}
}

func TestEvalReadTruth(t *testing.T) {
	dir := t.TempDir()
	if tr, err := ReadTruth(dir); tr != nil || err != nil {
		t.Fatalf("absent truth: %v, %v", tr, err)
	}
	path := filepath.Join(dir, TruthFile)
	if err := os.WriteFile(path, []byte(`{"root_cause_service":"ledger","pattern":"none"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if tr, err := ReadTruth(dir); err != nil || tr.RootCauseService != "ledger" || tr.Control() {
		t.Fatalf("truth %+v, %v", tr, err)
	}
	if err := os.WriteFile(path, []byte(`{"root_cause_service":["x"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadTruth(dir); err == nil || !strings.Contains(err.Error(), path+": field root_cause_service") {
		t.Fatalf("error %v does not name the file and field", err)
	}
}

func TestEvalOpenBundle(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"baseline.otlp.jsonl.gz", "incident.otlp.jsonl.gz", "kernel.otlp.jsonl.gz", "tt_baseline_1.otlp.jsonl.gz",
		"traces.otlp.pb", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := OpenBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Baseline) != 2 || len(b.Incident) != 2 || len(b.Kernel) != 1 || len(b.Files()) != 5 {
		t.Errorf("bundle %+v", b)
	}
	for _, bad := range []string{t.TempDir(), filepath.Join(dir, "notes.txt")} {
		if _, err := OpenBundle(bad); !errors.Is(err, ErrNotBundle) || !strings.Contains(err.Error(), bad) {
			t.Errorf("%s: %v", bad, err)
		}
	}
	if _, err := OpenBundle(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}
