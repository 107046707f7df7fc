// Package remote lets other processes read a store that a running
// `debugai serve` owns. DuckDB allows one process per file: while serve holds
// it read-write, no other process can open it, not even read-only. So serve
// writes a state file beside the store (<store>.serve.json, mode 0600) naming
// its HTTP address and a random bearer token, and serves evidence.Reader's
// queries as JSON under /debugai/v1/. Commands that find the store locked read
// the state file and use Client, which implements evidence.Reader over that
// API; import sends its data to serve's OTLP endpoint instead of the file.
package remote

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// APIPrefix is where Handler is mounted on serve's HTTP listener.
const APIPrefix = "/debugai/v1/"

// ErrNoServer reports that no live serve process owns the store.
var ErrNoServer = errors.New("no running debugai serve for this store")

// State is what serve publishes about itself beside the store.
type State struct {
	PID      int    `json:"pid"`
	Store    string `json:"store"`
	HTTPURL  string `json:"http_url"` // e.g. http://127.0.0.1:4318
	GRPCAddr string `json:"grpc_addr"`
	Token    string `json:"token"` // bearer token for APIPrefix
}

// StatePath is the state file of a store.
func StatePath(store string) string { return store + ".serve.json" }

// NewToken returns a random bearer token.
func NewToken() (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generating api token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// WriteState writes st atomically with mode 0600.
func WriteState(path string, st State) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding serve state: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".serve-state-*")
	if err != nil {
		return fmt.Errorf("writing serve state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("writing serve state: %w", err)
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("writing serve state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing serve state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing serve state: %w", err)
	}
	return nil
}

// ReadState returns the state of the live serve that owns store, or an error
// wrapping ErrNoServer when there is none (no file, or its process is gone).
func ReadState(store string) (State, error) {
	var st State
	data, err := os.ReadFile(StatePath(store))
	if errors.Is(err, os.ErrNotExist) {
		return st, fmt.Errorf("%s: %w", StatePath(store), ErrNoServer)
	}
	if err != nil {
		return st, fmt.Errorf("reading serve state: %w", err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("reading serve state %s: %w", StatePath(store), err)
	}
	if st.PID <= 0 || !alive(st.PID) {
		return st, fmt.Errorf("%s names pid %d, which is not running: %w", StatePath(store), st.PID, ErrNoServer)
	}
	return st, nil
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
