package tools

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/debugai/debugai/detect/attribution"
	"github.com/debugai/debugai/detect/critpath"
	"github.com/debugai/debugai/detect/explain"
	"github.com/debugai/debugai/detect/lockgraph"
	"github.com/debugai/debugai/detect/patterns"
	"github.com/debugai/debugai/detect/regression"
	"github.com/debugai/debugai/detect/shape"
	"github.com/debugai/debugai/evidence"
)

// FindingKinds lists every detector kind list_findings accepts.
var FindingKinds = append([]string{
	critpath.KindDominant, regression.KindCriticalPathComponent, lockgraph.KindInversion,
	regression.KindKS, regression.KindChangepoint, regression.KindComponentChangepoint,
	regression.KindTrendBreak, attribution.KindAttribution, attribution.KindOverrepresented,
	shape.Kind, explain.Kind,
}, patterns.AllKinds...)

var (
	changepointKinds = []string{regression.KindChangepoint, regression.KindComponentChangepoint, regression.KindTrendBreak}
	compareKinds     = []string{regression.KindKS, attribution.KindAttribution}
)

// maxFindingsScan bounds the findings one call reads before filtering.
const maxFindingsScan = 10_000

// FindingRow is one stored finding, cut to what a model needs first.
type FindingRow struct {
	ID         string  `json:"id" jsonschema:"finding:<hash>; get_evidence resolves it"`
	Kind       string  `json:"kind"`
	Subject    string  `json:"subject"`
	Summary    string  `json:"summary"`
	Score      float64 `json:"score" jsonschema:"share of the incident's change that the finding's location explains (0..1, comparable across kinds; 0: pre-existing or unexplained)"`
	Confidence float64 `json:"confidence" jsonschema:"the detector's confidence in what it describes (0..1)"`
	// Location is service or service/operation where the ranking model
	// placed the finding (a call's network time at the end that loses
	// packets), when it differs from what the subject names.
	Location string `json:"location,omitempty"`
	// Lines are the distinct evidence lines the finding cites.
	Lines []string `json:"lines,omitempty"`
	// Refs are the first cited evidence IDs; RefCount counts them all.
	Refs     []string `json:"refs,omitempty"`
	RefCount int      `json:"ref_count"`
	// Stats holds the detector's numbers, when the tool shows them.
	Stats map[string]float64 `json:"stats,omitempty"`
}

func findingRow(f *evidence.Finding, nrefs int) FindingRow {
	row := FindingRow{ID: f.ID, Kind: f.Kind, Subject: f.Subject, Summary: truncate(f.Summary, 240),
		Score: round3(f.Score), Confidence: round3(f.Confidence), Refs: refIDs(f.Refs, nrefs), RefCount: len(f.Refs)}
	if f.Service != "" {
		row.Location = f.Service
		if f.Operation != "" {
			row.Location += "/" + f.Operation
		}
	}
	seen := map[evidence.Line]bool{}
	for _, r := range f.Refs {
		if !seen[r.Line] {
			seen[r.Line] = true
			row.Lines = append(row.Lines, string(r.Line))
		}
	}
	sort.Strings(row.Lines)
	return row
}

// round3 keeps three significant digits of fractional numbers (JSON
// answers stay short); integers (counts, unix ns) are kept whole.
func round3(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	if v == math.Trunc(v) {
		return v
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 3, 64), 64)
	return r
}

// ListFindingsInput selects stored findings.
type ListFindingsInput struct {
	Kinds         []string `json:"kinds,omitempty" jsonschema:"detector kinds to keep (default: all)"`
	Subject       string   `json:"subject,omitempty" jsonschema:"keep findings whose subject contains this text (case-insensitive), e.g. a service or endpoint"`
	Since         string   `json:"since,omitempty" jsonschema:"keep findings whose data window ends at or after this: RFC 3339 time or a duration before the end of the stored data (10m)"`
	Until         string   `json:"until,omitempty" jsonschema:"keep findings whose data window starts before this (same forms as since)"`
	MinConfidence float64  `json:"min_confidence,omitempty" jsonschema:"keep findings with at least this confidence (0..1)"`
	Limit         int      `json:"limit,omitempty" jsonschema:"rows per page (default 20, at most 100)"`
	Cursor        string   `json:"cursor,omitempty" jsonschema:"next_cursor of the previous page"`
}

// FindingsOutput is a page of findings, highest score first.
type FindingsOutput struct {
	Summary    string       `json:"summary"`
	Total      int          `json:"total" jsonschema:"findings matching the filter"`
	Findings   []FindingRow `json:"findings"`
	NextCursor string       `json:"next_cursor,omitempty"`
}

// ListFindings lists stored detector findings, highest score first (the
// share of the incident's change their location explains), then most
// confident.
func (t *Toolset) ListFindings(ctx context.Context, in ListFindingsInput) (FindingsOutput, error) {
	for _, k := range in.Kinds {
		if err := oneOf("kinds", k, FindingKinds); err != nil {
			return FindingsOutput{}, err
		}
	}
	if in.MinConfidence < 0 || in.MinConfidence > 1 {
		return FindingsOutput{}, argErrorf("min_confidence", "%v: want 0..1", in.MinConfidence)
	}
	q := findingQuery{kinds: in.Kinds, text: in.Subject, since: in.Since, until: in.Until, minConf: in.MinConfidence,
		limit: in.Limit, cursor: in.Cursor, refs: 3}
	return t.queryFindings(ctx, q, "findings")
}

// findingQuery is what list_findings, changepoints and compare_versions
// ask of the stored findings.
type findingQuery struct {
	kinds        []string
	text, text2  string // subject must contain both (case-insensitive)
	since, until string
	minConf      float64
	limit        int
	cursor       string
	refs         int
	stats        bool // include the detector's numbers
	hint         string
}

func (t *Toolset) queryFindings(ctx context.Context, q findingQuery, what string) (FindingsOutput, error) {
	out := FindingsOutput{Findings: []FindingRow{}}
	pg, err := t.pageWith(q.limit, q.cursor, min(t.cfg.DefaultLimit, 10))
	if err != nil {
		return out, err
	}
	w, err := t.window(ctx, q.since, q.until, false)
	if err != nil {
		return out, err
	}
	if t.fr == nil {
		return out, errors.New("this store does not list findings")
	}
	fs, err := t.fr.Findings(ctx, evidence.FindingFilter{Kinds: q.kinds, SinceNS: w.since, UntilNS: w.until, Limit: maxFindingsScan})
	if err != nil {
		return out, fmt.Errorf("reading findings: %w", err)
	}
	fs = slices.DeleteFunc(fs, func(f evidence.Finding) bool {
		subj := strings.ToLower(f.Subject)
		return f.Confidence < q.minConf || !strings.Contains(subj, strings.ToLower(q.text)) ||
			!strings.Contains(subj, strings.ToLower(q.text2))
	})
	slices.SortStableFunc(fs, func(a, b evidence.Finding) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(b.Confidence, a.Confidence), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.ID, b.ID))
	})
	out.Total = len(fs)
	kinds := map[string]int{}
	for i := range fs {
		kinds[fs[i].Kind]++
	}
	for i := pg.offset; i < len(fs) && i < pg.offset+pg.limit; i++ {
		row := findingRow(&fs[i], q.refs)
		if q.stats {
			row.Stats = statsOf(fs[i].Attrs, 8)
		}
		out.Findings = append(out.Findings, row)
	}
	out.NextCursor = pg.next(pg.offset+pg.limit < len(fs))
	out.Summary = findingsSummary(what, out.Total, pg, len(out.Findings), kinds, q.hint)
	return out, nil
}

func findingsSummary(what string, total int, pg page, n int, kinds map[string]int, hint string) string {
	if total == 0 {
		s := "no stored " + what + " match"
		if hint != "" {
			s += "; " + hint
		}
		return s
	}
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(cmp.Compare(kinds[b], kinds[a]), cmp.Compare(a, b)) })
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("%s %d", k, kinds[k])
	}
	s := fmt.Sprintf("%d %s (%s)", total, what, strings.Join(parts, ", "))
	if n > 0 {
		s += fmt.Sprintf("; rows %d-%d, highest score first", pg.offset+1, pg.offset+n)
	}
	return s
}

// statsOf keeps up to n of a finding's numbers, largest magnitude first
// among equals by name, rounded.
func statsOf(attrs map[string]float64, n int) map[string]float64 {
	if len(attrs) == 0 {
		return nil
	}
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(map[string]float64, min(n, len(keys)))
	for _, k := range keys[:min(n, len(keys))] {
		out[k] = round3(attrs[k])
	}
	return out
}

// ChangepointsInput selects stored change points and trend breaks.
type ChangepointsInput struct {
	Series string `json:"series,omitempty" jsonschema:"keep series whose name contains this text, e.g. 'customer GET /customer' or 'p95'"`
	Since  string `json:"since,omitempty" jsonschema:"RFC 3339 time or a duration before the end of the stored data"`
	Until  string `json:"until,omitempty" jsonschema:"RFC 3339 time or a duration before the end of the stored data"`
	Limit  int    `json:"limit,omitempty" jsonschema:"rows per page (default 10, at most 100)"`
	Cursor string `json:"cursor,omitempty" jsonschema:"next_cursor of the previous page"`
}

// Changepoints lists the latency change points, critical-path component
// change points and trend breaks that detect stored; their cp: IDs resolve
// with get_evidence.
func (t *Toolset) Changepoints(ctx context.Context, in ChangepointsInput) (FindingsOutput, error) {
	return t.queryFindings(ctx, findingQuery{kinds: changepointKinds, text: in.Series, since: in.Since, until: in.Until,
		limit: in.Limit, cursor: in.Cursor, refs: 3, stats: true,
		hint: "change points come from `debugai detect` over the window"}, "change points")
}

// CompareVersionsInput selects stored version comparisons.
type CompareVersionsInput struct {
	Endpoint string `json:"endpoint,omitempty" jsonschema:"keep endpoints whose name contains this text, e.g. 'frontend GET /dispatch'"`
	Version  string `json:"version,omitempty" jsonschema:"keep comparisons naming this version (or window label)"`
	Since    string `json:"since,omitempty" jsonschema:"RFC 3339 time or a duration before the end of the stored data"`
	Until    string `json:"until,omitempty" jsonschema:"RFC 3339 time or a duration before the end of the stored data"`
	Limit    int    `json:"limit,omitempty" jsonschema:"rows per page (default 10, at most 100)"`
	Cursor   string `json:"cursor,omitempty" jsonschema:"next_cursor of the previous page"`
}

// CompareVersions lists the stored comparisons between versions (and
// baseline/current windows): two-sample KS tests with Benjamini–Hochberg
// q-values (latency_ks) and the attribution of the latency change to
// critical-path components (latency_attribution), with their numbers.
func (t *Toolset) CompareVersions(ctx context.Context, in CompareVersionsInput) (FindingsOutput, error) {
	return t.queryFindings(ctx, findingQuery{kinds: compareKinds, text: in.Endpoint, text2: in.Version,
		since: in.Since, until: in.Until, limit: in.Limit, cursor: in.Cursor, refs: 3, stats: true,
		hint: "comparisons come from `debugai detect` over data with more than one version (or --baseline-until)"}, "version comparisons")
}
