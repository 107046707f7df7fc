package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/evidence/duckdb"
	"github.com/debugai/debugai/report"
)

// TestInvestigateHotRODBundle investigates the shared HotROD recording as
// a bundle: trace-only evidence, so the leading hypothesis (mysql's lock
// wait on the critical path) is reported as unconfirmed, and --fail-on any
// exits 4.
func TestInvestigateHotRODBundle(t *testing.T) {
	dir := sharedTestdata(t, "hotrod/incident_mutex_default")
	out := filepath.Join(t.TempDir(), "report")
	stdout, stderr, err := runCLI(t, "investigate", "--bundle", dir, "--out", out, "--fail-on", "any")
	if code := exitCode(err, io.Discard); code != report.ExitUnconfirmed {
		t.Fatalf("exit %d (%v), want %d\n%s", code, err, report.ExitUnconfirmed, stderr)
	}
	for _, want := range []string{"Unconfirmed hypothesis", "mysql/SQL SELECT lock", "insufficient_independent_lines", "kernel.futex"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("report lacks %q:\n%s", want, stdout)
		}
	}
	for _, f := range []string{"report.md", "report.json", "timeline.svg", "github-issue.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("report file: %v", err)
		}
	}
	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := report.Parse(b)
	if err != nil || rep.Status != report.StatusUnconfirmed || rep.Hypothesis.Location.Service != "mysql" {
		t.Errorf("report.json: status %q service %q, %v", rep.Status, rep.Hypothesis.Location.Service, err)
	}
}

// convoyStore writes a store whose evidence backs a lock convoy on two
// lines (futex waits stamped with the slow span) and returns the IDs.
func convoyStore(t *testing.T) (string, map[string]string) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ev.duckdb")
	st, err := duckdb.Open(ctx, path, duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const t0 = int64(1_800_000_000e9)
	span := evidence.Span{TraceID: evidence.TraceID{1}, SpanID: evidence.SpanID{1}, Service: "bank", Name: "transfer",
		Kind: evidence.KindServer, StartNS: t0, EndNS: t0 + 80e6}
	wait := evidence.KernelEvent{Node: "n1", Stream: "futex_wait-a", Type: evidence.KernelFutexWait, TimeNS: t0 + 70e6,
		DurationNS: 60e6, PID: 7, TID: 8, Addr: 0x1000, WakerTID: 9, TraceID: span.TraceID, SpanID: span.SpanID}
	if err := st.Write(ctx, &evidence.Batch{Spans: []evidence.Span{span}, KernelEvents: []evidence.KernelEvent{wait}}); err != nil {
		t.Fatal(err)
	}
	refs := []evidence.Ref{{ID: wait.ID(), Line: evidence.LineKernelFutex}, {ID: span.ID(), Line: evidence.LineTrace}}
	f := evidence.Finding{ID: evidence.NewFindingID("lock_convoy", "0x1000", refs), Kind: "lock_convoy", Subject: "0x1000",
		Summary: "transfers wait 60ms behind one holder", Confidence: 0.9, Score: 1, Refs: refs, StartNS: t0, EndNS: t0 + 80e6}
	if err := st.WriteFindings(ctx, []evidence.Finding{f}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return path, map[string]string{"span": span.ID(), "wait": wait.ID(), "finding": f.ID}
}

// TestInvestigateAcceptedConvoy: the deterministic investigator confirms a
// convoy backed by futex waits and spans; --fail-on accepted exits 3 and
// the report is stored.
func TestInvestigateAcceptedConvoy(t *testing.T) {
	store, ids := convoyStore(t)
	out := filepath.Join(t.TempDir(), "r")
	stdout, stderr, err := runCLI(t, "investigate", "--store", store, "--no-detect", "--out", out, "--fail-on", "accepted", "--json", "--jira-project", "OPS")
	if code := exitCode(err, io.Discard); code != report.ExitRootCause {
		t.Fatalf("exit %d (%v), want %d\n%s", code, err, report.ExitRootCause, stderr)
	}
	rep, err := report.Parse([]byte(stdout))
	if err != nil || rep.Status != report.StatusAccepted || rep.Hypothesis.Claims[0].Citations[0] != ids["finding"] {
		t.Fatalf("report %+v, %v", rep, err)
	}
	if !strings.Contains(stderr, "stored as report:") {
		t.Errorf("report not stored: %s", stderr)
	}
	jira, err := os.ReadFile(filepath.Join(out, "jira-issue.json"))
	if err != nil || !strings.Contains(string(jira), `"key": "OPS"`) {
		t.Errorf("jira payload %s, %v", jira, err)
	}
}

// TestInvestigateServices: --services bounds the incident: the convoy's
// service in it is accepted, a service the store does not hold is refused
// before anything runs (the verifier would reject every hypothesis).
func TestInvestigateServices(t *testing.T) {
	store, _ := convoyStore(t)
	_, stderr, err := runCLI(t, "investigate", "--store", store, "--no-detect", "--out", t.TempDir(), "--fail-on", "accepted", "--services", " bank")
	if code := exitCode(err, io.Discard); code != report.ExitRootCause {
		t.Fatalf("--services bank: exit %d (%v), want %d\n%s", code, err, report.ExitRootCause, stderr)
	}
	for _, services := range []string{"nosuchsvc", "bank,nosuchsvc", "Bank"} {
		_, stderr, err = runCLI(t, "investigate", "--store", store, "--no-detect", "--out", t.TempDir(), "--fail-on", "accepted", "--services", services)
		if code := exitCode(err, io.Discard); code != 2 || !strings.Contains(err.Error(), "--services: entry") || strings.Contains(err.Error()+stderr, "nosuchsvc") {
			t.Errorf("--services %s: exit %d, %v; want 2 naming the entry, not its value\n%s", services, code, err, stderr)
		}
	}
}

// TestInvestigateLLM drives the investigation through a loopback
// OpenAI-compatible server that answers with one submit_hypothesis call.
func TestInvestigateLLM(t *testing.T) {
	store, ids := convoyStore(t)
	h := map[string]any{"schema": "debugai.hypothesis/v1", "summary": "transfers queue on one mutex", "pattern": "lock_convoy",
		"location": map[string]any{"service": "bank"}, "confidence": 0.8, "claims": []map[string]any{
			{"text": "futex waits on 0x1000", "citations": []string{ids["wait"]}, "root_cause": true},
			{"text": "the slow transfer", "citations": []string{ids["span"]}, "root_cause": true}}}
	args, _ := json.Marshal(map[string]any{"hypothesis": h})
	var requests int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests++
		body, _ := io.ReadAll(r.Body)
		for _, tool := range []string{"list_findings", "get_evidence", "submit_hypothesis", "query_spans"} {
			if !strings.Contains(string(body), `"name":"`+tool+`"`) {
				t.Errorf("request does not offer %s", tool)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"x","object":"chat.completion","model":"m","choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"submit_hypothesis","arguments":%q}}]}}],"usage":{"prompt_tokens":100,"completion_tokens":20,"total_tokens":120}}`, args)
	}))
	defer srv.Close()
	stdout, stderr, err := runCLI(t, "investigate", "--store", store, "--no-detect", "--out", t.TempDir(),
		"--llm", "--llm-base-url", srv.URL+"/v1", "--llm-model", "replay")
	if err != nil {
		t.Fatalf("investigate --llm: %v\n%s", err, stderr)
	}
	if requests != 1 || !strings.Contains(stdout, "**Status: root cause accepted**") || !strings.Contains(stdout, "kernel.futex") {
		t.Errorf("%d requests; report:\n%s", requests, stdout)
	}
	if !strings.Contains(stderr, "accepted after 1 attempt(s), 1 step(s)") || !strings.Contains(stderr, "120 tokens") {
		t.Errorf("progress: %s", stderr)
	}
}

func TestInvestigateBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--fail-on", "sometimes"}, "--fail-on"},
		{[]string{"--bundle", filepath.Join(t.TempDir(), "none")}, "--bundle"},
		{[]string{"--bundle", t.TempDir()}, "not an incident bundle"},
		{[]string{"--llm", "--llm-base-url", "", "--llm-model", "m"}, "no base URL"},
		{[]string{"extra"}, "takes no arguments"},
		{[]string{"--baseline-bundle", t.TempDir()}, "--baseline-bundle needs --bundle"},
		{[]string{"--bundle", t.TempDir(), "--since", "1h"}, "drop --since"},
	} {
		_, stderr, err := runCLI(t, append([]string{"investigate"}, tc.args...)...)
		if code := exitCode(err, io.Discard); code != 2 || !strings.Contains(err.Error()+stderr, tc.want) {
			t.Errorf("investigate %v: exit %d, %v; want 2 and %q", tc.args, code, err, tc.want)
		}
	}
}

// TestInvestigateReportsComparisonAndCauses: the report says what was
// compared with what (here a baseline from another recording) and lists
// the shares of the change, the root cause's first.
func TestInvestigateReportsComparisonAndCauses(t *testing.T) {
	bundles := filepath.Join("..", "..", "eval", "incidents")
	out := filepath.Join(t.TempDir(), "r")
	_, stderr, err := runCLI(t, "investigate", "--bundle", filepath.Join(bundles, "cpuquota"),
		"--baseline-bundle", filepath.Join(bundles, "none"), "--out", out)
	if err != nil {
		t.Fatalf("investigate: %v\n%s", err, stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := report.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rep.Scope.Compared, "against the baseline") || !strings.Contains(rep.Scope.Compared, "the baseline bundle none") {
		t.Errorf("compared %q, want the other bundle's baseline named", rep.Scope.Compared)
	}
	if len(rep.Causes) == 0 || rep.Causes[0].Service != "ledger" || !rep.Causes[0].Root || rep.Causes[0].Share <= 0.5 {
		t.Fatalf("causes %+v, want ledger first, the root cause, explaining most", rep.Causes)
	}
	for i := 1; i < len(rep.Causes); i++ {
		if rep.Causes[i].Share > rep.Causes[i-1].Share || rep.Causes[i].Root {
			t.Errorf("cause %d %+v after %+v: want secondary causes in decreasing share", i, rep.Causes[i], rep.Causes[i-1])
		}
	}
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil || !strings.Contains(string(md), "## What explains the change") || !strings.Contains(string(md), "| Compared |") {
		t.Errorf("report.md lacks the comparison or the causes (%v)", err)
	}
}
