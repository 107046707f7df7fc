package hypothesis

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func valid() Hypothesis {
	return Hypothesis{Schema: Schema, Summary: "s", Pattern: LockConvoy, Confidence: 0.5,
		Claims: []Claim{{Text: "t", Citations: []string{"span:01/02"}, RootCause: true}}}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Hypothesis)
		want string
	}{
		{"ok", func(*Hypothesis) {}, ""},
		{"schema", func(h *Hypothesis) { h.Schema = "v0" }, "schema"},
		{"summary", func(h *Hypothesis) { h.Summary = " " }, "empty summary"},
		{"pattern", func(h *Hypothesis) { h.Pattern = "deadlock" }, `unknown pattern "deadlock"`},
		{"confidence", func(h *Hypothesis) { h.Confidence = 1.5 }, "confidence"},
		{"nan", func(h *Hypothesis) { h.Confidence = math.NaN() }, "confidence"},
		{"no claims", func(h *Hypothesis) { h.Claims = nil }, "no claims"},
		{"no citations", func(h *Hypothesis) { h.Claims[0].Citations = nil }, "claim 0: no citations"},
		{"no root", func(h *Hypothesis) { h.Claims[0].RootCause = false }, "root_cause"},
	} {
		h := valid()
		tc.edit(&h)
		err := h.Validate()
		if (tc.want == "") != (err == nil) || err != nil && (!strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalid)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	h := valid()
	h.Location = Location{Service: "bank", Lock: "main.mu", CodeSite: "main.f main.go:3"}
	h.Timeline = []TimelineEntry{{TimeNS: 5, Text: "deploy", Citation: "res:1"}}
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"schema":"debugai.hypothesis/v1"`) || !strings.Contains(string(b), `"root_cause":true`) {
		t.Errorf("JSON %s", b)
	}
	var back Hypothesis
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, h) {
		t.Errorf("round trip %+v, %v", back, err)
	}
}
