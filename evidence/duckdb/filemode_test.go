package duckdb

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestStoreFilesPrivate checks that every file the store creates (the
// database, its write-ahead log and their directory) is readable by its owner
// only, even when the process runs with umask 000, after a checkpoint has
// removed and re-created the log, and when an older version left the file
// readable by others.
func TestStoreFilesPrivate(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
	dir := filepath.Join(t.TempDir(), "sub")
	path := filepath.Join(dir, "evidence.duckdb")
	ctx := context.Background()
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	check := func(when string) {
		t.Helper()
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			fi, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm()&0o077 != 0 {
				t.Errorf("%s: %s has mode %v; want no group or other access", when, e.Name(), fi.Mode())
			}
		}
	}
	if err := s.Write(ctx, fullBatch()); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if _, err := os.Stat(path + ".wal"); err != nil {
		t.Fatalf("no write-ahead log after a Write: %v", err)
	}
	check("after the first write")
	if _, err := s.all[0].conn.ExecContext(ctx, `CHECKPOINT`); err != nil {
		t.Fatal(err)
	}
	b := fullBatch()
	for i := range b.Spans {
		b.Spans[i].SpanID = spanID(uint64(1000 + i))
	}
	if err := s.Write(ctx, b); err != nil {
		t.Fatalf("Write after checkpoint: %v", err)
	}
	check("after a checkpoint and a write")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check("after Close")
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o027 != 0 {
		t.Errorf("directory mode %v; want no group write or other access", fi.Mode())
	}
	// A store created by an older version: its file is tightened at Open.
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if err := s.Write(ctx, fullBatch()); err != nil {
		t.Fatalf("Write after reopen: %v", err)
	}
	check("after reopen")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
