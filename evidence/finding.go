package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Attribute keys every scored finding carries (see docs/ranking.md).
const (
	// AttrExplainedShare is the share of the incident's change (critical-path
	// time and trace shape, against the baseline) that the finding's
	// location explains, in [0, 1].
	AttrExplainedShare = "explained_share"
	// AttrPreExisting is 1 when what the finding describes is as present in
	// the baseline as in the incident: a standing pattern, not a cause.
	AttrPreExisting = "pre_existing"
)

// Finding is one detector result: a claim about a subject (a service, an
// operation, a lock, ...) that cites the stored evidence behind it. Every
// detector family under detect/ returns this type.
type Finding struct {
	// ID is "finding:<hash>", derived by NewFindingID from Kind, Subject
	// and Refs, so re-running a detector on the same data yields the same ID.
	ID string `json:"id"`
	// Kind names the detector result, e.g. "critical_path_dominant".
	Kind string `json:"kind"`
	// Subject is what the finding is about, e.g. "mysql/SQL SELECT".
	Subject string `json:"subject"`
	// Summary is one human-readable sentence.
	Summary string `json:"summary"`
	// Score ranks findings of one Kind (higher is stronger); its scale is
	// the detector's (documented there).
	Score float64 `json:"score"`
	// Confidence is in [0, 1].
	Confidence float64 `json:"confidence"`
	// Refs cite the evidence; each Ref names its line.
	Refs []Ref `json:"refs"`
	// Attrs holds the detector's numbers (shares, durations, counts).
	Attrs map[string]float64 `json:"attrs,omitempty"`
	// StartNS and EndNS bound the data the finding was computed from (unix
	// ns; 0 when unknown). They are not part of ID: the same evidence
	// analysed within a wider window is the same finding.
	StartNS int64 `json:"start_ns,omitempty"`
	EndNS   int64 `json:"end_ns,omitempty"`
	// Service and Operation are where the ranking model (detect/explain)
	// placed the finding: the location whose change it is evidence of,
	// which may differ from the one the subject names (a retransmit tail
	// seen on a caller's call is about the callee whose packets are lost).
	// Empty when the finding was not ranked. Not part of ID.
	Service   string `json:"service,omitempty"`
	Operation string `json:"operation,omitempty"`
}

// ErrBadFinding reports a finding that cannot be stored (see
// Finding.Validate).
var ErrBadFinding = errors.New("invalid finding")

// Validate reports why a finding cannot be stored: an ID without the
// "finding:" prefix, an empty Kind, a Confidence outside [0, 1], a
// non-finite Score or attribute, a ref without an ID or line, or an
// EndNS before StartNS. The error wraps ErrBadFinding.
func (f *Finding) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("finding %q: %s: %w", f.ID, fmt.Sprintf(format, args...), ErrBadFinding)
	}
	switch {
	case IDKind(f.ID) != "finding" || len(f.ID) == len("finding:"):
		return bad("id must be finding:<hash>")
	case f.Kind == "":
		return bad("empty kind")
	case !(f.Confidence >= 0 && f.Confidence <= 1):
		return bad("confidence %v outside [0, 1]", f.Confidence)
	case math.IsNaN(f.Score) || math.IsInf(f.Score, 0):
		return bad("score %v is not finite", f.Score)
	case f.EndNS != 0 && f.EndNS < f.StartNS:
		return bad("end %d before start %d", f.EndNS, f.StartNS)
	}
	for k, v := range f.Attrs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return bad("attr %q = %v is not finite", k, v)
		}
	}
	for i, r := range f.Refs {
		if r.ID == "" || r.Line == "" {
			return bad("ref %d (%q) needs an id and a line", i, r.ID)
		}
	}
	return nil
}

// ChangePointEvidenceID formats cp:<series>@<t>: a change of the named
// series (e.g. "customer GET /customer p50") at t, written as RFC 3339 UTC
// with nanoseconds.
func ChangePointEvidenceID(series string, tNS int64) string {
	return "cp:" + series + "@" + time.Unix(0, tNS).UTC().Format(time.RFC3339Nano)
}

// KSEvidenceID formats ks:<endpoint>/<a>..<b>: a two-sample
// Kolmogorov–Smirnov test of an endpoint's latency between group a
// (a version, or a window label) and group b.
func KSEvidenceID(endpoint, a, b string) string {
	return "ks:" + endpoint + "/" + a + ".." + b
}

// NewFindingID returns "finding:<hash>" for a kind, a subject and the cited
// refs. The hash does not depend on the order of refs or on repeated refs.
func NewFindingID(kind, subject string, refs []Ref) string {
	sorted := slices.Clone(refs)
	slices.SortFunc(sorted, func(a, b Ref) int {
		if c := strings.Compare(string(a.Line), string(b.Line)); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	sorted = slices.Compact(sorted)
	h := sha256.New()
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write([]byte(subject))
	h.Write([]byte{0})
	for _, r := range sorted {
		h.Write([]byte(r.Line))
		h.Write([]byte{0})
		h.Write([]byte(r.ID))
		h.Write([]byte{0})
	}
	return "finding:" + hex.EncodeToString(h.Sum(nil)[:12])
}
