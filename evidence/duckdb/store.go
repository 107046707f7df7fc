// Package duckdb stores debugai's evidence in one embedded DuckDB file. It is
// the only package that imports the DuckDB driver.
//
// # Files and processes
//
// [Open] creates the file (and its directory, 0700) on first use and applies the
// embedded schema migrations (schema/NNN_name.sql, recorded in the
// schema_version table, each in its own transaction). A file written by a
// newer binary is refused with [ErrSchemaTooNew]. DuckDB lets one process
// own a file: while a process has it open read-write, no other process can
// open it, not even read-only. Open then fails with an error wrapping
// [ErrLocked], and a command-line tool should talk to the running server
// instead. Within one process, open a file once and share the *Store: it is
// safe for concurrent use.
//
// The file, its write-ahead log and DuckDB's spill directory are readable by
// their owner only (0600, 0700), whatever the umask: since DuckDB creates
// them itself, a writable Open adds 077 to the process umask (see
// prepareFiles) and tightens the modes of files left by older versions.
//
// # Schema
//
// See schema/001_init.sql and schema/002_write_path.sql. Tables resources,
// span_rows, span_events, kernel_events, logs, audit_rows, lock_edge_rows
// and schema_version; views spans, audit and lock_edges. Query the views:
// spans presents every column of a span (service, version and host are
// taken from the span's resource unless the span differs from it; the
// rarely set typed fields such as rpc_system or db_statement are kept in
// span_rows.extra, a compact JSON object), audit sums the append-only
// audit_rows per (source, key, action), and lock_edges aggregates
// lock_edge_rows per (held, acquiring): counts add up, first_ns is the
// minimum, last_ns the maximum, and an optional column the smallest value
// any delta set. Trace ids are UUID (compare with a hex literal: trace_id =
// '4bf92f35...'; print with the trace_hex() macro), span ids UBIGINT
// (span_hex() prints them), absent optional values are NULL, times are unix
// nanoseconds, and the kept attributes without a typed column are a compact
// JSON object in the attrs column (attrs->>'$.key'). Integer ids append
// without a per-value cgo call; hex VARCHAR ids cost one each and several
// times more to compress at checkpoint. Fewer columns per span row mean
// fewer cgo calls (every string and every NULL is one) and less work at
// commit.
//
// # Write guarantees
//
// [Store.Write] runs one transaction on one of Options.Writers writer
// connections (default 2), so up to that many Writes run at once: one
// batch's appends overlap another's commit. A Write resolves the batch's
// resources (an in-memory cache of stored resources, else a lookup), stages
// the span ids and kernel-event keys with DuckDB's Appender into the
// connection's TEMP tables, finds the ones already stored with a semi join,
// appends only the new spans, span events, kernel events and resources
// straight into their tables, appends the batch's (merged) lock-edge and
// audit counts as delta rows, moves the staged logs with INSERT ... SELECT
// ... ANTI JOIN, empties the stages and commits. Appenders are kept open per
// connection across Writes.
//
// Atomic: every table of the batch commits together; when Write returns an
// error nothing of the batch is visible (the transaction is rolled back,
// the staging tables with it, and the connection's Appenders are discarded).
//
// Idempotent: spans, kernel events, resources and logs whose evidence ID is
// already stored, or repeated within the batch, are skipped; a span that is
// already stored keeps the events stored with it (its events in the new
// batch are skipped too). Lock edges and audit rows accumulate: counts add
// up, so re-writing them counts them again, and lock edges widen their
// first/last-seen range. This holds across concurrent Writes too: before
// its transaction starts, a Write registers its span and kernel-event keys,
// log ids and new resource ids in memory, and when a Write under way holds
// one of them it waits for that Write to end, so that its own transaction
// (DuckDB's snapshot isolation) sees what the other committed. Writes with
// disjoint keys run in parallel; accumulating tables are append-only, so
// concurrent transactions never update the same row.
//
// The stored-id lookup for spans (kernel events) only considers stored rows
// whose start_ns (time_ns) lies within the batch's own range, so that DuckDB
// can skip row groups by their min/max and the lookup's cost does not grow
// with the store. A re-written item has the same content, hence the same
// time, so this is exact for re-ingestion; only a different item reusing a
// stored id with another time would be stored a second time (Get then
// returns one of them). A resource id names its content: a batch that
// repeats a stored resource id keeps the stored row.
//
// Durable: a nil return means DuckDB committed the transaction. Its changes
// are in the write-ahead log (<file>.wal) and survive a crash or SIGKILL of
// this process; the next Open replays the log (TestWriteSurvivesSIGKILL).
// DuckDB fsyncs the WAL before COMMIT returns (observed with strace: one
// fsync of the .wal per commit), so a committed batch also survives power
// loss as far as the disk honours fsync. The WAL is checkpointed into the
// file when it reaches Options.CheckpointThreshold and at Close.
//
// Concurrent Write calls are safe; batches written at once may commit in
// either order. The audit and lock-edge deltas are folded into one row per
// key at Open and every 1024 Writes that add some (in a transaction of its
// own; the views read the same before and after). Reads use other
// connections of the pool and see committed data only. Close waits for the
// Writes under way.
//
// # Retention
//
// [Store.DeleteBefore] removes evidence older than a time, oldest first, in
// bounded batches (one transaction each) that run beside Writes, except
// what a protected set of evidence IDs keeps (the IDs stored reports cite;
// see prune.go); [Store.Size] measures the file, its write-ahead log and
// its used blocks. DuckDB frees the blocks of deleted rows at the next
// checkpoint and reuses them; the file shrinks only when free blocks are
// at its end (docs/retention.md).
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
	// Writers is how many Write calls may run at once, each in its own
	// transaction on its own connection; 0 means DefaultWriters. One
	// batch's appends then overlap another's commit.
	Writers int

	// schema replaces the embedded migrations (tests).
	schema fs.FS
}

// DefaultCheckpointThreshold is the CheckpointThreshold used when Options
// leaves it empty. DuckDB's own default (16MB) checkpoints about every 40k
// spans, which more than halved the write throughput measured here.
const DefaultCheckpointThreshold = "256MB"

// DefaultWriters is the Writers used when Options leaves it 0.
const DefaultWriters = 2

// Store is an evidence store backed by one DuckDB file.
type Store struct {
	path     string
	readOnly bool
	log      *slog.Logger
	db       *sql.DB
	version  int

	conn    *sql.Conn     // read-only stores: the connection that checked the schema
	all     []*writer     // every writer connection (read-write stores)
	idle    chan *writer  // writers not running a Write
	closing chan struct{} // closed when Close begins

	mu       sync.Mutex // guards closed, inflight and resources
	closed   bool
	inflight []*writer // writers between registering their keys and the end of their transaction
	// resources caches stored resources (id -> the columns spans inherit)
	// so that a batch repeating them needs no lookup; see resolveResources.
	resources map[string]resourceCols
	commits   int // committed Writes with audit or lock-edge rows, for compaction

	// maintMu serializes the maintenance that deletes rows other
	// transactions might delete too (folding deltas, pruning, the
	// checkpoint before measuring), so that they do not conflict.
	maintMu sync.Mutex

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
	s := &Store{path: path, readOnly: opts.ReadOnly, log: log, db: sql.OpenDB(connector),
		closing: make(chan struct{}), resources: make(map[string]resourceCols)}
	defer func() {
		if err != nil {
			errs := []error{fmt.Errorf("opening store %s: %w", path, err)}
			errs = append(errs, s.closeConns()...)
			err = errors.Join(append(errs, s.db.Close())...)
		}
	}()
	first, err := s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if opts.ReadOnly {
		s.conn = first
	} else {
		s.all = append(s.all, &writer{conn: first})
	}
	if s.version, err = migrate(ctx, first, ms, opts.ReadOnly); err != nil {
		return nil, err
	}
	if !opts.ReadOnly {
		n := opts.Writers
		if n <= 0 {
			n = DefaultWriters
		}
		for len(s.all) < n {
			c, err := s.db.Conn(ctx)
			if err != nil {
				return nil, err
			}
			s.all = append(s.all, &writer{conn: c})
		}
		s.idle = make(chan *writer, n)
		for _, w := range s.all {
			if err := createStaging(ctx, w.conn); err != nil {
				return nil, err
			}
			s.idle <- w
		}
		if s.version >= 2 {
			if err := s.all[0].compact(ctx); err != nil {
				return nil, err
			}
		}
	}
	log.Debug("store opened", "schema_version", s.version, "read_only", opts.ReadOnly)
	return s, nil
}

// closeConns closes every connection of the store (and the writers'
// appenders).
func (s *Store) closeConns() []error {
	var errs []error
	for _, w := range s.all {
		errs = append(errs, w.closeAppenders(), w.conn.Close())
	}
	if s.conn != nil {
		errs = append(errs, s.conn.Close())
	}
	return errs
}

// dataSourceName builds the driver's DSN, creating the parent directory of a
// writable store (0700) and making its files private (see prepareFiles).
func dataSourceName(path string, opts Options) (string, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return "", fmt.Errorf("path %q: must be non-empty without '?' or '#'", path)
	}
	if opts.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			return "", err
		}
	} else {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return "", fmt.Errorf("creating directory: %w", err)
		}
		if err := prepareFiles(path); err != nil {
			return "", err
		}
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

// Close waits for the Writes under way, checkpoints the write-ahead log into
// the file (read-write stores) and closes the database. It is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	s.mu.Unlock()
	var errs []error
	if !s.readOnly {
		// Take every writer back: the Writes under way finish first.
		for range s.all {
			<-s.idle
		}
		if _, err := s.all[0].conn.ExecContext(context.Background(), `CHECKPOINT`); err != nil {
			errs = append(errs, fmt.Errorf("checkpoint: %w", err))
		}
	}
	for _, err := range s.closeConns() {
		if err != nil {
			errs = append(errs, err)
		}
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
