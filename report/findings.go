package report

import (
	"cmp"
	"context"
	"slices"

	"github.com/debugai/debugai/evidence"
)

// buildFindings lists the top stored findings in scope by score (then ID),
// when the reader can list findings.
func buildFindings(ctx context.Context, rs *resolver, rep *Report, opts Options) error {
	fr, ok := rs.r.(evidence.FindingReader)
	if !ok || opts.TopFindings < 0 {
		return nil
	}
	fs, err := fr.Findings(ctx, evidence.FindingFilter{SinceNS: opts.Scope.SinceNS, UntilNS: opts.Scope.UntilNS})
	if err != nil {
		return err
	}
	slices.SortFunc(fs, func(a, b evidence.Finding) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.ID, b.ID))
	})
	cited := set{}
	cited.add(citedIDs(rep)...)
	n := min(opts.TopFindings, len(fs))
	for _, f := range fs[:n] {
		var lines []evidence.Line
		for _, r := range f.Refs {
			lines = append(lines, r.Line)
		}
		slices.Sort(lines)
		rep.Findings = append(rep.Findings, FindingSummary{ID: f.ID, Kind: f.Kind, Subject: f.Subject,
			Summary: f.Summary, Score: f.Score, Confidence: f.Confidence, Lines: slices.Compact(lines), Cited: cited[f.ID]})
	}
	rep.FindingsOmitted = len(fs) - n
	return nil
}
