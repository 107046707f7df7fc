package mutexsvc

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{"default", func(*Config) {}, ""},
		{"no work at all", func(c *Config) { c.Work, c.Critical = 0, 0 }, ""},
		{"sync dir", func(c *Config) { c.SyncDir = t.TempDir() }, ""},
		{"negative work", func(c *Config) { c.Work = -time.Microsecond }, "must not be negative"},
		{"negative critical", func(c *Config) { c.Critical = -1 }, "must not be negative"},
		{"too long", func(c *Config) { c.Critical = 2 * time.Second }, "at most 1s"},
		{"negative calibration", func(c *Config) { c.ItersPerMicrosecond = -1 }, "iterations per microsecond"},
		{"missing sync dir", func(c *Config) { c.SyncDir = filepath.Join(file, "x") }, "sync directory"},
		{"sync dir is a file", func(c *Config) { c.SyncDir = file }, "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.edit(&c)
			err := c.Validate()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
			if _, nerr := New(c); (nerr == nil) != (err == nil) {
				t.Fatalf("New() = %v, Validate() = %v", nerr, err)
			}
		})
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
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

func TestServe(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ItersPerMicrosecond = 100
	cfg.SyncDir = t.TempDir()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	tests := []struct {
		path     string
		wantCode int
		wantBody string
	}{
		{"/healthz", 200, "ok\n"},
		{"/", 200, "ok 1"},
		{"/anything", 200, "ok 2"},
	}
	for _, tt := range tests {
		if code, body := get(t, srv.URL+tt.path); code != tt.wantCode || body != tt.wantBody {
			t.Errorf("GET %s = %d %q, want %d %q", tt.path, code, body, tt.wantCode, tt.wantBody)
		}
	}
	if st := s.Stats(); st.Requests != 2 || st.SyncFailures != 0 {
		t.Errorf("stats = %+v, want 2 requests", st)
	}
	if s.Config().ItersPerMicrosecond != 100 {
		t.Errorf("calibration %v, want the configured 100", s.Config().ItersPerMicrosecond)
	}
	if _, err := os.Stat(filepath.Join(cfg.SyncDir, "mutexsvc-1")); err != nil {
		t.Errorf("no synced file: %v", err)
	}
	// A vanished sync directory turns requests into 500s, counted.
	if err := os.RemoveAll(cfg.SyncDir); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, srv.URL+"/"); code != http.StatusInternalServerError {
		t.Errorf("GET / without the sync directory = %d, want 500", code)
	}
	if st := s.Stats(); st.SyncFailures != 1 {
		t.Errorf("sync failures = %d, want 1", st.SyncFailures)
	}
}

// The critical sections of concurrent requests run one at a time, so n
// concurrent requests take at least n critical sections of wall time.
func TestCriticalSectionSerializes(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Work, cfg.Critical = 0, 4*time.Millisecond
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.Config().ItersPerMicrosecond <= 0 {
		t.Fatalf("calibration %v, want positive", s.Config().ItersPerMicrosecond)
	}
	const n = 8
	var wg sync.WaitGroup
	t0 := time.Now()
	for range n {
		wg.Go(func() {
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			if rec.Code != 200 {
				t.Errorf("status %d", rec.Code)
			}
		})
	}
	wg.Wait()
	// Calibration takes the fastest trial, so the loop never runs faster
	// than configured; allow a quarter for timer and calibration slack.
	if got, want := time.Since(t0), n*cfg.Critical*3/4; got < want {
		t.Errorf("%d requests took %v, want at least %v: critical sections overlapped", n, got, want)
	}
}

func TestNewIDsNonZero(t *testing.T) {
	seen := map[[16]byte]bool{}
	for range 100 {
		tr, sp := newIDs()
		if tr == [16]byte{} || sp == [8]byte{} || seen[tr] {
			t.Fatalf("ids %x %x: zero or repeated", tr, sp)
		}
		seen[tr] = true
	}
}
