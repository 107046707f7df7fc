package duckdb

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

//go:embed schema/*.sql
var schemaFS embed.FS

// migration is one schema/NNN_name.sql file.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads every NNN_name.sql in dir of fsys, sorted by version.
// Versions must start at 1 and have no gaps.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("reading migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		base := strings.TrimSuffix(e.Name(), ".sql")
		num, name, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNN_name.sql", e.Name())
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("reading migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %03d_%s: want version %d (versions start at 1, no gaps)", m.version, m.name, i+1)
		}
	}
	return ms, nil
}

// schemaVersion returns the highest applied migration, 0 for a new file.
func schemaVersion(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int, error) {
	var n int
	err := q.QueryRowContext(ctx,
		`SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = 'schema_version'`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("looking up schema_version: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT max(version) FROM schema_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("reading schema_version: %w", err)
	}
	return int(v.Int64), nil
}

// migrate applies every migration newer than the file's version, each in its
// own transaction together with its schema_version row. A read-only store
// must already be current.
func migrate(ctx context.Context, conn *sql.Conn, ms []migration, readOnly bool) (int, error) {
	current, err := schemaVersion(ctx, conn)
	if err != nil {
		return 0, err
	}
	latest := len(ms)
	switch {
	case current > latest:
		return current, fmt.Errorf("file has schema version %d, this binary knows up to %d: %w", current, latest, ErrSchemaTooNew)
	case current == latest:
		return current, nil
	case readOnly:
		return current, fmt.Errorf("file has schema version %d, want %d: open it read-write once to migrate: %w", current, latest, ErrSchemaTooOld)
	}
	if current == 0 {
		if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
			version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
			return 0, fmt.Errorf("creating schema_version: %w", err)
		}
	}
	for _, m := range ms[current:] {
		if err := applyMigration(ctx, conn, m); err != nil {
			return current, err
		}
		current = m.version
	}
	return current, nil
}

func applyMigration(ctx context.Context, conn *sql.Conn, m migration) (err error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %03d_%s: %w", m.version, m.name, err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, rollbackErr(tx.Rollback()))
		}
	}()
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("migration %03d_%s: %w", m.version, m.name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version, name) VALUES (?, ?)`, m.version, m.name); err != nil {
		return fmt.Errorf("migration %03d_%s: recording version: %w", m.version, m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %03d_%s: commit: %w", m.version, m.name, err)
	}
	return nil
}

// rollbackErr drops the error a rollback returns when the transaction is
// already gone.
func rollbackErr(err error) error {
	if err == nil || errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return fmt.Errorf("rollback: %w", err)
}
