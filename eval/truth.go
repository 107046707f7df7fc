package eval

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/debugai/debugai/agent/hypothesis"
)

// TruthFile is the name of a bundle's ground-truth file.
const TruthFile = "truth.json"

// NoRootCause is the root_cause_service (and pattern) of a control
// bundle: no bug was switched on.
const NoRootCause = "none"

// Truth is a bundle's ground truth.
type Truth struct {
	// RootCauseService is required; NoRootCause marks a control.
	RootCauseService   string `json:"root_cause_service"`
	RootCauseOperation string `json:"root_cause_operation,omitempty"`
	Pattern            string `json:"pattern,omitempty"`
	Version            string `json:"version,omitempty"`
	// InjectTimeUTC is RFC 3339 or "YYYY-MM-DD HH:MM:SS" (UTC).
	InjectTimeUTC string `json:"inject_time_utc,omitempty"`
	Source        string `json:"source,omitempty"`
	Notes         string `json:"notes,omitempty"`
	// SecondaryCauses are further causes of the incident, each smaller
	// than the root cause (e.g. a lock that queues requests behind a
	// saturated pool); optional.
	SecondaryCauses []Cause `json:"secondary_causes,omitempty"`
	// InjectTime is InjectTimeUTC parsed; zero when absent.
	InjectTime time.Time `json:"-"`
}

// Cause is one secondary cause: a service (required), optionally an
// operation, and a pattern (required, a known one).
type Cause struct {
	Service   string `json:"service"`
	Operation string `json:"operation,omitempty"`
	Pattern   string `json:"pattern"`
}

// Control reports whether the bundle has no root cause to find.
func (t Truth) Control() bool { return strings.EqualFold(t.RootCauseService, NoRootCause) }

// TruthError is a truth.json that does not parse or lacks a field.
type TruthError struct {
	Path  string // file
	Field string // JSON field, "" for a syntax error
	Err   error
}

func (e *TruthError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s: %v", e.Path, e.Err)
	}
	return fmt.Sprintf("%s: field %s: %v", e.Path, e.Field, e.Err)
}

func (e *TruthError) Unwrap() error { return e.Err }

// ReadTruth reads dir's truth.json; it returns nil and no error when the
// bundle has none.
func ReadTruth(dir string) (*Truth, error) {
	path := filepath.Join(dir, TruthFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	t, err := ParseTruth(b)
	var te *TruthError
	if errors.As(err, &te) {
		te.Path = path
	}
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// ParseTruth decodes and checks a truth.json document. Errors are
// *TruthError naming the field.
func ParseTruth(b []byte) (Truth, error) {
	var t Truth
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&t); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return t, &TruthError{Path: TruthFile, Field: te.Field, Err: fmt.Errorf("must be a JSON %s, not %s", jsonKind(te.Type.Kind()), te.Value)}
		}
		return t, &TruthError{Path: TruthFile, Err: fmt.Errorf("not a JSON object: %w", err)}
	}
	t.RootCauseService = strings.TrimSpace(t.RootCauseService)
	if t.RootCauseService == "" {
		return t, &TruthError{Path: TruthFile, Field: "root_cause_service", Err: errors.New(`required (use "none" for a control)`)}
	}
	if t.Pattern != "" && t.Pattern != NoRootCause && !hypothesis.Pattern(t.Pattern).Valid() {
		return t, &TruthError{Path: TruthFile, Field: "pattern", Err: fmt.Errorf("%q is not a known pattern", t.Pattern)}
	}
	for i := range t.SecondaryCauses {
		c := &t.SecondaryCauses[i]
		c.Service = strings.TrimSpace(c.Service)
		field := fmt.Sprintf("secondary_causes[%d]", i)
		switch {
		case c.Service == "" || strings.EqualFold(c.Service, NoRootCause):
			return t, &TruthError{Path: TruthFile, Field: field + ".service", Err: errors.New("required (a service, not \"none\")")}
		case !hypothesis.Pattern(c.Pattern).Valid():
			return t, &TruthError{Path: TruthFile, Field: field + ".pattern", Err: errors.New("required, a known pattern")}
		}
	}
	if len(t.SecondaryCauses) > 0 && t.Control() {
		return t, &TruthError{Path: TruthFile, Field: "secondary_causes", Err: errors.New("a control (root_cause_service \"none\") has no causes")}
	}
	if t.InjectTimeUTC != "" {
		ts, err := parseInjectTime(t.InjectTimeUTC)
		if err != nil {
			return t, &TruthError{Path: TruthFile, Field: "inject_time_utc", Err: err}
		}
		t.InjectTime = ts
	}
	return t, nil
}

// parseInjectTime reads RFC 3339 or "YYYY-MM-DD HH:MM:SS" as UTC.
func parseInjectTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateTime, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor \"YYYY-MM-DD HH:MM:SS\"", s)
}

// jsonKind names a Go kind as JSON does.
func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "string"
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Bool:
		return "boolean"
	default:
		return "number"
	}
}
