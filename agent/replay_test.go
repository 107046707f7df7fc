package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/template"
)

// transcript is a recorded conversation with an OpenAI-compatible server:
// for each request the server receives, what the request must contain and
// what the server answered.
type transcript struct {
	Turns []turn `json:"turns"`
}

type turn struct {
	// Expect holds assertions on the request.
	Expect struct {
		Stream   bool     `json:"stream"`
		Tools    []string `json:"tools"`    // tool names offered
		Contains []string `json:"contains"` // substrings of the request body
		LastRole string   `json:"last_role"`
	} `json:"expect"`
	// Status other than 200 answers with an error body.
	Status int `json:"status"`
	// Response is a chat.completion object (non-streamed requests).
	Response json.RawMessage `json:"response"`
	// Chunks are chat.completion.chunk objects sent as server-sent events.
	Chunks []json.RawMessage `json:"chunks"`
}

// replay serves a transcript turn by turn and records failed assertions.
type replay struct {
	t     *testing.T
	mu    sync.Mutex
	turns []turn
	next  int
}

// loadTranscript renders testdata/transcripts/name.json with ids (evidence
// IDs of the fixture store) and parses it.
func loadTranscript(t *testing.T, name string, ids map[string]string) transcript {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "transcripts", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := template.New(name).Option("missingkey=error").Parse(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, ids); err != nil {
		t.Fatal(err)
	}
	var tr transcript
	if err := json.Unmarshal(buf.Bytes(), &tr); err != nil {
		t.Fatalf("transcript %s: %v", name, err)
	}
	return tr
}

func startReplay(t *testing.T, tr transcript) (*replay, string) {
	r := &replay{t: t, turns: tr.Turns}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		if r.next != len(r.turns) {
			t.Errorf("transcript has %d turns, the agent made %d requests", len(r.turns), r.next)
		}
	})
	return r, srv.URL + "/v1"
}

func (r *replay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	body, _ := io.ReadAll(req.Body)
	if req.URL.Path != "/v1/chat/completions" {
		r.t.Errorf("request to %s", req.URL.Path)
		http.NotFound(w, req)
		return
	}
	if r.next >= len(r.turns) {
		r.t.Errorf("request %d beyond the transcript's %d turns", r.next+1, len(r.turns))
		http.Error(w, `{"error":{"message":"transcript over"}}`, http.StatusGone)
		return
	}
	tn := r.turns[r.next]
	r.next++
	r.check(r.next, tn, body)
	switch {
	case tn.Status != 0 && tn.Status != http.StatusOK:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(tn.Status)
		fmt.Fprintf(w, `{"error":{"message":"replayed status %d","type":"server_error"}}`, tn.Status)
	case len(tn.Chunks) > 0:
		w.Header().Set("Content-Type", "text/event-stream")
		for _, c := range tn.Chunks {
			fmt.Fprintf(w, "data: %s\n\n", compact(c))
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	default:
		w.Header().Set("Content-Type", "application/json")
		w.Write(tn.Response)
	}
}

func compact(b json.RawMessage) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return b
	}
	return buf.Bytes()
}

// check asserts what request n must contain.
func (r *replay) check(n int, tn turn, body []byte) {
	var req struct {
		Stream      bool    `json:"stream"`
		Temperature float64 `json:"temperature"`
		Seed        *int    `json:"seed"`
		Messages    []struct {
			Role string `json:"role"`
		} `json:"messages"`
		Tools []struct {
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		r.t.Errorf("request %d: %v", n, err)
		return
	}
	if req.Stream != tn.Expect.Stream {
		r.t.Errorf("request %d: stream %v, want %v", n, req.Stream, tn.Expect.Stream)
	}
	if req.Temperature <= 0 || req.Seed == nil {
		r.t.Errorf("request %d: temperature %v seed %v: want a tiny positive temperature and a seed", n, req.Temperature, req.Seed)
	}
	offered := map[string]bool{}
	for _, tl := range req.Tools {
		offered[tl.Function.Name] = true
	}
	for _, name := range tn.Expect.Tools {
		if !offered[name] {
			r.t.Errorf("request %d: tool %s not offered", n, name)
		}
	}
	for _, s := range tn.Expect.Contains {
		if !strings.Contains(string(body), s) {
			r.t.Errorf("request %d does not contain %q", n, s)
		}
	}
	if want := tn.Expect.LastRole; want != "" {
		if len(req.Messages) == 0 || req.Messages[len(req.Messages)-1].Role != want {
			r.t.Errorf("request %d: last message role is not %s", n, want)
		}
	}
}
