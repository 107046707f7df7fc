// Package llmreplay replays hand-written conversations with an
// OpenAI-compatible chat-completions server, so that tests drive the LLM
// investigator without a model. A transcript (JSON, rendered with
// text/template so that it can cite the evidence IDs of a test's store)
// lists, for each request the server will receive, what the request must
// contain and what the server answers: a chat.completion object, a stream
// of chat.completion.chunk events, or an error status. Start serves it on
// loopback turn by turn and reports failed expectations, requests beyond
// the transcript and unused turns through testing.TB.
package llmreplay

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

// CompletionsPath is the only path the server answers.
const CompletionsPath = "/v1/chat/completions"

// Transcript is a conversation with an OpenAI-compatible server.
type Transcript struct {
	Turns []Turn `json:"turns"`
}

// Turn is one request and its answer.
type Turn struct {
	// Expect holds assertions on the request.
	Expect Expect `json:"expect"`
	// Status other than 0 or 200 answers with an OpenAI-style error body.
	Status int `json:"status"`
	// Response is a chat.completion object (non-streamed requests).
	Response json.RawMessage `json:"response"`
	// Chunks are chat.completion.chunk objects sent as server-sent events.
	Chunks []json.RawMessage `json:"chunks"`
}

// Expect is what a request must hold.
type Expect struct {
	Stream   bool     `json:"stream"`
	Tools    []string `json:"tools"`     // tool names offered
	Contains []string `json:"contains"`  // substrings of the request body
	LastRole string   `json:"last_role"` // role of the last message
}

// Load renders the transcript at path with ids (text/template data; a
// missing key fails) and parses it. Failures end the test.
func Load(tb testing.TB, path string, ids map[string]string) Transcript {
	tb.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl, err := template.New(filepath.Base(path)).Option("missingkey=error").Parse(string(raw))
	if err != nil {
		tb.Fatalf("transcript %s: %v", path, err)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, ids); err != nil {
		tb.Fatalf("transcript %s: %v", path, err)
	}
	var tr Transcript
	if err := json.Unmarshal(buf.Bytes(), &tr); err != nil {
		tb.Fatalf("transcript %s: %v", path, err)
	}
	return tr
}

// Tokens sums the usage.total_tokens the transcript's answers report: what
// a client that counts usage must arrive at after consuming every turn.
func (tr Transcript) Tokens() int {
	var usage struct {
		Usage *struct {
			TotalTokens int `json:"total_tokens"`
		} `json:"usage"`
	}
	n := 0
	add := func(b json.RawMessage) {
		usage.Usage = nil
		if json.Unmarshal(b, &usage) == nil && usage.Usage != nil {
			n += usage.Usage.TotalTokens
		}
	}
	for _, tn := range tr.Turns {
		if len(tn.Response) > 0 {
			add(tn.Response)
		}
		for _, c := range tn.Chunks {
			add(c)
		}
	}
	return n
}

// Server serves a transcript.
type Server struct {
	// URL is the base URL a client is configured with ("http://127.0.0.1:port/v1").
	URL string

	tb    testing.TB
	mu    sync.Mutex
	turns []Turn
	next  int
}

// Start serves tr on a loopback port until the test ends, then reports the
// turns the client left unused.
func Start(tb testing.TB, tr Transcript) *Server {
	tb.Helper()
	s := &Server{tb: tb, turns: tr.Turns}
	srv := httptest.NewServer(s)
	s.URL = srv.URL + "/v1"
	tb.Cleanup(srv.Close)
	tb.Cleanup(func() {
		if n := s.Served(); n != len(s.turns) {
			tb.Errorf("transcript has %d turns, the client made %d requests", len(s.turns), n)
		}
	})
	return s
}

// Served counts the requests answered so far (those beyond the transcript
// included).
func (s *Server) Served() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next
}

// ServeHTTP answers the next turn.
func (s *Server) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	body, err := io.ReadAll(req.Body)
	if err != nil {
		s.tb.Errorf("reading request %d: %v", s.next+1, err)
	}
	if req.URL.Path != CompletionsPath {
		s.tb.Errorf("request to %s, want %s", req.URL.Path, CompletionsPath)
		http.NotFound(w, req)
		return
	}
	if s.next >= len(s.turns) {
		s.next++
		s.tb.Errorf("request %d beyond the transcript's %d turns", s.next, len(s.turns))
		http.Error(w, `{"error":{"message":"transcript over"}}`, http.StatusGone)
		return
	}
	tn := s.turns[s.next]
	s.next++
	s.check(s.next, tn.Expect, body)
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

// check asserts what request n must hold. Besides the turn's
// expectations, every request must ask for a tiny positive temperature and
// a seed (debugai's reproducibility settings).
func (s *Server) check(n int, want Expect, body []byte) {
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
		s.tb.Errorf("request %d: %v", n, err)
		return
	}
	if req.Stream != want.Stream {
		s.tb.Errorf("request %d: stream %v, want %v", n, req.Stream, want.Stream)
	}
	if req.Temperature <= 0 || req.Seed == nil {
		s.tb.Errorf("request %d: temperature %v seed %v: want a tiny positive temperature and a seed", n, req.Temperature, req.Seed)
	}
	offered := map[string]bool{}
	for _, tl := range req.Tools {
		offered[tl.Function.Name] = true
	}
	for _, name := range want.Tools {
		if !offered[name] {
			s.tb.Errorf("request %d: tool %s not offered", n, name)
		}
	}
	for _, sub := range want.Contains {
		if !strings.Contains(string(body), sub) {
			s.tb.Errorf("request %d does not contain %q", n, sub)
		}
	}
	if want.LastRole != "" {
		if len(req.Messages) == 0 || req.Messages[len(req.Messages)-1].Role != want.LastRole {
			s.tb.Errorf("request %d: last message role is not %s", n, want.LastRole)
		}
	}
}
