package llmreplay

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

const transcript = `{"turns": [
 {"expect": {"tools": ["list_findings"], "contains": ["{{.id}}"], "last_role": "user"},
  "response": {"id": "r1", "object": "chat.completion", "model": "replay",
   "choices": [{"index": 0, "message": {"role": "assistant", "content": "{{.id}}"}, "finish_reason": "stop"}],
   "usage": {"prompt_tokens": 90, "completion_tokens": 10, "total_tokens": 100}}},
 {"expect": {"stream": true},
  "chunks": [
   {"id": "r2", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "ok"}}]},
   {"id": "r2", "object": "chat.completion.chunk", "choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": 3, "total_tokens": 23}}]},
 {"status": 401}
]}`

func load(t *testing.T) Transcript {
	t.Helper()
	path := filepath.Join(t.TempDir(), "t.json")
	if err := os.WriteFile(path, []byte(transcript), 0o644); err != nil {
		t.Fatal(err)
	}
	return Load(t, path, map[string]string{"id": "finding:abc"})
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url+"/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

const (
	first  = `{"temperature":1e-6,"seed":7,"tools":[{"function":{"name":"list_findings"}}],"messages":[{"role":"user","content":"finding:abc"}]}`
	second = `{"temperature":1e-6,"seed":7,"stream":true}`
)

// TestReplay serves a templated transcript: a completion, a stream and an
// error status, in order, and sums the usage it reports.
func TestReplay(t *testing.T) {
	tr := load(t)
	if got := tr.Tokens(); got != 123 {
		t.Errorf("Tokens() = %d, want 123", got)
	}
	s := Start(t, tr)
	if code, body := post(t, s.URL, first); code != 200 || !strings.Contains(body, `"content": "finding:abc"`) {
		t.Errorf("turn 1: %d %s", code, body)
	}
	if code, body := post(t, s.URL, second); code != 200 || !strings.HasSuffix(body, "data: [DONE]\n\n") || strings.Count(body, "data: ") != 3 {
		t.Errorf("turn 2: %d %q", code, body)
	}
	if code, body := post(t, s.URL, first); code != 401 || !strings.Contains(body, "replayed status 401") {
		t.Errorf("turn 3: %d %s", code, body)
	}
	if s.Served() != 3 {
		t.Errorf("served %d", s.Served())
	}
}

// recorder collects what the server reports instead of failing the test.
type recorder struct {
	testing.TB
	mu       sync.Mutex
	errs     []string
	cleanups []func()
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }

// TestReplayReports: unmet expectations, requests beyond the transcript
// and unused turns are reported.
func TestReplayReports(t *testing.T) {
	tr := load(t)
	rec := &recorder{TB: t}
	s := Start(rec, Transcript{Turns: tr.Turns[:1]})
	post(t, s.URL, `{"stream":true,"messages":[{"role":"tool"}]}`)
	if code, _ := post(t, s.URL, first); code != http.StatusGone {
		t.Errorf("request beyond the transcript: %d", code)
	}
	for _, f := range slices.Backward(rec.cleanups) {
		f()
	}
	want := []string{
		"request 1: stream true, want false",
		"request 1: temperature 0 seed <nil>: want a tiny positive temperature and a seed",
		"request 1: tool list_findings not offered",
		`request 1 does not contain "finding:abc"`,
		"request 1: last message role is not user",
		"request 2 beyond the transcript's 1 turns",
		"transcript has 1 turns, the client made 2 requests",
	}
	if !slices.Equal(rec.errs, want) {
		t.Errorf("reported\n%s\nwant\n%s", strings.Join(rec.errs, "\n"), strings.Join(want, "\n"))
	}
}
