// Package duckdb stores debugai's evidence in one embedded DuckDB file. It is
// the only package that imports the DuckDB driver.
//
// # Files and processes
//
// [Open] creates the file (and its directory) on first use and applies the
// embedded schema migrations (schema/NNN_name.sql, recorded in the
// schema_version table, each in its own transaction). A file written by a
// newer binary is refused with [ErrSchemaTooNew]. DuckDB lets one process
// own a file: while a process has it open read-write, no other process can
// open it, not even read-only. Open then fails with an error wrapping
// [ErrLocked], and a command-line tool should talk to the running server
// instead. Within one process, open a file once and share the *Store: it is
// safe for concurrent use.
//
// # Schema
//
// Tables resources, spans, span_events, kernel_events, lock_edges, logs,
// audit and schema_version (see schema/001_init.sql). Trace ids are UUID
// (compare with a hex literal: trace_id = '4bf92f35...'; print with the
// trace_hex() macro), span ids UBIGINT (span_hex() prints them), absent
// optional values are NULL, times are unix nanoseconds, and the kept
// attributes without a typed column are a compact JSON object in the attrs
// column (attrs->>'$.key'). Integer ids append without a per-value cgo
// call; hex VARCHAR ids cost one each and several times more to compress at
// checkpoint.
//
// # Write guarantees
//
// [Store.Write] runs one transaction on a dedicated writer connection. It
// stages the span ids and kernel-event keys of the batch with DuckDB's
// Appender into TEMP tables, finds the ones already stored with a semi join,
// appends only the new spans, span events and kernel events straight into
// their tables, stages resources, lock edges, logs and audit counts and
// moves them with INSERT ... SELECT (ANTI JOIN, or ON CONFLICT DO UPDATE for
// the accumulating tables), then commits.
//
// Atomic: every table of the batch commits together; when Write returns an
// error nothing of the batch is visible (the transaction is rolled back,
// the staging tables with it).
//
// Idempotent: spans, kernel events, resources and logs whose evidence ID is
// already stored, or repeated within the batch, are skipped; a span that is
// already stored keeps the events stored with it (its events in the new
// batch are skipped too). Lock edges and audit rows accumulate: counts add
// up, so re-writing them counts them again, and lock edges widen their
// first/last-seen range.
//
// The stored-id lookup for spans (kernel events) only considers stored rows
// whose start_ns (time_ns) lies within the batch's own range, so that DuckDB
// can skip row groups by their min/max and the lookup's cost does not grow
// with the store. A re-written item has the same content, hence the same
// time, so this is exact for re-ingestion; only a different item reusing a
// stored id with another time would be stored a second time (Get then
// returns one of them).
//
// Durable: a nil return means DuckDB committed the transaction. Its changes
// are in the write-ahead log (<file>.wal) and survive a crash or SIGKILL of
// this process; the next Open replays the log (TestWriteSurvivesSIGKILL).
// DuckDB fsyncs the WAL before COMMIT returns (observed with strace: one
// fsync of the .wal per commit), so a committed batch also survives power
// loss as far as the disk honours fsync. The WAL is checkpointed into the
// file when it reaches Options.CheckpointThreshold and at Close.
//
// Writes are serialized internally: concurrent Write calls are safe but do
// not run in parallel. Reads use other connections of the pool and see
// committed data only.
package duckdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/debugai/debugai/evidence"
)

// Errors returned by Open.
var (
	// ErrLocked reports that another process holds the file open.
	ErrLocked = errors.New("store file is locked by another process")
	// ErrSchemaTooNew reports a file written by a newer binary.
	ErrSchemaTooNew = errors.New("store schema is newer than this binary")
	// ErrSchemaTooOld reports a file that needs migrating but was opened
	// read-only.
	ErrSchemaTooOld = errors.New("store schema needs migration")
	// ErrClosed reports use of a closed Store.
	ErrClosed = errors.New("store is closed")
)

// Options configure Open. The zero value opens read-write with DuckDB's
// defaults.
type Options struct {
	// ReadOnly opens an existing file without write access; Write fails.
	ReadOnly bool
	// Logger receives lifecycle messages; nil discards them.
	Logger *slog.Logger
	// Threads bounds DuckDB's worker threads; 0 keeps DuckDB's default
	// (one per core).
	Threads int
	// MemoryLimit is DuckDB's memory_limit setting, e.g. "2GB"; "" keeps
	// DuckDB's default (80% of RAM).
	MemoryLimit string
	// CheckpointThreshold is the WAL size at which DuckDB checkpoints it
	// into the file (checkpoint_threshold); "" means DefaultCheckpointThreshold.
	// Each checkpoint recompresses the table's last, partial row group, so a
	// small threshold multiplies the write cost; a large one costs a longer
	// WAL replay after a crash.
	CheckpointThreshold string

	// schema replaces the embedded migrations (tests).
	schema fs.FS
}

// DefaultCheckpointThreshold is the CheckpointThreshold used when Options
// leaves it empty. DuckDB's own default (16MB) checkpoints about every 40k
// spans, which more than halved the write throughput measured here.
const DefaultCheckpointThreshold = "256MB"

// Store is an evidence store backed by one DuckDB file.
type Store struct {
	path     string
	readOnly bool
	log      *slog.Logger
	db       *sql.DB
	version  int

	mu     sync.Mutex // serializes Write and Close; guards wconn and closed
	wconn  *sql.Conn  // the writer connection, owner of the staging tables
	closed bool
	wbuf   writeBuffers

	// afterInsert, when set (tests), runs inside Write's transaction after
	// the spans have been inserted.
	afterInsert func(ctx context.Context) error
}

var (
	_ evidence.Writer = (*Store)(nil)
	_ evidence.Reader = (*Store)(nil)
)

// Open opens or creates the store at path and brings its schema up to date.
func Open(ctx context.Context, path string, opts Options) (_ *Store, err error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("store", path)
	migrations := opts.schema
	if migrations == nil {
		migrations = schemaFS
	}
	ms, err := loadMigrations(migrations, "schema")
	if err != nil {
		return nil, fmt.Errorf("opening store %s: %w", path, err)
	}
	dsn, err := dataSourceName(path, opts)
	if err != nil {
		return nil, fmt.Errorf("opening store %s: %w", path, err)
	}
	connector, err := duckdb.NewConnector(dsn, nil)
	if err != nil {
		return nil, fmt.Errorf("opening store %s: %w", path, classifyOpenError(err))
	}
	s := &Store{path: path, readOnly: opts.ReadOnly, log: log, db: sql.OpenDB(connector)}
	defer func() {
		if err != nil {
			errs := []error{fmt.Errorf("opening store %s: %w", path, err)}
			if s.wconn != nil {
				errs = append(errs, s.wconn.Close())
			}
			err = errors.Join(append(errs, s.db.Close())...)
		}
	}()
	if s.wconn, err = s.db.Conn(ctx); err != nil {
		return nil, err
	}
	if s.version, err = migrate(ctx, s.wconn, ms, opts.ReadOnly); err != nil {
		return nil, err
	}
	if !opts.ReadOnly {
		if err := createStaging(ctx, s.wconn); err != nil {
			return nil, err
		}
	}
	log.Debug("store opened", "schema_version", s.version, "read_only", opts.ReadOnly)
	return s, nil
}

// dataSourceName builds the driver's DSN, creating the parent directory of a
// writable store.
func dataSourceName(path string, opts Options) (string, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return "", fmt.Errorf("path %q: must be non-empty without '?' or '#'", path)
	}
	if opts.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			return "", err
		}
	} else if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return "", fmt.Errorf("creating directory: %w", err)
	}
	q := url.Values{}
	if opts.ReadOnly {
		q.Set("access_mode", "READ_ONLY")
	}
	if opts.Threads > 0 {
		q.Set("threads", strconv.Itoa(opts.Threads))
	}
	if opts.MemoryLimit != "" {
		q.Set("memory_limit", opts.MemoryLimit)
	}
	if !opts.ReadOnly {
		th := opts.CheckpointThreshold
		if th == "" {
			th = DefaultCheckpointThreshold
		}
		q.Set("checkpoint_threshold", th)
	}
	return path + "?" + q.Encode(), nil
}

// classifyOpenError wraps ErrLocked around DuckDB's lock conflict. DuckDB
// reports it only as text ("IO Error: Could not set lock on file ...:
// Conflicting lock is held in ... (PID n)").
func classifyOpenError(err error) error {
	var de *duckdb.Error
	if errors.As(err, &de) && de.Type == duckdb.ErrorTypeIO &&
		(strings.Contains(de.Msg, "Could not set lock") || strings.Contains(de.Msg, "Conflicting lock")) {
		return fmt.Errorf("%w: %w", ErrLocked, err)
	}
	return err
}

// Path returns the file the store was opened on.
func (s *Store) Path() string { return s.path }

// SchemaVersion returns the schema version of the open file.
func (s *Store) SchemaVersion() int { return s.version }

// Close checkpoints the write-ahead log into the file (read-write stores)
// and closes the database. It is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	if !s.readOnly {
		if _, err := s.wconn.ExecContext(context.Background(), `CHECKPOINT`); err != nil {
			errs = append(errs, fmt.Errorf("checkpoint: %w", err))
		}
	}
	if err := s.wconn.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := s.db.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("closing store %s: %w", s.path, err)
	}
	s.log.Debug("store closed")
	return nil
}
