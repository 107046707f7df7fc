package ride

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

// statement is one of the statements tripdb knows: its text (the
// template; the values travel as "key"), operation and table.
type statement struct{ text, op, table string }

// The statements.
var (
	insertTrip     = statement{"INSERT INTO trips (id, rider, driver) VALUES (?, ?, ?)", "INSERT", "trips"}
	selectTrip     = statement{"SELECT status FROM trips WHERE id = ?", "SELECT", "trips"}
	insertReceipts = statement{"INSERT INTO receipts (trip) VALUES (?)", "INSERT", "receipts"}
	statements     = []statement{insertTrip, selectTrip, insertReceipts}
)

// name is the span name of a statement, "OP table".
func (st statement) name() string { return st.op + " " + st.table }

// dbAttrs are the db.* attributes of a statement's spans.
func (st statement) dbAttrs() []attribute.KeyValue {
	return []attribute.KeyValue{attribute.String("db.system.name", "other_sql"), attribute.String("db.namespace", "rides"),
		attribute.String("db.operation.name", st.op), attribute.String("db.collection.name", st.table),
		attribute.String("db.query.text", st.text)}
}

// commentPrefix opens the trace-context comment appended to a statement.
const commentPrefix = " /*traceparent='"

// exec runs a statement on tripdb through conn (not traced by otelgrpc):
// a client span made by hand, whose context travels in a comment of the
// statement; rows is the statement's row count (INSERT receipts) or 1.
func (s *Service) exec(ctx context.Context, st statement, key, rows int) (int, error) {
	ctx, span := s.tracer.Start(ctx, st.name(), trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(st.dbAttrs()...))
	defer span.End()
	c := mapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	sql := st.text
	if tp := c["traceparent"]; tp != "" {
		sql += commentPrefix + tp + "'*/"
	}
	out, err := invoke(ctx, s.db, execMethod, map[string]any{"sql": sql, "key": float64(key), "rows": float64(rows)})
	if err != nil {
		span.SetStatus(otelcodes.Error, "statement failed")
		span.SetAttributes(attribute.String("db.response.status_code", status.Code(err).String()))
		return 0, err
	}
	n := num(out, "rows")
	span.SetAttributes(attribute.Int("db.response.returned_rows", n))
	return n, nil
}

// tripDB is tripdb's state: the tables and the write-ahead log.
type tripDB struct {
	mu       sync.Mutex // the table lock
	trips    map[int]int
	receipts int
	log      *wal
	inserts  atomic.Int64
}

// dbExec serves tripdb's Exec: the statement parsed (its comment gives
// the server span's parent), run under the table lock, logged to the
// WAL (synced by the group commit; under dbfsync every third trip INSERT
// is synced on the statement path, outside the table lock).
func (s *Service) dbExec(ctx context.Context, req *structpb.Struct) (*structpb.Struct, error) {
	sql := req.GetFields()["sql"].GetStringValue()
	text, comment, _ := strings.Cut(sql, commentPrefix)
	var st statement
	for _, k := range statements {
		if k.text == text {
			st = k
		}
	}
	if st.text == "" {
		return nil, status.Error(codes.InvalidArgument, "sql: not a known statement")
	}
	if tp, ok := strings.CutSuffix(comment, "'*/"); ok {
		ctx = propagation.TraceContext{}.Extract(ctx, mapCarrier{"traceparent": tp})
	}
	_, span := s.tracer.Start(ctx, st.name(), trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(st.dbAttrs()...))
	defer span.End()
	key, err := intField(req, "key", 1<<40)
	if err != nil {
		return nil, err
	}
	rows, err := intField(req, "rows", 1<<16)
	if err != nil {
		return nil, err
	}
	d := s.tdb
	n := 1
	d.mu.Lock()
	switch st {
	case insertTrip:
		d.trips[key] = 1
	case selectTrip:
		if _, ok := d.trips[key]; !ok {
			n = 0
		}
	case insertReceipts:
		d.receipts += rows
		n = rows
	}
	d.mu.Unlock()
	if st.op == "INSERT" {
		if err := d.log.write(int64(key), lightBytes*max(1, min(rows, 4)), lightBytes, false); err != nil {
			span.SetStatus(otelcodes.Error, "writing the log")
			return nil, status.Error(codes.Internal, "writing the log")
		}
	}
	if st == insertTrip && s.Bug() == BugDBFsync && d.inserts.Add(1)%3 == 0 {
		if err := d.log.write(int64(key), s.cfg.SyncBytes, s.cfg.SyncChunkBytes, true); err != nil {
			span.SetStatus(otelcodes.Error, "committing")
			return nil, status.Error(codes.Internal, "committing")
		}
	}
	return answer(map[string]any{"rows": float64(n)}), nil
}

// groupCommit syncs tripdb's log every Config.GroupCommit until stop.
func (s *Service) groupCommit() {
	t := time.NewTicker(s.cfg.GroupCommit)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if err := s.tdb.log.sync(); err != nil {
				s.log.Warn("group commit failed")
			}
		}
	}
}

// walSlots is how many records the log holds before it wraps around
// (records are overwritten in place: a sync writes data, not the size).
const walSlots = 32

// lightBytes is a log record's size.
const lightBytes = 4096

// wal is tripdb's preallocated write-ahead log on the real disk.
type wal struct {
	f      *os.File
	size   int
	next   atomic.Int64
	syncs  atomic.Int64 // group commits (fdatasync)
	fsyncs atomic.Int64 // fsyncs on the statement path
	bufs   sync.Pool
}

func openWAL(dir string, size int) (*wal, error) {
	f, err := os.CreateTemp(dir, "ride-tripdb-*.wal")
	if err != nil {
		return nil, fmt.Errorf("creating the log: %w", err)
	}
	w := &wal{f: f, size: size}
	w.bufs.New = func() any { return make([]byte, size) }
	block := make([]byte, size)
	for i := range block {
		block[i] = byte(i*11 + 3) // no holes
	}
	for i := range walSlots {
		if _, err := f.WriteAt(block, int64(i*size)); err != nil {
			return nil, errors.Join(fmt.Errorf("preallocating the log: %w", err), w.close())
		}
	}
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return nil, errors.Join(fmt.Errorf("syncing the log: %w", err), w.close())
	}
	return w, nil
}

func (w *wal) close() error { return errors.Join(w.f.Close(), os.Remove(w.f.Name())) }

// sync is the group commit: fdatasync.
func (w *wal) sync() error {
	w.syncs.Add(1)
	return unix.Fdatasync(int(w.f.Fd()))
}

// write writes n bytes (at most a slot) of a record for key into the next
// slot, chunk bytes at a time, with an fsync after each chunk when
// fsyncEach.
func (w *wal) write(key int64, n, chunk int, fsyncEach bool) error {
	buf := w.bufs.Get().([]byte)
	defer w.bufs.Put(buf)
	slot := w.next.Add(1) - 1
	binary.LittleEndian.PutUint64(buf[0:], uint64(slot))
	binary.LittleEndian.PutUint64(buf[8:], uint64(key))
	base := (slot % walSlots) * int64(w.size)
	n = min(n, w.size)
	for off := 0; off < n; off += chunk {
		if _, err := w.f.WriteAt(buf[off:min(off+chunk, n)], base+int64(off)); err != nil {
			return fmt.Errorf("writing: %w", err)
		}
		if fsyncEach {
			w.fsyncs.Add(1)
			if err := unix.Fsync(int(w.f.Fd())); err != nil {
				return fmt.Errorf("syncing: %w", err)
			}
		}
	}
	return nil
}

// dbServerOptions are tripdb's gRPC options: no otelgrpc (its spans are
// the statements'), a recovery interceptor.
func dbServerOptions(s *Service) []grpc.ServerOption {
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(recoverInterceptor(s.log))}
}
