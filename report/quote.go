package report

import (
	"cmp"
	"slices"
	"strings"
	"unicode"
)

// Telemetry strings (service, endpoint, version, node, lock and code-site
// names, finding subjects) come from senders, not from us. The renderers
// show them as quoted data: in code spans (Markdown), code marks (ADF) or
// backticks (titles), at most maxData runes each, wherever they appear,
// including inside the summaries and claims that embed them. Prose around
// them is escaped (mdText), and '@' never starts a mention.

// maxData bounds one rendered telemetry string, in runes.
const maxData = 200

// minData is the shortest string quoted inside prose: shorter ones ("a",
// "db") are too likely to be ordinary words.
const minData = 3

// dataStrings returns the report's telemetry strings, longest first.
func dataStrings(r Report) []string {
	var out []string
	add := func(xs ...string) {
		for _, x := range xs {
			if x = strings.TrimSpace(x); len(x) >= minData {
				out = append(out, x)
			}
		}
	}
	l := r.Hypothesis.Location
	add(l.Service, l.Endpoint, l.Version, l.Node, l.Lock, l.CodeSite)
	add(r.Scope.Services...)
	add(r.Affected.Services...)
	add(r.Affected.Endpoints...)
	add(r.Affected.Versions...)
	add(r.Affected.Nodes...)
	for _, s := range r.CodeSites {
		add(s.Site, s.Lock)
	}
	for _, c := range r.Commits {
		add(c.Service, c.Revision, c.Repository)
	}
	for _, f := range r.Findings {
		add(f.Subject)
		if _, endpoint, ok := strings.Cut(f.Subject, "/"); ok {
			add(endpoint) // subjects are "service/endpoint"
		}
	}
	slices.SortFunc(out, func(a, b string) int { return cmp.Or(cmp.Compare(len(b), len(a)), strings.Compare(a, b)) })
	return slices.Compact(out)
}

// segment is a run of prose or of quoted data.
type segment struct {
	text string
	data bool
}

// splitData cuts s into prose and data: the telemetry strings it embeds (the
// longest match first, where they stand alone) and double-quoted strings.
func splitData(s string, data []string) []segment {
	var segs []segment
	start := 0
	for i := 0; i < len(s); {
		match := ""
		if i == 0 || !isWordChar(s[i-1]) || !isWordChar(s[i]) {
			for _, d := range data {
				if strings.HasPrefix(s[i:], d) && (i+len(d) == len(s) || !isWordChar(s[i+len(d)]) || !isWordChar(d[len(d)-1])) {
					match = d
					break
				}
			}
		}
		if match == "" && s[i] == '"' {
			// A double-quoted string is data too: the store's descriptions
			// quote the names they embed (span "GET /x" of svc).
			if j := strings.IndexByte(s[i+1:], '"'); j > 0 {
				if i > start {
					segs = append(segs, segment{text: s[start:i]})
				}
				segs = append(segs, segment{text: s[i+1 : i+1+j], data: true})
				i += j + 2
				start = i
				continue
			}
		}
		if match == "" {
			i++
			continue
		}
		if i > start {
			segs = append(segs, segment{text: s[start:i]})
		}
		segs = append(segs, segment{text: match, data: true})
		i += len(match)
		start = i
	}
	if start < len(s) {
		segs = append(segs, segment{text: s[start:]})
	}
	return segs
}

// fold folds whitespace runs to one space and drops control characters.
func fold(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
}

// noMention breaks "@name" so that no renderer notifies anyone: a zero-width
// space follows every '@'.
func noMention(s string) string { return strings.ReplaceAll(s, "@", "@\u200b") }

// mdProse renders text we wrote around telemetry strings: the strings in
// data become code spans, the rest inert Markdown.
func mdProse(s string, data []string) string {
	var b strings.Builder
	for _, seg := range splitData(fold(s), data) {
		if seg.data {
			b.WriteString(mdCode(seg.text))
		} else {
			b.WriteString(mdEscape(clip(seg.text, maxText)))
		}
	}
	return b.String()
}

// isWordChar reports bytes that continue a word: a telemetry string is
// quoted only where it stands alone, not inside a longer word.
func isWordChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c >= 0x80
}

// titleText renders a one-line title (GitHub issue title, Jira summary):
// telemetry strings in backticks, backticks inside them dropped, mentions
// broken.
func titleText(s string, data []string) string {
	var b strings.Builder
	for _, seg := range splitData(fold(s), data) {
		if seg.data {
			b.WriteString("`" + strings.ReplaceAll(clip(seg.text, maxTitle/4), "`", "") + "`")
		} else {
			b.WriteString(seg.text)
		}
	}
	return oneLine(noMention(b.String()))
}

// adfProse is mdProse for ADF: telemetry strings get a code mark.
func adfProse(s string, data []string) []ADFNode {
	var out []ADFNode
	for _, seg := range splitData(fold(s), data) {
		if seg.data {
			out = append(out, txt(clip(seg.text, maxData), code)...)
		} else {
			out = append(out, txt(clip(seg.text, maxText))...)
		}
	}
	return out
}
