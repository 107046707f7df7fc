package report

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// GitHubIssue is the body of GitHub's "create an issue" request
// (POST /repos/{owner}/{repo}/issues).
type GitHubIssue struct {
	Title  string   `json:"title"`
	Body   string   `json:"body"`
	Labels []string `json:"labels"`
}

// maxTitle bounds issue titles and Jira summaries (Jira's limit is 255).
const maxTitle = 250

// oneLine folds whitespace and clips s for a title.
func oneLine(s string) string { return clip(strings.Join(strings.Fields(s), " "), maxTitle) }

// GitHub returns the issue payload: the report's title, its Markdown as
// the body, and labels "debugai", "debugai: <status>" and
// "pattern: <pattern>".
func GitHub(r Report, opts MarkdownOptions) GitHubIssue {
	labels := []string{"debugai", "debugai: " + string(r.Status)}
	if p := r.Hypothesis.Pattern; p.Valid() {
		labels = append(labels, "pattern: "+string(p))
	}
	return GitHubIssue{Title: titleText(r.Title, dataStrings(r)), Body: Markdown(r, opts), Labels: labels}
}

// JiraIssue is the body of Jira Cloud's "create issue" request
// (POST /rest/api/3/issue).
type JiraIssue struct {
	Fields JiraFields `json:"fields"`
}

// JiraFields are the issue's fields; Description is an ADF document.
type JiraFields struct {
	Project     JiraKey  `json:"project"`
	Summary     string   `json:"summary"`
	Description ADFNode  `json:"description"`
	IssueType   JiraName `json:"issuetype"`
	Labels      []string `json:"labels"`
}

// JiraKey and JiraName reference a Jira entity by key or by name.
type JiraKey struct {
	Key string `json:"key"`
}

// JiraName references a Jira entity by name.
type JiraName struct {
	Name string `json:"name"`
}

// ADFNode is a node of an Atlassian Document Format document. Text nodes
// carry literal text: nothing in Text is interpreted as markup.
type ADFNode struct {
	Type    string         `json:"type"`
	Version int            `json:"version,omitempty"`
	Attrs   map[string]any `json:"attrs,omitempty"`
	Content []ADFNode      `json:"content,omitempty"`
	Text    string         `json:"text,omitempty"`
	Marks   []ADFMark      `json:"marks,omitempty"`
}

// ADFMark formats a text node (code, strong, link).
type ADFMark struct {
	Type  string         `json:"type"`
	Attrs map[string]any `json:"attrs,omitempty"`
}

// JiraOptions configure Jira.
type JiraOptions struct {
	// Project is the project key (required).
	Project string
	// IssueType is the issue type's name (default "Bug").
	IssueType string
}

// Jira returns the create-issue payload: summary from the title, an ADF
// description, labels "debugai", "debugai-<status>" and
// "debugai-pattern-<pattern>" (Jira labels cannot hold spaces).
func Jira(r Report, opts JiraOptions) (JiraIssue, error) {
	if strings.TrimSpace(opts.Project) == "" {
		return JiraIssue{}, fmt.Errorf("%w: jira: no project key", ErrOptions)
	}
	it := opts.IssueType
	if it == "" {
		it = "Bug"
	}
	labels := []string{"debugai", "debugai-" + string(r.Status)}
	if p := r.Hypothesis.Pattern; p.Valid() {
		labels = append(labels, "debugai-pattern-"+string(p))
	}
	return JiraIssue{Fields: JiraFields{Project: JiraKey{opts.Project}, Summary: titleText(r.Title, dataStrings(r)),
		Description: adfReport(r), IssueType: JiraName{it}, Labels: labels}}, nil
}

// ADF builders. txt folds whitespace runs (newlines included) to one
// space, keeping one space at either end when s has one, and drops empty
// text, which is invalid ADF.
func txt(s string, marks ...ADFMark) []ADFNode {
	if s == "" {
		return nil
	}
	t := clip(strings.Join(strings.Fields(s), " "), maxText)
	if t == "" {
		t = " "
	} else {
		if strings.TrimLeftFunc(s, unicode.IsSpace) != s {
			t = " " + t
		}
		if strings.TrimRightFunc(s, unicode.IsSpace) != s {
			t += " "
		}
	}
	return []ADFNode{{Type: "text", Text: t, Marks: marks}}
}

var (
	code   = ADFMark{Type: "code"}
	strong = ADFMark{Type: "strong"}
)

func para(parts ...[]ADFNode) ADFNode {
	n := ADFNode{Type: "paragraph"}
	for _, p := range parts {
		n.Content = append(n.Content, p...)
	}
	return n
}

func heading(level int, s string) ADFNode {
	return ADFNode{Type: "heading", Attrs: map[string]any{"level": level}, Content: txt(s)}
}

func bullets(items ...ADFNode) ADFNode {
	l := ADFNode{Type: "bulletList"}
	for _, it := range items {
		l.Content = append(l.Content, ADFNode{Type: "listItem", Content: []ADFNode{it}})
	}
	return l
}

// adfReport is the report as an ADF document, in Markdown's order.
func adfReport(r Report) ADFNode {
	h := r.Hypothesis
	data := dataStrings(r)
	doc := ADFNode{Type: "doc", Version: 1}
	add := func(ns ...ADFNode) { doc.Content = append(doc.Content, ns...) }
	if r.Status == StatusAccepted {
		add(para(txt("Status: root cause accepted", strong),
			txt(" by the verifier, backed by "+strconv.Itoa(len(r.Verdict.Lines))+" independent evidence lines ("+joinLines(r.Verdict.Lines)+").")))
		add(heading(2, "Root cause"))
	} else {
		add(para(txt("Status: unconfirmed.", strong),
			txt(" The verifier did not accept this hypothesis; it is not a confirmed root cause.")))
		add(heading(2, "Leading hypothesis (unconfirmed)"))
	}
	add(para(adfProse(h.Summary, data)))
	add(para(txt("Pattern "), txt(string(h.Pattern), code), txt(", investigator confidence "+fmtConf(h.Confidence)+
		", window "+fmtTime(r.Scope.SinceNS)+" to "+fmtTime(r.Scope.UntilNS)+" UTC.")))
	add(heading(3, "Claims"))
	var claims []ADFNode
	for _, c := range r.Claims {
		p := para(adfProse(c.Text, data))
		if c.RootCause {
			p.Content = append(p.Content, txt(" (root cause)", strong)...)
		}
		for _, ct := range c.Citations {
			p.Content = append(p.Content, txt(" ")...)
			p.Content = append(p.Content, txt(ct.ID, code)...)
			if !ct.Resolved {
				p.Content = append(p.Content, txt(" unresolved")...)
			}
		}
		claims = append(claims, p)
	}
	add(bullets(claims...))
	add(adfReasons(r)...)
	for _, sec := range [][2]string{{"Risk", h.Risk}, {"Remediation", h.Remediation}} {
		if sec[1] != "" {
			add(para(txt(sec[0]+": ", strong), adfProse(sec[1], data)))
		}
	}
	add(adfTimeline(r)...)
	add(adfAffected(r)...)
	add(para(txt("Generated by debugai (report schema " + Schema + ").")))
	return doc
}

func adfReasons(r Report) []ADFNode {
	if len(r.Reasons) == 0 {
		return nil
	}
	var items []ADFNode
	for _, rs := range r.Reasons {
		p := para(txt(rs.Code, code), txt(": "), adfProse(rs.Detail, dataStrings(r)))
		if rs.Citation != "" {
			p.Content = append(p.Content, txt(" ")...)
			p.Content = append(p.Content, txt(rs.Citation, code)...)
		}
		items = append(items, p)
	}
	return []ADFNode{heading(3, "Verifier's reasons"), bullets(items...)}
}

func adfTimeline(r Report) []ADFNode {
	if len(r.Timeline) == 0 {
		return nil
	}
	var items []ADFNode
	for _, e := range r.Timeline {
		p := para(txt(fmtTime(e.TimeNS)+" ", strong), adfProse(e.Text, dataStrings(r)))
		for _, ct := range e.Citations {
			p.Content = append(p.Content, txt(" ")...)
			p.Content = append(p.Content, txt(ct.ID, code)...)
			if ct.Line != "" {
				p.Content = append(p.Content, txt(" ("+string(ct.Line)+")")...)
			}
		}
		items = append(items, p)
	}
	return []ADFNode{heading(3, "Evidence timeline"), bullets(items...)}
}

func adfAffected(r Report) []ADFNode {
	var items []ADFNode
	a := r.Affected
	for _, kv := range []struct {
		name string
		xs   []string
	}{{"Services", a.Services}, {"Endpoints", a.Endpoints}, {"Versions", a.Versions}, {"Nodes", a.Nodes}} {
		if len(kv.xs) > 0 {
			p := para(txt(kv.name+": ", strong))
			for i, x := range kv.xs {
				if i > 0 {
					p.Content = append(p.Content, txt(", ")...)
				}
				p.Content = append(p.Content, txt(clip(x, maxData), code)...)
			}
			items = append(items, p)
		}
	}
	for _, s := range r.CodeSites {
		items = append(items, para(txt("Code site: ", strong), txt(clip(s.Site, maxData), code)))
	}
	for _, c := range r.Commits {
		var mark []ADFMark
		if c.URL != "" {
			mark = []ADFMark{{Type: "link", Attrs: map[string]any{"href": c.URL}}}
		}
		items = append(items, para(txt("Commit of ", strong), txt(clip(c.Service, maxData), code), txt(": ", strong), txt(clip(c.Revision, maxData), append(mark, code)...)))
	}
	if len(items) == 0 {
		return nil
	}
	return []ADFNode{heading(3, "Affected"), bullets(items...)}
}
