package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeRetentionFlags: bad values are refused before the store opens,
// with an error that names the flag and never repeats the value.
func TestServeRetentionFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--retain", "soon-ish"}, "--retain: want a duration"},
		{[]string{"--retain", "-3h"}, "--retain: want a duration"},
		{[]string{"--retain", "20s"}, "--retain: must be at least 1m"},
		{[]string{"--max-store-bytes", "lots-of-bytes"}, "--max-store-bytes: want a byte count"},
		{[]string{"--max-store-bytes", "-5Gi"}, "--max-store-bytes: want a byte count"},
		{[]string{"--max-store-bytes", "99999999999Ti"}, "--max-store-bytes: want a byte count"},
		{[]string{"--max-store-bytes", "1Mi"}, "--max-store-bytes: must be at least 16Mi"},
	} {
		store := filepath.Join(t.TempDir(), "e.duckdb")
		args := append([]string{"serve", "--store", store, "--listen", "", "--grpc-listen", ""}, tc.args...)
		_, _, err := runCLI(t, args...)
		if err == nil || exitCode(err, &bytes.Buffer{}) != 2 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want a usage error containing %q", tc.args, err, tc.want)
			continue
		}
		if v := tc.args[1]; strings.Contains(err.Error(), v) {
			t.Errorf("%v: the error repeats the value: %v", tc.args, err)
		}
	}
}

func TestParseRetentionValues(t *testing.T) {
	for in, want := range map[string]time.Duration{"72h": 72 * time.Hour, "7d": 7 * 24 * time.Hour, "0": 0, "1.5d": 36 * time.Hour, "90m": 90 * time.Minute} {
		if got, err := parseAge(in); err != nil || got != want {
			t.Errorf("parseAge(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for in, want := range map[string]int64{"0": 0, "1048576": 1 << 20, "20Gi": 20 << 30, "20GiB": 20 << 30, "500MB": 500e6,
		"1.5G": 1.5e9, "64 mi": 64 << 20, "2k": 2000, "3b": 3} {
		if got, err := parseByteSize(in); err != nil || got != want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "Gi", "1e400", "NaN", "-1", "1.2.3M", "12 apples"} {
		if _, err := parseByteSize(in); err == nil {
			t.Errorf("parseByteSize(%q) accepted", in)
		}
	}
}
