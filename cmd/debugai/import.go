package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/evidence/duckdb"
	"github.com/debugai/debugai/evidence/remote"
	"github.com/debugai/debugai/ingest"
)

const importUsage = `import [flags] FILE...

Imports OpenTelemetry data from files into the evidence store, applying the
same privacy policy as serve. Files are OTLP/JSON lines (one
Export*ServiceRequest per line, the OpenTelemetry Collector file exporter's
layout, *.otlp.jsonl) or OTLP protobuf (length-prefixed messages as the file
exporter writes them, or one message per file); gzip (.gz) is detected.

Every file is checked completely before anything is written: a bad line
stops the import with its file and line number and the store is unchanged.
When a running "debugai serve" owns the store, the data is sent to it over
OTLP/HTTP instead.`

type importSummary struct {
	files, records                      int
	spans, events, logs, kevents, edges int64
	rejected                            int64
	firstReject                         string
	traces                              map[evidence.TraceID]struct{}
	services                            map[string]struct{}
	minNS, maxNS                        int64
}

func runImport(ctx context.Context, args []string, env *cmdEnv) error {
	fs := newFlagSet("import", importUsage, env)
	store := storeFlag(fs, env)
	pf := addPrivacyFlags(fs, env)
	signal := fs.String("signal", "auto", "what the files hold: auto, traces or logs (auto reads JSON keys; protobuf files with \"log\" or \"kernel\" in the name are logs)")
	batchSpans := fs.Int("batch", 8192, "items per store write")
	progress := fs.String("progress", "auto", "progress bar: auto (on a terminal), always or never")
	logLevel := fs.String("log-level", "warn", "log level: debug, info, warn, error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return usagef("import: no files given")
	}
	sig, err := parseSignal(*signal)
	if err != nil {
		return err
	}
	if *progress != "auto" && *progress != "always" && *progress != "never" {
		return usagef("--progress %q: want auto, always or never", *progress)
	}
	if *batchSpans < 1 {
		return usagef("--batch must be at least 1, got %d", *batchSpans)
	}
	logger, err := newLogger(env.stderr, *logLevel)
	if err != nil {
		return err
	}
	files := fs.Args()
	bar := newProgress(env.stderr, *progress, totalSize(files)*2)

	// Pass 1: decode everything, write nothing.
	for _, f := range files {
		if err := forEachRecord(f, sig, bar, func(ingest.FileRecord) error { return nil }); err != nil {
			bar.done()
			return fmt.Errorf("checking input (nothing was imported): %w", err)
		}
	}

	redactor, _, err := pf.load(env)
	if err != nil {
		return err
	}
	conv := ingest.NewPrivacyConverter(redactor)
	sink, closeSink, err := openImportSink(ctx, *store, logger)
	if err != nil {
		bar.done()
		return err
	}
	start := time.Now()
	sum := &importSummary{traces: map[evidence.TraceID]struct{}{}, services: map[string]struct{}{}}
	w := &batchWriter{sink: sink, max: *batchSpans}
	for _, f := range files {
		err := forEachRecord(f, sig, bar, func(rec ingest.FileRecord) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			b := convertRecord(conv, rec, sum)
			sum.records++
			return w.add(ctx, b, rec)
		})
		if err != nil {
			bar.done()
			return errors.Join(fmt.Errorf("importing: %w", err), closeSink())
		}
		sum.files++
	}
	if err := w.flush(ctx); err != nil {
		bar.done()
		return errors.Join(fmt.Errorf("importing: %w", err), closeSink())
	}
	bar.done()
	if err := closeSink(); err != nil {
		return fmt.Errorf("closing store: %w", err)
	}
	printImportSummary(env.stdout, sum, *store, time.Since(start))
	return nil
}

func parseSignal(s string) (ingest.FileSignal, error) {
	switch s {
	case "auto":
		return ingest.FileAuto, nil
	case "traces":
		return ingest.FileTraces, nil
	case "logs":
		return ingest.FileLogs, nil
	}
	return 0, usagef("--signal %q: want auto, traces or logs", s)
}

func totalSize(files []string) int64 {
	var n int64
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			n += st.Size()
		}
	}
	return n
}

func forEachRecord(path string, sig ingest.FileSignal, bar *progressBar, fn func(ingest.FileRecord) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening input: %w", err)
	}
	defer f.Close()
	return ingest.ReadOTLPFile(bar.reader(f), path, sig, fn)
}

func convertRecord(conv *ingest.PrivacyConverter, rec ingest.FileRecord, sum *importSummary) *evidence.Batch {
	var b *evidence.Batch
	var rejected int64
	var reason string
	if rec.IsLogs {
		b, rejected, reason = conv.ConvertLogs(rec.Logs)
	} else {
		b, rejected, reason = conv.ConvertTraces(rec.Traces)
	}
	if rejected > 0 && sum.firstReject == "" {
		sum.firstReject = reason
	}
	sum.rejected += rejected
	sum.spans += int64(len(b.Spans))
	sum.logs += int64(len(b.Logs))
	sum.kevents += int64(len(b.KernelEvents))
	sum.edges += int64(len(b.LockEdges))
	for i := range b.Spans {
		s := &b.Spans[i]
		sum.events += int64(len(s.Events))
		sum.traces[s.TraceID] = struct{}{}
		if s.Service != "" {
			sum.services[s.Service] = struct{}{}
		}
		if sum.minNS == 0 || s.StartNS < sum.minNS {
			sum.minNS = s.StartNS
		}
		sum.maxNS = max(sum.maxNS, s.EndNS)
	}
	return b
}

// importSink receives converted batches (the store) or raw records (a
// running serve).
type importSink interface {
	write(ctx context.Context, b *evidence.Batch, raw []ingest.FileRecord) error
}

type storeSink struct{ st *duckdb.Store }

func (s storeSink) write(ctx context.Context, b *evidence.Batch, _ []ingest.FileRecord) error {
	return s.st.Write(ctx, b)
}

func openImportSink(ctx context.Context, path string, logger *slog.Logger) (importSink, func() error, error) {
	st, err := duckdb.Open(ctx, path, duckdb.Options{Logger: logger})
	if err == nil {
		return storeSink{st}, st.Close, nil
	}
	if !errors.Is(err, duckdb.ErrLocked) {
		return nil, nil, err
	}
	state, serr := remote.ReadState(path)
	if serr != nil {
		return nil, nil, fmt.Errorf("store %s is locked by another process and no running serve publishes it (%v): %w", path, serr, err)
	}
	logger.Info("store is owned by a running serve; sending over OTLP/HTTP", "url", state.HTTPURL)
	return &serveSink{url: state.HTTPURL, token: state.Token}, func() error { return nil }, nil
}

// batchWriter accumulates converted batches (and their raw records, for the
// serve sink) and writes them in chunks of about max items.
type batchWriter struct {
	sink    importSink
	max     int
	pending evidence.Batch
	raw     []ingest.FileRecord
}

func (w *batchWriter) add(ctx context.Context, b *evidence.Batch, rec ingest.FileRecord) error {
	w.pending.Merge(b)
	w.raw = append(w.raw, rec)
	if w.pending.Len() >= w.max {
		return w.flush(ctx)
	}
	return nil
}

func (w *batchWriter) flush(ctx context.Context) error {
	if len(w.raw) == 0 {
		return nil
	}
	if err := w.sink.write(ctx, &w.pending, w.raw); err != nil {
		return err
	}
	w.pending, w.raw = evidence.Batch{}, nil
	return nil
}

func printImportSummary(w io.Writer, s *importSummary, store string, elapsed time.Duration) {
	fmt.Fprintf(w, "imported %d file(s), %d request(s) into %s in %s\n", s.files, s.records, store, elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "  traces:        %d\n", len(s.traces))
	fmt.Fprintf(w, "  spans:         %d (%.0f spans/s)\n", s.spans, float64(s.spans)/max(elapsed.Seconds(), 1e-9))
	fmt.Fprintf(w, "  span events:   %d\n", s.events)
	fmt.Fprintf(w, "  logs:          %d\n", s.logs)
	fmt.Fprintf(w, "  kernel events: %d\n", s.kevents)
	fmt.Fprintf(w, "  lock edges:    %d\n", s.edges)
	if s.rejected > 0 {
		fmt.Fprintf(w, "  rejected:      %d (first: %s)\n", s.rejected, s.firstReject)
	}
	if len(s.services) > 0 {
		names := make([]string, 0, len(s.services))
		for n := range s.services {
			names = append(names, n)
		}
		slices.Sort(names)
		fmt.Fprintf(w, "  services:      %s\n", strings.Join(names, ", "))
	}
	if s.minNS > 0 {
		fmt.Fprintf(w, "  time range:    %s .. %s\n", time.Unix(0, s.minNS).UTC().Format(time.RFC3339Nano), time.Unix(0, s.maxNS).UTC().Format(time.RFC3339Nano))
	}
}
