package duckdb

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"strings"
)

// DumpText writes every value of every table and view of the store as text,
// for tests that must search all stored values (privacy canaries): DuckDB
// compresses strings, so scanning the file's bytes can miss one; the views
// show the values that base tables keep inside JSON (span_rows.extra)
// unescaped. Each table or view starts with a line "## <name>", then one
// line per row with the values cast to VARCHAR, separated by tabs; NULL is
// written as \N. Tables and views of the main schema are dumped in name
// order, rows in no particular order.
func (s *Store) DumpText(ctx context.Context, w io.Writer) error {
	tables, err := queryAll(ctx, s.db, func(r scanner) (string, error) {
		var t string
		err := r.Scan(&t)
		return t, err
	}, `SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()
		AND schema_name = 'main'
		UNION ALL
		SELECT view_name FROM duckdb_views() WHERE database_name = current_database()
		AND schema_name = 'main' AND NOT internal
		ORDER BY 1`)
	if err != nil {
		return fmt.Errorf("dumping store: listing tables: %w", err)
	}
	bw := bufio.NewWriter(w)
	for _, t := range tables {
		if err := s.dumpTable(ctx, bw, t); err != nil {
			return fmt.Errorf("dumping store: table %s: %w", t, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("dumping store: %w", err)
	}
	return nil
}

func (s *Store) dumpTable(ctx context.Context, w *bufio.Writer, table string) error {
	cols, err := queryAll(ctx, s.db, func(r scanner) (string, error) {
		var c string
		err := r.Scan(&c)
		return c, err
	}, `SELECT column_name FROM duckdb_columns() WHERE database_name = current_database()
		AND schema_name = 'main' AND table_name = ? ORDER BY column_index`, table)
	if err != nil {
		return err
	}
	casts := make([]string, len(cols))
	for i, c := range cols {
		casts[i] = `CAST(` + quoteIdent(c) + ` AS VARCHAR)`
	}
	fmt.Fprintf(w, "## %s\t%s\n", table, strings.Join(cols, "\t"))
	rows, err := s.db.QueryContext(ctx, `SELECT `+strings.Join(casts, ", ")+` FROM `+quoteIdent(table))
	if err != nil {
		return err
	}
	defer rows.Close()
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		for i, v := range vals {
			if i > 0 {
				w.WriteByte('\t')
			}
			if !v.Valid {
				w.WriteString(`\N`)
				continue
			}
			w.WriteString(v.String)
		}
		if err := w.WriteByte('\n'); err != nil {
			return err
		}
	}
	return rows.Err()
}

func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
