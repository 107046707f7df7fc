package ingest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// FileSignal says which OTLP signal a file holds.
type FileSignal int

// File signals. FileAuto decides per JSON line by its top-level key and, for
// protobuf, by the file name ("log" or "kernel" in it means logs).
const (
	FileAuto FileSignal = iota
	FileTraces
	FileLogs
)

// MaxFileRecord bounds one line or one protobuf message of an OTLP file.
const MaxFileRecord = 256 << 20

// ErrFileFormat reports a file that is not OTLP in a layout we read.
var ErrFileFormat = errors.New("not an OTLP file")

// FileRecord is one export request read from a file.
type FileRecord struct {
	Index  int // 1-based line (JSON) or message (protobuf) number
	IsLogs bool
	Traces ptrace.Traces
	Logs   plog.Logs
	Bytes  int // encoded size
}

// ReadOTLPFile decodes an OTLP file and calls fn for each export request in
// it. Layouts: OTLP/JSON lines (the Collector file exporter's default: one
// Export*ServiceRequest per line), and protobuf, either 4-byte big-endian
// length-prefixed messages (the file exporter's proto layout) or one whole
// message. A ".gz" name or gzip magic means gzip. Decoding stops at the first
// bad record with an error naming it; fn's error stops it too.
func ReadOTLPFile(r io.Reader, name string, sig FileSignal, fn func(FileRecord) error) error {
	br := bufio.NewReaderSize(r, 1<<20)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: opening gzip: %w", name, err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 1<<20)
	}
	head, err := br.Peek(256)
	if len(head) == 0 && errors.Is(err, io.EOF) {
		return nil // an empty file holds no requests
	}
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return fmt.Errorf("%s: reading: %w", name, err)
	}
	if looksLikeJSON(head) {
		return readJSONLines(br, name, sig, fn)
	}
	if sig == FileAuto {
		sig = FileTraces
		base := strings.ToLower(filepath.Base(name))
		if strings.Contains(base, "log") || strings.Contains(base, "kernel") {
			sig = FileLogs
		}
	}
	return readProto(br, name, sig, fn)
}

func readJSONLines(br *bufio.Reader, name string, sig FileSignal, fn func(FileRecord) error) error {
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 0, 1<<20), MaxFileRecord)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		rec, err := decodeJSONRecord(b, sig)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", name, line, err)
		}
		rec.Index = line
		if err := fn(rec); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: reading lines: %w", name, err)
	}
	return nil
}

func decodeJSONRecord(b []byte, sig FileSignal) (FileRecord, error) {
	rec := FileRecord{Bytes: len(b)}
	isLogs := sig == FileLogs
	if sig == FileAuto {
		ti, li := bytes.Index(b, []byte(`"resourceSpans"`)), bytes.Index(b, []byte(`"resourceLogs"`))
		switch {
		case ti < 0 && li < 0:
			return rec, fmt.Errorf("neither resourceSpans nor resourceLogs: %w", ErrFileFormat)
		case ti < 0:
			isLogs = true
		case li >= 0 && li < ti:
			isLogs = true
		}
	}
	if isLogs {
		ld, err := unmarshalLogsJSON(b)
		if err != nil {
			return rec, fmt.Errorf("decoding OTLP/JSON logs: %w", err)
		}
		rec.IsLogs, rec.Logs = true, ld
		return rec, nil
	}
	td, err := unmarshalTracesJSON(b)
	if err != nil {
		return rec, fmt.Errorf("decoding OTLP/JSON traces: %w", err)
	}
	rec.Traces = td
	return rec, nil
}

func readProto(br *bufio.Reader, name string, sig FileSignal, fn func(FileRecord) error) error {
	all, err := io.ReadAll(io.LimitReader(br, MaxFileRecord*4+1))
	if err != nil {
		return fmt.Errorf("%s: reading: %w", name, err)
	}
	if len(all) > MaxFileRecord*4 {
		return fmt.Errorf("%s: protobuf file larger than %d bytes", name, MaxFileRecord*4)
	}
	if msgs, ok := splitLengthPrefixed(all); ok {
		for i, m := range msgs {
			rec, err := decodeProtoRecord(m, sig)
			if err != nil {
				return fmt.Errorf("%s: message %d: %w", name, i+1, err)
			}
			rec.Index = i + 1
			if err := fn(rec); err != nil {
				return err
			}
		}
		return nil
	}
	rec, err := decodeProtoRecord(all, sig)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	rec.Index = 1
	return fn(rec)
}

// splitLengthPrefixed splits b into 4-byte big-endian length-prefixed
// messages when b is exactly such a sequence.
func splitLengthPrefixed(b []byte) ([][]byte, bool) {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, false
		}
		n := binary.BigEndian.Uint32(b)
		if n == 0 || uint64(n) > uint64(len(b)-4) {
			return nil, false
		}
		out = append(out, b[4:4+n])
		b = b[4+n:]
	}
	return out, len(out) > 0
}

func decodeProtoRecord(b []byte, sig FileSignal) (FileRecord, error) {
	rec := FileRecord{Bytes: len(b)}
	if sig == FileLogs {
		req := plogotlp.NewExportRequest()
		if err := req.UnmarshalProto(b); err != nil {
			return rec, fmt.Errorf("decoding OTLP protobuf logs: %w", err)
		}
		rec.IsLogs, rec.Logs = true, req.Logs()
		return rec, nil
	}
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(b); err != nil {
		return rec, fmt.Errorf("decoding OTLP protobuf traces: %w", err)
	}
	rec.Traces = req.Traces()
	return rec, nil
}

// looksLikeJSON reports whether head starts like a JSON object: optional
// whitespace, '{', optional whitespace, then '"' or '}'. A protobuf export
// request starts with 0x0A (a newline byte), so a newline alone is not enough.
func looksLikeJSON(head []byte) bool {
	rest := bytes.TrimLeft(head, " \t\r\n")
	if len(rest) == 0 || rest[0] != '{' {
		return false
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	return len(rest) == 0 || rest[0] == '"' || rest[0] == '}'
}
