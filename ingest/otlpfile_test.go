package ingest

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

func sampleTraces(n int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	ss := rs.ScopeSpans().AppendEmpty()
	for i := 0; i < n; i++ {
		sp := ss.Spans().AppendEmpty()
		sp.SetName("GET /orders/{id}")
		sp.SetTraceID([16]byte{1, byte(i + 1)})
		sp.SetSpanID([8]byte{2, byte(i + 1)})
		sp.SetStartTimestamp(1_700_000_000_000_000_000)
		sp.SetEndTimestamp(1_700_000_000_100_000_000)
	}
	return td
}

func sampleLogs() plog.Logs {
	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetEventName("kernel.futex_wait")
	lr.SetTimestamp(1_700_000_000_000_000_000)
	return ld
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func collect(t *testing.T, data []byte, name string, sig FileSignal) ([]FileRecord, error) {
	t.Helper()
	var recs []FileRecord
	err := ReadOTLPFile(bytes.NewReader(data), name, sig, func(r FileRecord) error {
		recs = append(recs, r)
		return nil
	})
	return recs, err
}

func TestReadOTLPFileLayouts(t *testing.T) {
	tj, err := ptraceotlp.NewExportRequestFromTraces(sampleTraces(3)).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	lj, err := plogotlp.NewExportRequestFromLogs(sampleLogs()).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	tp, err := ptraceotlp.NewExportRequestFromTraces(sampleTraces(2)).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	lp, err := plogotlp.NewExportRequestFromLogs(sampleLogs()).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	prefixed := func(msgs ...[]byte) []byte {
		var b []byte
		for _, m := range msgs {
			b = binary.BigEndian.AppendUint32(b, uint32(len(m)))
			b = append(b, m...)
		}
		return b
	}
	jsonl := append(append(append(append([]byte{}, tj...), '\n', '\n'), lj...), '\n')
	cases := []struct {
		name      string
		data      []byte
		sig       FileSignal
		wantSpans []int // per record; -1 = a logs record
	}{
		{"mixed.otlp.jsonl", jsonl, FileAuto, []int{3, -1}},
		{"mixed.otlp.jsonl.gz", gz(t, jsonl), FileAuto, []int{3, -1}},
		{"traces.pb", tp, FileAuto, []int{2}},
		{"traces.binpb", prefixed(tp, tp), FileAuto, []int{2, 2}},
		{"kernel.pb.gz", gz(t, prefixed(lp)), FileAuto, []int{-1}},
		{"whatever.pb", lp, FileLogs, []int{-1}},
		{"empty.jsonl", nil, FileAuto, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			recs, err := collect(t, c.data, c.name, c.sig)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != len(c.wantSpans) {
				t.Fatalf("got %d records, want %d", len(recs), len(c.wantSpans))
			}
			for i, r := range recs {
				if c.wantSpans[i] < 0 {
					if !r.IsLogs || r.Logs.LogRecordCount() != 1 {
						t.Errorf("record %d: want 1 log record, got logs=%v", i, r.IsLogs)
					}
					continue
				}
				if r.IsLogs || r.Traces.SpanCount() != c.wantSpans[i] {
					t.Errorf("record %d: got %d spans, want %d", i, r.Traces.SpanCount(), c.wantSpans[i])
				}
			}
		})
	}
}

func TestReadOTLPFileErrorsNameTheRecord(t *testing.T) {
	good, _ := ptraceotlp.NewExportRequestFromTraces(sampleTraces(1)).MarshalJSON()
	data := append(append(append([]byte{}, good...), '\n'), []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"nothex"}]}]}]}`+"\n")...)
	_, err := collect(t, data, "in.jsonl", FileAuto)
	if err == nil || !strings.Contains(err.Error(), "in.jsonl:2") {
		t.Fatalf("want error naming in.jsonl:2, got %v", err)
	}
	_, err = collect(t, []byte(`{"foo": 1}`), "x.jsonl", FileAuto)
	if !errors.Is(err, ErrFileFormat) || !strings.Contains(err.Error(), "x.jsonl:1") {
		t.Fatalf("want ErrFileFormat naming x.jsonl:1, got %v", err)
	}
	_, err = collect(t, []byte{0x0a, 0xff, 0xff}, "junk.pb", FileAuto)
	if err == nil || !strings.Contains(err.Error(), "junk.pb") {
		t.Fatalf("want error naming junk.pb, got %v", err)
	}
	stop := errors.New("stop")
	err = ReadOTLPFile(bytes.NewReader(append(good, '\n')), "s.jsonl", FileAuto, func(FileRecord) error { return stop })
	if !errors.Is(err, stop) {
		t.Fatalf("callback error not returned: %v", err)
	}
}

func FuzzReadOTLPFile(f *testing.F) {
	tj, _ := ptraceotlp.NewExportRequestFromTraces(sampleTraces(2)).MarshalJSON()
	tp, _ := ptraceotlp.NewExportRequestFromTraces(sampleTraces(2)).MarshalProto()
	lp, _ := plogotlp.NewExportRequestFromLogs(sampleLogs()).MarshalProto()
	f.Add(tj, "a.jsonl")
	f.Add(tp, "a.pb")
	f.Add(lp, "kernel.pb")
	f.Add([]byte("\n\n{}\n"), "b.jsonl")
	f.Add(binary.BigEndian.AppendUint32(nil, 5), "c.pb")
	f.Add(deepJSONTraces(MaxValueDepth, true), "deep.jsonl")
	f.Add(deepJSONTraces(2000, false), "deeper.jsonl")
	f.Add([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"Zebulon Winterbottom 4111 1111 1111 1111"}]}]}]}`), "canary.jsonl")
	f.Add([]byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":"alice.canary@example.org"}]}]}]}`), "canary-logs.jsonl")
	for _, pl := range deepPlaces() {
		if pl.traces != nil {
			b, _ := ptraceotlp.NewExportRequestFromTraces(pl.traces(MaxValueDepth/3+1, true)).MarshalJSON()
			f.Add(b, "place.jsonl")
		} else {
			b, _ := plogotlp.NewExportRequestFromLogs(pl.logs(MaxValueDepth/2, false)).MarshalProto()
			f.Add(b, "place-logs.pb")
		}
	}
	conv := testConverter(f)
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		n := 0
		err := ReadOTLPFile(bytes.NewReader(data), name, FileAuto, func(r FileRecord) error {
			n++
			if r.Index < 1 {
				t.Fatalf("record index %d", r.Index)
			}
			// What import does next: the privacy converter must not
			// panic or recurse without bound on anything decoded.
			if r.IsLogs {
				conv.ConvertLogs(r.Logs)
			} else {
				conv.ConvertTraces(r.Traces)
			}
			return nil
		})
		// The error names the file (the caller's own argument), the record
		// and the field path, never the data.
		if err != nil {
			msg := err.Error()
			if name != "" {
				msg = strings.ReplaceAll(msg, name, "\x00")
			}
			if w := echoed(data, msg, 16); w != "" {
				t.Errorf("error %q quotes the file's data: %q", err, w)
			}
		}
	})
}
