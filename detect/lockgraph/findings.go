package lockgraph

import (
	"fmt"
	"strings"
	"time"

	"github.com/debugai/debugai/evidence"
)

// Report is the result of [Analyze].
type Report struct {
	Stats Stats
	// Cycles in the order of [Graph.Cycles], with Impact filled in.
	Cycles []Cycle
	// Truncated reports that Config.MaxCycles cut the enumeration short.
	Truncated bool
}

// Analyze builds the lock graph of edges, enumerates its cycles, computes
// each cycle's impact from waits (nil waits: impact unknown) and returns
// the report and one lock_inversion finding per cycle, in cycle order.
func Analyze(edges []evidence.LockEdge, waits *Waits, cfg Config) (Report, []evidence.Finding, error) {
	if waits != nil {
		if err := waits.Validate(); err != nil {
			return Report{}, nil, fmt.Errorf("lock waits: %w", err)
		}
	}
	g, err := Build(edges, cfg)
	if err != nil {
		return Report{}, nil, err
	}
	cycles, truncated := g.Cycles()
	for i := range cycles {
		cycles[i].Impact = waits.Impact(&cycles[i], cfg.MaxWaitRefs)
	}
	return Report{Stats: g.Stats(), Cycles: cycles, Truncated: truncated}, Findings(cycles, cfg), nil
}

// Findings returns one lock_inversion finding per cycle, in the given
// order. Each cites every edge of the cycle on the lock line and the
// cycle's wait refs (Impact.Refs) on their lines.
//
// Confidence is m/(m+h) for m the observation count of the cycle's weakest
// edge and h Config.ConfidenceHalfCount: an inversion seen once in one
// direction is weak, one seen many times in every direction strong. When
// the impact is known, Score is Confidence*(LatentWeight+Share): the waits
// an inversion costs rank it, and one that costs none (latent: a deadlock
// risk, no latency yet) ranks below any that does, however often it was
// seen; without impact data Score is Confidence.
func Findings(cycles []Cycle, cfg Config) []evidence.Finding {
	out := make([]evidence.Finding, 0, len(cycles))
	for i := range cycles {
		out = append(out, finding(&cycles[i], cfg))
	}
	return out
}

// LatentWeight is the share of time an inversion without waits scores as
// (see [Findings]).
const LatentWeight = 0.05

func finding(c *Cycle, cfg Config) evidence.Finding {
	refs := make([]evidence.Ref, 0, len(c.Edges)+len(c.Impact.Refs))
	for _, e := range c.Edges {
		refs = append(refs, evidence.Ref{ID: e.EvidenceID, Line: evidence.LineLock})
	}
	refs = append(refs, c.Impact.Refs...)
	refs = sortRefs(refs)

	m := float64(c.MinCount)
	conf := m / (m + float64(cfg.ConfidenceHalfCount))
	score := conf
	attrs := map[string]float64{
		"locks":        float64(len(c.Locks)),
		"count":        float64(c.Count),
		"min_count":    float64(c.MinCount),
		"first_ns":     float64(c.FirstNS),
		"last_ns":      float64(c.LastNS),
		"impact_known": 0,
	}
	if im := c.Impact; im.Known {
		score = conf * (LatentWeight + im.Share)
		attrs["impact_known"] = 1
		attrs["share"] = im.Share
		attrs["wait_ns"] = float64(im.WaitNS)
		attrs["total_ns"] = float64(im.TotalNS)
	}
	subject := c.Subject()
	return evidence.Finding{
		ID:         evidence.NewFindingID(KindInversion, subject, refs),
		Kind:       KindInversion,
		Subject:    subject,
		Summary:    summary(c),
		Score:      score,
		Confidence: conf,
		Refs:       refs,
		Attrs:      attrs,
	}
}

func summary(c *Cycle) string {
	var b strings.Builder
	fmt.Fprintf(&b, "lock-order inversion %s:", c.Subject())
	for i, e := range c.Edges {
		if i > 0 {
			b.WriteByte(';')
		}
		fmt.Fprintf(&b, " %s->%s %dx", e.From, e.To, e.Count)
		if len(e.Sites) > 0 {
			s := e.Sites[0]
			fmt.Fprintf(&b, " (held at %s, acquiring at %s", orUnknown(s.Held), orUnknown(s.Acquiring))
			if more := len(e.Sites) - 1 + e.MoreSites; more > 0 {
				fmt.Fprintf(&b, ", +%d more site pairs", more)
			}
			b.WriteByte(')')
		}
	}
	if im := c.Impact; im.Known {
		fmt.Fprintf(&b, "; waits on these locks are %.1f%% of %v", 100*im.Share, roundDur(im.TotalNS))
	} else {
		b.WriteString("; wait impact unknown (no wait data)")
	}
	return b.String()
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown site"
	}
	return s
}

// roundDur rounds to a readable precision (1.052s, 12.3ms).
func roundDur(ns int64) time.Duration {
	d := time.Duration(ns)
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}
