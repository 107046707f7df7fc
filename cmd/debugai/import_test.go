package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/evidence/duckdb"
)

func openStats(t *testing.T, path string) evidence.Stats {
	t.Helper()
	st, err := duckdb.Open(context.Background(), path, duckdb.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	defer st.Close()
	s, err := st.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestImportSharedRecordingsExactCounts(t *testing.T) {
	t.Setenv("DEBUGAI_HMAC_KEY", testKey)
	cases := []struct {
		file          string
		traces, spans int64
		wantInSummary []string
	}{
		{"hotrod/incident_mutex_default/traces.otlp.jsonl.gz", 62, 2449, []string{"traces:        62", "spans:         2449", "customer", "mysql"}},
		{"nezha/tt_baseline_2023-01-30_11_39.otlp.jsonl.gz", 62, 4595, []string{"spans:         4595"}},
	}
	for _, c := range cases {
		t.Run(filepath.Base(filepath.Dir(c.file))+"/"+filepath.Base(c.file), func(t *testing.T) {
			in := sharedTestdata(t, c.file)
			store := filepath.Join(t.TempDir(), "ev.duckdb")
			out, errOut, err := runCLI(t, "import", "--store", store, in)
			if err != nil {
				t.Fatalf("import: %v\n%s", err, errOut)
			}
			for _, w := range c.wantInSummary {
				if !strings.Contains(out, w) {
					t.Errorf("summary lacks %q:\n%s", w, out)
				}
			}
			s := openStats(t, store)
			if s.Spans != c.spans || s.Traces != c.traces {
				t.Fatalf("store holds %d traces / %d spans, want %d / %d", s.Traces, s.Spans, c.traces, c.spans)
			}
			// Importing the same file again must not duplicate anything.
			if _, errOut, err := runCLI(t, "import", "--store", store, in); err != nil {
				t.Fatalf("re-import: %v\n%s", err, errOut)
			}
			if s2 := openStats(t, store); s2.Spans != c.spans || s2.SpanEvents != s.SpanEvents {
				t.Fatalf("re-import changed counts: %+v -> %+v", s, s2)
			}
		})
	}
}

func TestImportBadInputWritesNothing(t *testing.T) {
	t.Setenv("DEBUGAI_HMAC_KEY", testKey)
	in := sharedTestdata(t, "hotrod/incident_mutex_default/traces.otlp.jsonl.gz")
	raw := gunzipFile(t, in)
	lines := bytes.SplitN(raw, []byte("\n"), 4)
	bad := bytes.Join([][]byte{lines[0], lines[1], []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"`), lines[3]}, []byte("\n"))
	dir := t.TempDir()
	badFile := filepath.Join(dir, "bad.otlp.jsonl")
	if err := os.WriteFile(badFile, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(dir, "ev.duckdb")
	// A good file first, then the bad one: the good one must not be imported either.
	_, _, err := runCLI(t, "import", "--store", store, in, badFile)
	if err == nil || !strings.Contains(err.Error(), "bad.otlp.jsonl:3") || !strings.Contains(err.Error(), "nothing was imported") {
		t.Fatalf("want an error naming bad.otlp.jsonl:3, got %v", err)
	}
	if _, err := os.Stat(store); err == nil {
		t.Fatalf("store %s was created although the input was bad", store)
	}
	_, _, err = runCLI(t, "import", "--store", store, filepath.Join(dir, "missing.jsonl"))
	if err == nil || !strings.Contains(err.Error(), "missing.jsonl") {
		t.Fatalf("missing file: %v", err)
	}
}

func gunzipFile(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestImportDeepValueRefused imports an OTLP/JSON line whose attribute
// value is a kvlist nested a million levels deep (about 135 KB gzipped):
// import used to die of a stack overflow; it now refuses the line by
// number, names the nesting and writes nothing.
func TestImportDeepValueRefused(t *testing.T) {
	t.Setenv("DEBUGAI_HMAC_KEY", testKey)
	var b bytes.Buffer
	b.WriteString(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708",` +
		`"name":"GET /deep","startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000001000000000",` +
		`"attributes":[{"key":"unknown.deep.key","value":`)
	const levels = 1_000_000
	for range levels {
		b.WriteString(`{"kvlistValue":{"values":[{"key":"k","value":`)
	}
	b.WriteString(`{"stringValue":"leaf"}`)
	for range levels {
		b.WriteString(`}]}}`)
	}
	b.WriteString("}]}]}]}]}\n")
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	if _, err := zw.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "deep.otlp.jsonl.gz")
	if err := os.WriteFile(in, zb.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(dir, "ev.duckdb")
	_, stderr, err := runCLI(t, "import", "--store", store, in)
	if err == nil || !strings.Contains(err.Error(), "deep.otlp.jsonl.gz:1") || !strings.Contains(err.Error(), "nested too deeply") {
		t.Fatalf("want an error naming line 1 and the nesting, got %v (stderr %q)", err, stderr)
	}
	if _, err := os.Stat(store); err == nil {
		t.Fatalf("store %s was created although the input was refused", store)
	}
}

// TestImportErrorsDoNotEchoPayloads imports lines that fail to decode
// beside a sender's values: the error names the file, line and field path,
// and neither it nor stderr quotes the values.
func TestImportErrorsDoNotEchoPayloads(t *testing.T) {
	t.Setenv("DEBUGAI_HMAC_KEY", testKey)
	const span = `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708",`
	for _, line := range []string{
		span + `"attributes":[{"key":"card","value":{"intValue":"4111 1111 1111 1111"}}]}]}]}]}`,
		span + `"name":"alice.canary@example.org 4111 1111 1111 1111" x}]}]}]}`,
		span + `"startTimeUnixNano":"alice.canary@example.org"}]}]}]}`,
	} {
		dir := t.TempDir()
		in := filepath.Join(dir, "bad.otlp.jsonl")
		if err := os.WriteFile(in, []byte(line+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		stdout, stderr, err := runCLI(t, "import", "--store", filepath.Join(dir, "ev.duckdb"), in)
		if err == nil || !strings.Contains(err.Error(), "bad.otlp.jsonl:1: ") || !strings.Contains(err.Error(), "at resourceSpans[0].scopeSpans[0].spans[0]") {
			t.Fatalf("want an error naming the line and the path, got %v", err)
		}
		for _, out := range []string{err.Error(), stderr, stdout} {
			for _, c := range []string{"4111", "alice.canary", "example.org"} {
				if strings.Contains(out, c) {
					t.Errorf("output quotes %q: %s", c, out)
				}
			}
		}
	}
}
