package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestProgressBar(t *testing.T) {
	var out bytes.Buffer
	bar := newProgress(&out, "always", 1000)
	if _, err := io.Copy(io.Discard, bar.reader(strings.NewReader(strings.Repeat("x", 1000)))); err != nil {
		t.Fatal(err)
	}
	bar.done()
	if s := out.String(); !strings.Contains(s, "100%") || !strings.Contains(s, "[=====") || !strings.HasSuffix(s, "\r\033[K") {
		t.Fatalf("progress output %q", s)
	}
	out.Reset()
	quiet := newProgress(&out, "auto", 1000) // a buffer is no terminal
	if _, err := io.Copy(io.Discard, quiet.reader(strings.NewReader("abc"))); err != nil {
		t.Fatal(err)
	}
	quiet.done()
	if out.Len() != 0 {
		t.Fatalf("progress drawn on a non-terminal: %q", out.String())
	}
}
