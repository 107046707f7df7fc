package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// MaxValueDepth bounds how deeply an attribute value or a log body may nest
// (kvlist and array values), counted in messages the way the OTLP protobuf
// decoder counts them: an attribute's KeyValue is 1, its AnyValue 2, a
// kvlist inside it 3, that kvlist's KeyValue 4, and so on; a log body starts
// at its AnyValue. pdata's protobuf decoder refuses the 101st message of such
// a chain; the JSON decoder has no limit of its own and recurses once per
// level, so a body nested a million levels deep overflows the stack.
// checkJSONDepth applies the same limit to OTLP/JSON before decoding.
const MaxValueDepth = 100

// maxJSONNesting bounds objects and arrays nested anywhere in an OTLP/JSON
// body. The deepest valid nesting is a span event's or link's attribute
// value at MaxValueDepth: about 12 containers down to the attributes and
// 1.5 containers per protobuf level below them (arrays add one every other
// level), under 170 in all. Unknown fields nest freely in JSON, so the bound
// also caps what the decoder skips.
const maxJSONNesting = 256

// ErrTooDeep reports an OTLP/JSON body nested deeper than the protobuf
// decoder allows (MaxValueDepth) or than any valid body nests.
var ErrTooDeep = errors.New("nested too deeply")

// jsonFrame is one open object or array of checkJSONDepth's scan.
type jsonFrame struct {
	obj   bool
	chain int // protobuf messages of the value chain so far; -1 outside a value
}

// checkJSONDepth scans an OTLP/JSON body, without recursion, for nesting the
// protobuf decoder would refuse: a value chain (objects under an
// "attributes" array, or under a "body" key) deeper than MaxValueDepth, or
// containers deeper than maxJSONNesting anywhere. It reads structure only:
// strings are skipped (keys are compared after unescaping), and malformed
// JSON is left to the decoder. The error names the JSON path by keys, never
// a value.
func checkJSONDepth(b []byte) error {
	var (
		stack      []jsonFrame
		key        []byte // the last string, a key when ':' follows
		afterColon bool
		pendingKey string
	)
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch c {
		case '"':
			j := i + 1
			esc := false
			for ; j < len(b); j++ {
				if b[j] == '\\' {
					esc = true
					j++
					continue
				}
				if b[j] == '"' {
					break
				}
			}
			if j >= len(b) {
				return nil // unterminated: the decoder reports it
			}
			key = b[i+1 : j]
			if esc {
				var s string
				if json.Unmarshal(b[i:j+1], &s) == nil {
					key = []byte(s)
				}
			}
			i = j
			afterColon = false
		case ':':
			pendingKey = string(key)
			afterColon = true
		case '{', '[':
			parent := jsonFrame{chain: -1}
			if n := len(stack); n > 0 {
				parent = stack[n-1]
			}
			k := ""
			if afterColon {
				k = pendingKey
			}
			// Inside a chain every object is one more message (arrays are
			// repeated fields of the message around them); a chain starts
			// at an "attributes" array or a "body" object. A key of either
			// name inside a chain is an unknown field, which the decoder
			// skips, so it does not restart the count.
			f := jsonFrame{obj: c == '{', chain: -1}
			switch {
			case parent.chain >= 0 && f.obj:
				f.chain = parent.chain + 1
			case parent.chain >= 0:
				f.chain = parent.chain
			case k == "attributes" && !f.obj:
				f.chain = 0
			case k == "body" && f.obj:
				f.chain = 1
			}
			if f.chain > MaxValueDepth {
				return fmt.Errorf("attribute value or log body: more than %d levels of kvlist or array values: %w", MaxValueDepth, ErrTooDeep)
			}
			if len(stack) >= maxJSONNesting {
				return fmt.Errorf("more than %d levels of objects and arrays: %w", maxJSONNesting, ErrTooDeep)
			}
			stack = append(stack, f)
			afterColon = false
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			afterColon = false
		case ' ', '\t', '\r', '\n':
		default:
			afterColon = false
		}
	}
	return nil
}

// unmarshalTracesJSON decodes an OTLP/JSON trace export request after
// checking its nesting.
func unmarshalTracesJSON(b []byte) (ptrace.Traces, error) {
	if err := checkJSONDepth(b); err != nil {
		return ptrace.Traces{}, err
	}
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalJSON(b); err != nil {
		return ptrace.Traces{}, jsonError(b, err)
	}
	return req.Traces(), nil
}

// unmarshalLogsJSON decodes an OTLP/JSON logs export request after checking
// its nesting.
func unmarshalLogsJSON(b []byte) (plog.Logs, error) {
	if err := checkJSONDepth(b); err != nil {
		return plog.Logs{}, err
	}
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalJSON(b); err != nil {
		return plog.Logs{}, jsonError(b, err)
	}
	return req.Logs(), nil
}

// UnmarshalJSONRequest decodes an OTLP/JSON export request body into req
// (a ptraceotlp or plogotlp ExportRequest) after the nesting check that
// keeps the decoder's recursion bounded. Its errors name the field path and
// the reason, never a value of the body.
func UnmarshalJSONRequest(b []byte, req interface{ UnmarshalJSON([]byte) error }) error {
	if err := checkJSONDepth(b); err != nil {
		return err
	}
	if err := req.UnmarshalJSON(b); err != nil {
		return jsonError(b, err)
	}
	return nil
}

// ErrMalformedJSON reports an OTLP/JSON body the decoder refused.
var ErrMalformedJSON = errors.New("malformed OTLP/JSON")

// The JSON decoder's errors quote the input around the error ("...|<20
// bytes>|..., bigger context ...|<100 bytes>|...") and parse errors quote
// the offending value: payloads, which must not reach a client's error
// body, a Collector's log or import's stderr.
var (
	quotedRE  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	foundAtRE = regexp.MustCompile(`, error found in #(\d+) byte of \.\.\.\|`)
)

// jsonError turns a decoder error on body into one that names the field
// path (OTLP field names and indexes only) and the reason, never a value.
func jsonError(body []byte, err error) error {
	msg := err.Error()
	reason, path := "invalid JSON", "" // an error of unknown form is not shown
	if m := foundAtRE.FindStringSubmatchIndex(msg); m != nil {
		reason = msg[:m[0]]
		rest := msg[m[1]:]
		if end := strings.Index(rest, "|..., bigger context ...|"); end >= 0 {
			peek := []byte(rest[:end])
			back, _ := strconv.Atoi(msg[m[2]:m[3]])
			if len(peek) > 0 && bytes.Count(body, peek) == 1 {
				path = jsonPath(body, bytes.Index(body, peek)+back)
			}
		}
	}
	reason = quotedRE.ReplaceAllString(reason, `"..."`)
	if i := strings.Index(reason, ", but found"); i >= 0 {
		reason = reason[:i]
	}
	if len(reason) > 120 {
		reason = reason[:120] + "..."
	}
	if i := strings.IndexByte(strings.ReplaceAll(reason, `"..."`, "....."), '"'); i >= 0 {
		reason = reason[:i] // an unbalanced quote: what follows may be input
	}
	if path == "" {
		path = "(position not shown)"
	}
	return fmt.Errorf("at %s: %s: %w", path, reason, ErrMalformedJSON)
}

// otlpJSONFields are the OTLP/JSON field names a path may show; any other
// key (an unknown field, possibly sender text) shows as "?".
var otlpJSONFields = func() map[string]bool {
	m := map[string]bool{}
	for _, f := range strings.Fields(`resourceSpans resourceLogs resource scopeSpans scopeLogs scope spans logRecords
		schemaUrl attributes droppedAttributesCount entityRefs name version traceId spanId parentSpanId traceState flags
		kind startTimeUnixNano endTimeUnixNano events droppedEventsCount links droppedLinksCount status code message
		timeUnixNano observedTimeUnixNano severityNumber severityText body eventName key value stringValue boolValue
		intValue doubleValue arrayValue kvlistValue bytesValue values`) {
		m[f] = true
	}
	return m
}()

// jsonPath returns the path of known field names and array indexes at
// offset pos of an OTLP/JSON body, e.g. resourceSpans[0].scopeSpans[0].
// spans[3].attributes[1].value.intValue.
func jsonPath(b []byte, pos int) string {
	type frame struct {
		obj   bool
		key   string
		index int
	}
	var (
		stack []frame
		last  string
	)
	pos = min(pos, len(b))
	for i := 0; i < pos; i++ {
		switch b[i] {
		case '"':
			j := i + 1
			for ; j < len(b) && b[j] != '"'; j++ {
				if b[j] == '\\' {
					j++
				}
			}
			last = "?"
			if j < len(b) && otlpJSONFields[string(b[i+1:j])] {
				last = string(b[i+1 : j])
			}
			i = j
		case ':':
			if n := len(stack); n > 0 && stack[n-1].obj {
				stack[n-1].key = last
			}
		case '{', '[':
			stack = append(stack, frame{obj: b[i] == '{'})
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case ',':
			if n := len(stack); n > 0 {
				if stack[n-1].obj {
					stack[n-1].key = ""
				} else {
					stack[n-1].index++
				}
			}
		}
	}
	var sb strings.Builder
	for _, f := range stack {
		switch {
		case !f.obj:
			fmt.Fprintf(&sb, "[%d]", f.index)
		case f.key != "":
			if sb.Len() > 0 {
				sb.WriteByte('.')
			}
			sb.WriteString(f.key)
		}
	}
	if sb.Len() == 0 {
		return "the top level"
	}
	return sb.String()
}

// headerToken quotes a request header or path for an error message when it
// looks like protocol metadata (a short media type, encoding or path), and
// shows nothing of it otherwise.
func headerToken(s string) string {
	if len(s) > 64 {
		return "(not shown)"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("/._+-;= ", c) >= 0) {
			return "(not shown)"
		}
	}
	return strconv.Quote(s)
}
