package duckdb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/debugai/debugai/evidence"
)

// migrationsFS returns the embedded migrations up to version upTo; past the
// last embedded one it adds a made-up next migration (span_notes).
func migrationsFS(t *testing.T, upTo int) fstest.MapFS {
	t.Helper()
	ms, err := loadMigrations(schemaFS, "schema")
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{}
	for _, m := range ms {
		if m.version <= upTo {
			fsys[fmt.Sprintf("schema/%03d_%s.sql", m.version, m.name)] = &fstest.MapFile{Data: []byte(m.sql)}
		}
	}
	if upTo > len(ms) {
		fsys[fmt.Sprintf("schema/%03d_span_notes.sql", len(ms)+1)] = &fstest.MapFile{Data: []byte(
			`CREATE TABLE span_notes (span_id UBIGINT, note VARCHAR);`)}
	}
	return fsys
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.duckdb")
	latest := len(mustMigrations(t))
	open := func(upTo int, readOnly bool) (*Store, error) {
		return Open(ctx, path, Options{schema: migrationsFS(t, upTo), ReadOnly: readOnly})
	}
	s, err := open(latest, false)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, s, &evidence.Batch{Spans: makeSpans(0, 10, 1e18)})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	next := latest + 1
	if _, err := open(next, true); !errors.Is(err, ErrSchemaTooOld) {
		t.Fatalf("read-only open of an old file: %v, want ErrSchemaTooOld", err)
	}
	s, err = open(next, false)
	if err != nil {
		t.Fatalf("migrating: %v", err)
	}
	if s.SchemaVersion() != next {
		t.Errorf("schema version %d, want %d", s.SchemaVersion(), next)
	}
	if st := mustStats(t, s); st.Spans != 10 {
		t.Errorf("spans after migration: %d", st.Spans)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	_, err = open(latest, false)
	if !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), fmt.Sprintf("schema version %d", next)) {
		t.Fatalf("older binary: %v, want ErrSchemaTooNew", err)
	}
	_, err = Open(ctx, path, Options{})
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("embedded schema on a version-%d file: %v, want ErrSchemaTooNew", next, err)
	}
}

func mustMigrations(t *testing.T) []migration {
	t.Helper()
	ms, err := loadMigrations(schemaFS, "schema")
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func TestMigrationFailureRollsBack(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.duckdb")
	latest := len(mustMigrations(t))
	fsys := migrationsFS(t, latest)
	fsys[fmt.Sprintf("schema/%03d_bad.sql", latest+1)] = &fstest.MapFile{Data: []byte(`CREATE TABLE half (x INT); SELECT * FROM missing_table;`)}
	if _, err := Open(ctx, path, Options{schema: fsys}); err == nil || !strings.Contains(err.Error(), "_bad") {
		t.Fatalf("bad migration: %v", err)
	}
	s, err := Open(ctx, path, Options{schema: migrationsFS(t, latest)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM duckdb_tables() WHERE table_name = 'half'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("half-applied migration left table: n=%d err=%v", n, err)
	}
	if s.SchemaVersion() != latest {
		t.Errorf("version %d, want %d", s.SchemaVersion(), latest)
	}
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "r.duckdb")
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, s, fullBatch())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.Write(ctx, fullBatch()); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	ro, err := Open(ctx, path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if st := mustStats(t, ro); st.Spans != 1 || st.KernelEvents != 1 || st.Logs != 1 {
		t.Errorf("after reopen: %+v", st)
	}
	if err := ro.Write(ctx, fullBatch()); err == nil {
		t.Error("Write on a read-only store succeeded")
	}
}

func TestOpenReadOnlyMissingFile(t *testing.T) {
	_, err := Open(context.Background(), filepath.Join(t.TempDir(), "none.duckdb"), Options{ReadOnly: true})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want ErrNotExist", err)
	}
}

func startChild(t *testing.T, path string, write bool) (*exec.Cmd, io.WriteCloser) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), lockChildEnv+"="+path)
	if write {
		cmd.Env = append(cmd.Env, childWriteEnv+"=1")
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("child said %q, %v", line, err)
	}
	return cmd, stdin
}

func TestWriteSurvivesSIGKILL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "killed.duckdb")
	cmd, _ := startChild(t, path, true)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if st := mustStats(t, s); st.Spans != 1 || st.SpanEvents != 2 || st.KernelEvents != 1 || st.LockEdges != 1 || st.Logs != 1 {
		t.Errorf("after SIGKILL: %+v", st)
	}
}

func TestOpenLockedByOtherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locked.duckdb")
	cmd, stdin := startChild(t, path, false)
	defer func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("child: %v", err)
		}
	}()
	for _, ro := range []bool{false, true} {
		_, err := Open(context.Background(), path, Options{ReadOnly: ro})
		if !errors.Is(err, ErrLocked) {
			t.Errorf("Open(ReadOnly=%v) = %v, want ErrLocked", ro, err)
		}
		t.Logf("ReadOnly=%v: %v", ro, err)
	}
}
