package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/debugai/debugai/eval"
	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/evidence/duckdb"
	"github.com/debugai/debugai/internal/llmreplay"
)

// llmEnv makes the LLM flags hermetic: a dummy API key (the replay server
// ignores it; a real key in the environment never leaves for loopback) and
// no endpoint or model from the environment.
func llmEnv(t *testing.T) {
	t.Setenv("DEBUGAI_HMAC_KEY", testKey)
	t.Setenv("DEBUGAI_LLM_API_KEY", "replay-dummy-key")
	t.Setenv("OPENAI_API_KEY", "")
	t.Setenv("DEBUGAI_LLM_BASE_URL", "")
	t.Setenv("DEBUGAI_LLM_MODEL", "")
}

// detectedFindings imports and detects a bundle the way eval does and
// returns the findings: their IDs are content hashes, so the replayed
// model can cite the IDs eval's own store will hold.
func detectedFindings(t *testing.T, dir string) []evidence.Finding {
	t.Helper()
	ctx := context.Background()
	store := filepath.Join(t.TempDir(), "ids.duckdb")
	var errb bytes.Buffer
	env := &cmdEnv{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &errb, getenv: os.Getenv}
	plan, err := importBundle(ctx, dir, "", store, env)
	if err == nil {
		_, err = detectQuietly(ctx, store, "", "", "", "", plan, env)
	}
	if err != nil {
		t.Fatalf("%s: %v\n%s", dir, err, errb.String())
	}
	st, err := duckdb.Open(ctx, store, duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fs, err := st.Findings(ctx, evidence.FindingFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// linesOf lists a finding's distinct evidence lines.
func linesOf(f evidence.Finding) []evidence.Line {
	var ls []evidence.Line
	for _, r := range f.Refs {
		ls = append(ls, r.Line)
	}
	slices.Sort(ls)
	return slices.Compact(ls)
}

// convoyIDs are the convoy transcript's template data: the lock_convoy
// finding, its lock, and a futex wait among the first refs get_evidence
// shows.
func convoyIDs(t *testing.T, dir string) map[string]string {
	t.Helper()
	for _, f := range detectedFindings(t, dir) {
		if f.Kind != "lock_convoy" {
			continue
		}
		if ls := linesOf(f); !slices.Contains(ls, evidence.LineKernelFutex) || !slices.Contains(ls, evidence.LineTrace) {
			t.Fatalf("lock_convoy finding %s cites lines %v, want kernel.futex and trace", f.ID, ls)
		}
		for _, r := range f.Refs[:min(len(f.Refs), 5)] {
			if r.Line == evidence.LineKernelFutex {
				return map[string]string{"finding": f.ID, "lock": f.Subject, "wait": r.ID}
			}
		}
		t.Fatalf("lock_convoy finding %s: no futex wait among its first refs", f.ID)
	}
	t.Fatalf("%s: no lock_convoy finding", dir)
	return nil
}

// noneIDs are the control transcript's: a finding on the trace line only,
// which the model blames although no second line backs it.
func noneIDs(t *testing.T, dir string) map[string]string {
	t.Helper()
	for _, f := range detectedFindings(t, dir) {
		if slices.Equal(linesOf(f), []evidence.Line{evidence.LineTrace}) {
			return map[string]string{"finding": f.ID}
		}
	}
	t.Fatalf("%s: no trace-only finding", dir)
	return nil
}

func incidentDir(name string) string { return filepath.Join("..", "..", "eval", "incidents", name) }

func transcriptPath(name string) string {
	return filepath.Join("testdata", "transcripts", name+".json")
}

// TestEvalLLM runs `debugai eval --llm` against a replayed
// OpenAI-compatible server over two committed bundles. On convoy the model
// lists the findings, reads the lock_convoy finding and submits it with one
// of its futex waits: the verifier accepts, the ledger is at rank 1. On the
// control it blames a trace-only finding, is rejected for want of a second
// evidence line and declines: nothing is accepted. Tokens are the sum of
// the transcripts' usage.
func TestEvalLLM(t *testing.T) {
	llmEnv(t)
	convoy, none := incidentDir("convoy"), incidentDir("none")
	trConvoy := llmreplay.Load(t, transcriptPath("convoy"), convoyIDs(t, convoy))
	trNone := llmreplay.Load(t, transcriptPath("none"), noneIDs(t, none))
	srv := llmreplay.Start(t, llmreplay.Transcript{Turns: slices.Concat(trConvoy.Turns, trNone.Turns)})
	doc, stderr := evalJSON(t, "llm:replay", []string{"--llm", "--llm-base-url", srv.URL, "--llm-model", "replay", "--llm-max-steps", "3"}, convoy, none)
	if n := len(trConvoy.Turns) + len(trNone.Turns); srv.Served() != n {
		t.Errorf("the investigator made %d model calls, the transcripts have %d turns", srv.Served(), n)
	}

	c := resultOf(t, doc, "convoy")
	if c.Status != "accepted" || c.Score == nil || c.Score.ServiceRank != 1 || !c.Score.AcceptedCorrect || c.Score.FalseRootCause {
		t.Errorf("convoy: status %s, score %+v, answer %+v\n%s", c.Status, c.Score, c.Answer, stderr)
	}
	if c.Answer == nil || c.Answer.Pattern != "lock_convoy" || c.Attempts != 1 {
		t.Errorf("convoy: answer %+v after %d attempt(s)", c.Answer, c.Attempts)
	}
	if c.Cited != 2 || c.Resolved != c.Cited {
		t.Errorf("convoy: %d of %d citations resolve, want 2 of 2", c.Resolved, c.Cited)
	}
	n := resultOf(t, doc, "none")
	if n.Status == "accepted" || n.StopReason != "budget: steps" || n.Score == nil || n.Score.FalseRootCause || n.Score.Accepted {
		t.Errorf("control: status %s (%s), score %+v", n.Status, n.StopReason, n.Score)
	}
	if !regexp.MustCompile(`hypothesis 1 rejected \[[^\]]*insufficient_independent_lines`).MatchString(stderr) {
		t.Errorf("the control's hypothesis was not rejected for want of a second line:\n%s", stderr)
	}

	for _, tc := range []struct {
		r  eval.Result
		tr llmreplay.Transcript
	}{{c, trConvoy}, {n, trNone}} {
		if want := tc.tr.Tokens(); want == 0 || tc.r.Tokens != want {
			t.Errorf("%s: %d tokens, want the transcript's %d", tc.r.Name, tc.r.Tokens, want)
		}
		if tc.r.InvestigateMS <= 0 || tc.r.TotalMS < tc.r.InvestigateMS {
			t.Errorf("%s: investigate %d ms of %d ms", tc.r.Name, tc.r.InvestigateMS, tc.r.TotalMS)
		}
		if !strings.Contains(stderr, tokensNote(tc.r.Tokens)) {
			t.Errorf("%s: stderr does not report %d tokens:\n%s", tc.r.Name, tc.r.Tokens, stderr)
		}
	}
	s := doc.Summary
	tokens := trConvoy.Tokens() + trNone.Tokens()
	if s.Tokens != tokens || s.Accepted != 1 || s.AcceptedCorrect != 1 || s.FalseRootCauses != 0 || s.Controls != 1 || s.CitationsOK != 1 || s.Service.At1 != 1 {
		t.Errorf("summary %+v, want %d tokens", s, tokens)
	}
	var table bytes.Buffer
	if err := writeEval(doc, false, "", &cmdEnv{stdout: &table}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "Investigator: llm:replay") || !strings.Contains(table.String(), tokensNote(tokens)+".") {
		t.Errorf("table lacks the investigator or the tokens:\n%s", table.String())
	}
}

// TestEvalLLMEndpointError: an endpoint that refuses the call fails eval
// with an error naming the bundle, the endpoint, the model and the status.
func TestEvalLLMEndpointError(t *testing.T) {
	llmEnv(t)
	srv := llmreplay.Start(t, llmreplay.Transcript{Turns: []llmreplay.Turn{{Status: 401}}})
	_, stderr, err := runCLI(t, "eval", "--llm", "--llm-base-url", srv.URL, "--llm-model", "replay", incidentDir("none"))
	var msg strings.Builder
	if code := exitCode(err, &msg); code != 1 {
		t.Fatalf("exit %d (%v), want 1\n%s", code, err, stderr)
	}
	for _, want := range []string{"none", srv.URL, "model replay", "401"} {
		if !strings.Contains(msg.String(), want) {
			t.Errorf("error %q lacks %q", msg.String(), want)
		}
	}
}

// TestEvalLLMBadFlags: a bad --llm configuration is a usage error (exit 2)
// found before any bundle is imported.
func TestEvalLLMBadFlags(t *testing.T) {
	llmEnv(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--llm-model", "m"}, "no base URL"},
		{[]string{"--llm-base-url", "127.0.0.1:11434/v1", "--llm-model", "m"}, "want http(s)://host[:port]/v1"},
		{[]string{"--llm-base-url", "ftp://127.0.0.1/v1", "--llm-model", "m"}, "want http(s)://host[:port]/v1"},
		{[]string{"--llm-base-url", "http://127.0.0.1:11434/v1"}, "no model"},
		{[]string{"--llm-base-url", "http://127.0.0.1:11434/v1", "--llm-model", "m", "--llm-max-steps", "0"}, "budgets must be positive"},
	} {
		args := append(append([]string{"eval", "--llm"}, tc.args...), incidentDir("none"))
		stdout, stderr, err := runCLI(t, args...)
		var msg strings.Builder
		if code := exitCode(err, &msg); code != 2 || !strings.Contains(msg.String(), tc.want) {
			t.Errorf("%q: exit %d %q, want 2 and %q\n%s", tc.args, code, msg.String(), tc.want, stderr)
		}
		if stdout != "" || strings.Contains(stderr, "eval: none:") {
			t.Errorf("%q: output before the usage error: %q %q", tc.args, stdout, stderr)
		}
	}
}
