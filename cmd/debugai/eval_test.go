package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/debugai/debugai/eval"
)

// runEvalJSON runs debugai eval --json --out on dirs and returns the
// document written to --out (which must equal the one printed).
func runEvalJSON(t *testing.T, dirs ...string) evalOutput {
	t.Helper()
	doc, _ := evalJSON(t, "deterministic", nil, dirs...)
	return doc
}

// evalJSON is runEvalJSON with more flags and the investigator they
// select; it also returns stderr.
func evalJSON(t *testing.T, investigator string, flags []string, dirs ...string) (evalOutput, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "eval.json")
	stdout, stderr, err := runCLI(t, slices.Concat([]string{"eval", "--json", "--out", out}, flags, dirs)...)
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != stdout {
		t.Errorf("--out differs from stdout")
	}
	var doc evalOutput
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Results) != len(dirs) || doc.Investigator != investigator {
		t.Fatalf("%d results for %d bundles, investigator %q, want %q", len(doc.Results), len(dirs), doc.Investigator, investigator)
	}
	return doc, stderr
}

// resultOf finds a bundle's result by folder name.
func resultOf(t *testing.T, doc evalOutput, name string) eval.Result {
	t.Helper()
	for _, r := range doc.Results {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no result for %s", name)
	return eval.Result{}
}

// TestEvalIncidents evaluates the recorded bundles of eval/incidents: each
// bug's root cause at rank 1 and accepted by the verifier, nothing accepted
// on the controls (no bug; a benign version bump), every citation
// resolving.
func TestEvalIncidents(t *testing.T) {
	all, err := filepath.Glob(filepath.Join("..", "..", "eval", "incidents", "*"))
	// Corpora 2 and 3 (workload/shop, "shop-*" and "shop3-*"), corpus 4
	// (workload/media, "media-*") and corpus 5 (workload/ride, "ride-") are
	// scored in EVAL.md, their sealed halves once: this test holds the bank
	// corpus to rank 1.
	dirs := slices.DeleteFunc(all, func(p string) bool {
		fi, err := os.Stat(p)
		return err != nil || !fi.IsDir() || strings.HasPrefix(filepath.Base(p), "shop-") ||
			strings.HasPrefix(filepath.Base(p), "shop3-") || strings.HasPrefix(filepath.Base(p), "media-") ||
			strings.HasPrefix(filepath.Base(p), "ride-")
	}) // not embed.go
	if err != nil || len(dirs) < 11 {
		t.Fatalf("want at least 11 bundles, got %v, %v", dirs, err)
	}
	doc := runEvalJSON(t, dirs...)
	controls := 0
	for _, r := range doc.Results {
		if r.Truth == nil || r.Score == nil {
			t.Errorf("%s: not scored (truth %+v)", r.Name, r.Truth)
			continue
		}
		if r.Truth.RootCauseService == "none" {
			controls++
			if r.Score.FalseRootCause || r.Status == "accepted" {
				t.Errorf("control %s: status %s, score %+v", r.Name, r.Status, r.Score)
			}
			continue
		}
		if r.Score.ServiceRank != 1 || !r.Score.AcceptedCorrect {
			t.Errorf("%s: score %+v, answer %+v, candidates %+v", r.Name, r.Score, r.Answer, r.Candidates)
		}
	}
	s := doc.Summary
	if controls < 2 || s.Service.At1 != 1 || s.FalseRootCauses != 0 || s.CitationsOK != 1 || s.Controls != controls {
		t.Errorf("summary %+v (%d controls)", s, controls)
	}
}

// TestEvalHotROD wraps the shared HotROD recordings as bundles with the
// truth their recording states (mysql's "SQL SELECT"); a recording left
// without truth.json is listed but not scored.
func TestEvalHotROD(t *testing.T) {
	root := t.TempDir()
	mutex := hotrodBundle(t, root, "incident_mutex_default", "")
	changed := hotrodBundle(t, root, "changepoint_fixed_to_default", "deploy_regression")
	unscored := hotrodBundle(t, root, "fixed_M_D100ms_W100", "-")
	doc := runEvalJSON(t, mutex, changed, unscored)
	for _, name := range []string{"incident_mutex_default", "changepoint_fixed_to_default"} {
		r := resultOf(t, doc, name)
		if r.Score == nil || r.Score.ServiceRank != 1 || r.Score.OperationRank == nil || *r.Score.OperationRank != 1 || r.Score.FalseRootCause {
			t.Errorf("%s: score %+v, candidates %+v", name, r.Score, r.Candidates)
		}
	}
	if r := resultOf(t, doc, "fixed_M_D100ms_W100"); r.Score != nil || r.Truth != nil || r.Status == "" {
		t.Errorf("bundle without truth: %+v", r)
	}
	if doc.Summary.Scored != 2 || doc.Summary.Bundles != 3 {
		t.Errorf("summary %+v", doc.Summary)
	}
}

// hotrodBundle makes a bundle folder under root linking a shared HotROD
// recording, with a truth.json unless phase is "-"; a phase names the
// phases.txt entry that gives the inject time.
func hotrodBundle(t *testing.T, root, name, phase string) string {
	t.Helper()
	src := sharedTestdata(t, filepath.Join("hotrod", name))
	dir := linkBundle(t, root, name, filepath.Join(src, "traces.otlp.jsonl.gz"))
	if phase == "-" {
		return dir
	}
	truth := map[string]string{"root_cause_service": "mysql", "root_cause_operation": "SQL SELECT",
		"source": "shared/testdata/hotrod/" + name + " (HotROD with its mysql mutex on)"}
	if phase != "" {
		truth["inject_time_utc"] = phaseTime(t, filepath.Join(src, "phases.txt"), phase).Format(time.RFC3339Nano)
	}
	writeTruth(t, dir, truth)
	return dir
}

// phaseTime reads "name=<unix seconds>" from a phases.txt.
func phaseTime(t *testing.T, path, name string) time.Time {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		v, ok := strings.CutPrefix(line, name+"=")
		if !ok {
			continue
		}
		secs, err := strconv.ParseFloat(strings.Fields(v)[0], 64)
		if err != nil {
			t.Fatal(err)
		}
		return time.Unix(0, int64(secs*1e9)).UTC()
	}
	t.Fatalf("%s: no %s", path, name)
	return time.Time{}
}

// linkBundle makes root/name holding symlinks to files.
func linkBundle(t *testing.T, root, name string, files ...string) string {
	t.Helper()
	dir := filepath.Join(root, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		abs, err := filepath.Abs(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(abs, filepath.Join(dir, filepath.Base(f))); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func writeTruth(t *testing.T, dir string, truth any) {
	t.Helper()
	b, err := json.Marshal(truth)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, eval.TruthFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestEvalNezha evaluates the Nezha TrainTicket recording of the
// verification-code network_delay fault, its truth taken from the fault
// list: the faulty service at rank 1.
func TestEvalNezha(t *testing.T) {
	src := sharedTestdata(t, "nezha")
	incident, err := filepath.Glob(filepath.Join(src, "tt_fault_verification-code_network_delay_*.otlp.jsonl.gz"))
	if err != nil || len(incident) != 1 {
		t.Fatalf("incident file: %v, %v", incident, err)
	}
	baseline, err := filepath.Glob(filepath.Join(src, "tt_baseline_*.otlp.jsonl.gz"))
	if err != nil || len(baseline) != 1 {
		t.Fatalf("baseline file: %v, %v", baseline, err)
	}
	dir := linkBundle(t, t.TempDir(), "nezha-verification-code", incident[0], baseline[0])
	writeTruth(t, dir, nezhaTruth(t, filepath.Join(src, "2023-01-30-fault_list.json"), "verification-code", "12:29"))
	doc := runEvalJSON(t, dir)
	r := doc.Results[0]
	if r.Truth.RootCauseService != "ts-verification-code-service" || r.Score == nil || r.Score.ServiceRank != 1 || r.Score.FalseRootCause {
		t.Errorf("truth %+v, score %+v, candidates %+v", r.Truth, r.Score, r.Candidates)
	}
}

// TestEvalNezhaDay evaluates all 17 TrainTicket faults of 2023-01-30
// (the shared development bundles, used in place): 14 network delays and 3
// CPU contentions over 9 services, from traces alone. The target
// is service AC@1 >= 0.90 (Nezha itself: 0.867 with traces, logs and
// metrics); the CPU contentions must be blamed on the stalled caller,
// not on the callees its slow client spans point at.
func TestEvalNezhaDay(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(sharedTestdata(t, "nezha"), "tt-2023-01-30", "[0-9][0-9]_*"))
	if err != nil || len(dirs) != 17 {
		t.Fatalf("want the 17 bundles of the day, got %d (%v)", len(dirs), err)
	}
	doc := runEvalJSON(t, dirs...)
	s := doc.Summary
	if s.Scored != 17 || s.Service.At1 < 0.90 || s.CitationsOK != 1 {
		t.Errorf("summary %+v: want 17 scored, service AC@1 >= 0.90, every citation resolving", s)
	}
	for _, r := range doc.Results {
		if r.Score == nil || r.Score.ServiceRank != 1 {
			t.Logf("%s: truth %s, candidates %+v", r.Name, r.Truth.RootCauseService, r.Candidates)
		}
		if strings.Contains(r.Name, "cpu_contention") && (r.Answer == nil || r.Answer.Pattern != "gc_or_cpu") {
			t.Errorf("%s: answer %+v, want the gc_or_cpu pattern (a stalled service)", r.Name, r.Answer)
		}
	}
}

// nezhaTruth derives a truth.json from Nezha's fault list: the fault
// injected at hhmm into a pod of the service, whose name is the pod's
// without its two generated suffixes.
func nezhaTruth(t *testing.T, path, service, hhmm string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var faults map[string][]struct {
		Time string `json:"inject_time"`
		Pod  string `json:"inject_pod"`
		Type string `json:"inject_type"`
	}
	if err := json.Unmarshal(b, &faults); err != nil {
		t.Fatal(err)
	}
	for _, hour := range faults {
		for _, f := range hour {
			if !strings.Contains(f.Pod, service) || !strings.Contains(f.Time, " "+hhmm+":") {
				continue
			}
			parts := strings.Split(f.Pod, "-")
			return map[string]string{"root_cause_service": strings.Join(parts[:len(parts)-2], "-"), "inject_time_utc": f.Time,
				"source": fmt.Sprintf("Nezha %s: %s into %s", filepath.Base(path), f.Type, f.Pod)}
		}
	}
	t.Fatalf("%s: no fault into %s at %s", path, service, hhmm)
	return nil
}

// TestEvalBadInput: folders that are not bundles and bad truth.json files
// are usage errors (exit 2) naming the folder or the field, found before
// any bundle is investigated.
func TestEvalBadInput(t *testing.T) {
	root := t.TempDir()
	bundle := func(name, truth string) string {
		dir := filepath.Join(root, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "incident.otlp.jsonl.gz"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if truth != "" {
			if err := os.WriteFile(filepath.Join(dir, eval.TruthFile), []byte(truth), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	empty := filepath.Join(root, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	good := bundle("good", `{"root_cause_service":"a"}`)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"no folder", nil, []string{"at least one bundle folder"}},
		{"missing folder", []string{filepath.Join(root, "missing")}, []string{filepath.Join(root, "missing")}},
		{"not a bundle", []string{good, empty}, []string{empty, "not an incident bundle"}},
		{"truth without service", []string{bundle("noservice", `{"pattern":"lock_convoy"}`)}, []string{"noservice", "field root_cause_service", "required"}},
		{"truth with a wrong type", []string{good, bundle("badtype", `{"root_cause_service":"a","root_cause_operation":3}`)}, []string{"field root_cause_operation", "JSON string"}},
		{"truth with a bad time", []string{bundle("badtime", `{"root_cause_service":"a","inject_time_utc":"noon"}`)}, []string{"field inject_time_utc"}},
		{"truth not JSON", []string{bundle("notjson", `root_cause_service: a`)}, []string{"notjson", "truth.json", "not a JSON object"}},
		{"unknown flag", []string{"--frobnicate", good}, []string{"frobnicate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := runCLI(t, append([]string{"eval"}, tt.args...)...)
			var msg strings.Builder
			if code := exitCode(err, &msg); code != 2 {
				t.Fatalf("exit %d (%v), want 2\n%s", code, err, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg.String(), w) && !strings.Contains(stderr, w) {
					t.Errorf("error %q lacks %q", msg.String(), w)
				}
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
}
