package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func TestWorkloadBankFlags(t *testing.T) {
	front := []string{"bank", "--role", "frontend", "--ledger", "http://127.0.0.1:1"}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"grpc listen without port", []string{"bank", "--grpc-listen", "nope"}, 2, `--grpc-listen "nope": want host:port`},
		{"grpc listen bad port", []string{"bank", "--grpc-listen", "127.0.0.1:http"}, 2, `--grpc-listen "127.0.0.1:http"`},
		{"grpc listen port too big", []string{"bank", "--grpc-listen", "127.0.0.1:70000"}, 2, `--grpc-listen "127.0.0.1:70000"`},
		{"grpc listen on the frontend", append(front, "--grpc-listen", "127.0.0.1:0"), 2, "only the ledger serves gRPC"},
		{"ledger grpc without port", append(front, "--ledger-grpc", "nope"), 2, `ledger gRPC address "nope": want host:port`},
		{"ledger grpc port 0", append(front, "--ledger-grpc", "127.0.0.1:0"), 2, `ledger gRPC address "127.0.0.1:0"`},
		{"ledger grpc without host", append(front, "--ledger-grpc", ":9090"), 2, `ledger gRPC address ":9090"`},
		{"ledger grpc on the ledger", []string{"bank", "--ledger-grpc", "127.0.0.1:9090"}, 2, "only the frontend calls the ledger"},
		{"grpc listen unusable address", []string{"bank", "--listen", "127.0.0.1:0", "--grpc-listen", "256.0.0.1:0",
			"--data-dir", t.TempDir(), "--fault-file-bytes", "1048576"}, 1, "workload gRPC listener"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCLI(t, append([]string{"workload"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || exitCode(err, &bytes.Buffer{}) != tt.wantCode {
				t.Fatalf("err %v, want exit %d with %q", err, tt.wantCode, tt.wantErr)
			}
		})
	}
}

// TestWorkloadMediaFlags: bad media flags are usage errors that name the
// flag or field, never the value given.
func TestWorkloadMediaFlags(t *testing.T) {
	for _, tt := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown role", []string{"--role", "frontend-secret"}, "role: want one of"},
		{"callee without port", []string{"--role", "recs", "--grpc-listen", "127.0.0.1:0", "--index", "secret-host"}, "index address: want host:port"},
		{"edge without callees", []string{"--role", "edge"}, "address: want host:port"},
		{"store without grpc listen", []string{"--role", "store"}, "--grpc-listen: every role but the edge needs it"},
		{"unknown bug", []string{"--role", "store", "--grpc-listen", "127.0.0.1:0", "--bug", "secret-bug"}, "bug: want one of"},
		{"quota without cgroups", []string{"--role", "recs", "--grpc-listen", "127.0.0.1:0", "--index", "127.0.0.1:1", "--bug", "recsquota"}, "cpu cgroups"},
		{"arguments", []string{"--role", "store", "extra-secret"}, "takes no arguments"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCLI(t, append([]string{"workload", "media"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "secret") || exitCode(err, &bytes.Buffer{}) != 2 {
				t.Fatalf("err %v, want exit 2 with %q and no value", err, tt.wantErr)
			}
		})
	}
}

// TestWorkloadRideFlags: bad ride flags are usage errors that name the
// flag or field, never the value given.
func TestWorkloadRideFlags(t *testing.T) {
	for _, tt := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown role", []string{"--role", "frontend-secret"}, "role: want one of"},
		{"callee without port", []string{"--role", "notifier", "--tripdb", "secret-host"}, "tripdb address: want host:port"},
		{"geo replica without port", []string{"--role", "matcher", "--grpc-listen", "127.0.0.1:0", "--tripdb", "127.0.0.1:1",
			"--notifier", "http://127.0.0.1:1", "--geo", "127.0.0.1:1,secret-host"}, "geo addresses: want host:port"},
		{"api without callees", []string{"--role", "api"}, "address"},
		{"geo without grpc listen", []string{"--role", "geo"}, "--grpc-listen: pricing, matcher, geo and tripdb need it"},
		{"grpc listen on the api", []string{"--role", "api", "--dispatch", "http://127.0.0.1:1", "--geo", "127.0.0.1:1",
			"--grpc-listen", "127.0.0.1:0"}, "--grpc-listen"},
		{"unknown bug", []string{"--role", "geo", "--grpc-listen", "127.0.0.1:0", "--bug", "secret-bug"}, "bug: want one of"},
		{"negative replica", []string{"--role", "geo", "--grpc-listen", "127.0.0.1:0", "--replica", "-1"}, "replica"},
		{"arguments", []string{"--role", "geo", "extra-secret"}, "takes no arguments"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCLI(t, append([]string{"workload", "ride"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "secret") || exitCode(err, &bytes.Buffer{}) != 2 {
				t.Fatalf("err %v, want exit 2 with %q and no value", err, tt.wantErr)
			}
		})
	}
}

func TestWorkloadReadyLine(t *testing.T) {
	tests := []struct {
		line, url, grpc, wantErr string
	}{
		{readyLine("127.0.0.1:8080", ""), "http://127.0.0.1:8080", "", ""},
		{readyLine("127.0.0.1:8080", "127.0.0.1:9090"), "http://127.0.0.1:8080", "127.0.0.1:9090", ""},
		{"listening on http://[::1]:80 grpc [::1]:81", "http://[::1]:80", "[::1]:81", ""},
		{"listening on 127.0.0.1:8080", "", "", "unexpected first line"},
		{"listening on http://127.0.0.1:8080 grpc", "", "", "unexpected first line"},
		{"listening on http://127.0.0.1:8080 h2 127.0.0.1:1", "", "", "unexpected first line"},
		{"ready", "", "", "unexpected first line"},
	}
	for _, tt := range tests {
		url, grpc, err := parseReadyLine(tt.line)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseReadyLine(%q): %v, want %q", tt.line, err, tt.wantErr)
			}
			continue
		}
		if err != nil || url != tt.url || grpc != tt.grpc {
			t.Errorf("parseReadyLine(%q) = %q, %q, %v; want %q, %q", tt.line, url, grpc, err, tt.url, tt.grpc)
		}
	}
}

// TestWorkloadBankGRPC serves the ledger with --grpc-listen and the
// frontend with --ledger-grpc as separate processes, as debugai record
// does: the ledger's ready line carries both addresses, transfers go
// through Authorize (a refused one answers 403), and both exit 0 on
// SIGTERM.
func TestWorkloadBankGRPC(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	start := func(role string, args ...string) (*child, string, string) {
		t.Helper()
		var errb bytes.Buffer
		args = append([]string{"workload", "bank", "--role", role, "--listen", "127.0.0.1:0", "--data-dir", dir,
			"--fault-file-bytes", "1048576", "--snapshot-bytes", "4096", "--sync-chunk-bytes", "4096"}, args...)
		c, line, err := startChild(t.Context(), &errb, []string{"DEBUGAI_TEST_MAIN=1"}, 30*time.Second, exe, args...)
		if err != nil {
			t.Fatalf("%s: %v (stderr %q)", role, err, errb.String())
		}
		t.Cleanup(func() {
			if err := c.stop(role); err != nil {
				t.Errorf("%v (stderr %q)", err, errb.String())
			}
		})
		url, grpcAddr, err := parseReadyLine(line)
		if err != nil {
			t.Fatalf("%s: %v", role, err)
		}
		return c, url, grpcAddr
	}
	_, ledgerURL, grpcAddr := start("ledger", "--grpc-listen", "127.0.0.1:0")
	if grpcAddr == "" {
		t.Fatal("the ledger's ready line has no gRPC address")
	}
	_, frontURL, none := start("frontend", "--ledger", ledgerURL, "--ledger-grpc", grpcAddr)
	if none != "" {
		t.Errorf("the frontend's ready line names a gRPC address %q", none)
	}
	for _, tc := range []struct {
		query string
		code  int
		body  string
	}{
		{"from=1&to=2&amount=1", http.StatusOK, "ok\n"},
		{"from=1&to=100&amount=1", http.StatusForbidden, "does not exist"},
	} {
		resp, err := http.Post(frontURL+"/transfer?"+tc.query, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.Contains(string(body), tc.body) {
			t.Errorf("POST /transfer?%s = %d %q, want %d containing %q", tc.query, resp.StatusCode, body, tc.code, tc.body)
		}
	}
}
