package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
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
