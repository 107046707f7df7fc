package ingest

import (
	"encoding/json"
	"errors"
	"fmt"

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
		return ptrace.Traces{}, err
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
		return plog.Logs{}, err
	}
	return req.Logs(), nil
}
