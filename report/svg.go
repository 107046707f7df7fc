package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/debugai/debugai/evidence"
)

// ErrNoChart reports a chart the report has no data for.
var ErrNoChart = errors.New("report has no data for this chart")

// lineColors are the fill colors of kernel evidence lines, in legend order.
var lineColors = []struct {
	line  evidence.Line
	class string
	color string
	label string
}{
	{evidence.LineKernelFutex, "futex", "#d62728", "futex wait"},
	{evidence.LineKernelSched, "sched", "#ff7f0e", "run queue / off-CPU"},
	{evidence.LineKernelBlock, "block", "#1f77b4", "block I/O"},
	{evidence.LineKernelTCP, "tcp", "#9467bd", "TCP retransmit"},
	{evidence.LineKernelFault, "fault", "#2ca02c", "major page fault"},
}

func lineClass(l evidence.Line) string {
	for _, c := range lineColors {
		if c.line == l {
			return c.class
		}
	}
	return "other"
}

// svg accumulates an SVG document. Numbers are written with one decimal
// and all text is XML-escaped, so output is deterministic and well formed.
type svg struct{ b bytes.Buffer }

// num formats a coordinate with one fixed decimal.
func num(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

// esc escapes text for XML character data and attribute values; invalid
// XML characters become U+FFFD.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder does not fail
	return b.String()
}

// clip shortens s to n runes, marking the cut with "…".
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:max(n-1, 0)]) + "…"
}

func (w *svg) open(width, height float64, title, style string) {
	fmt.Fprintf(&w.b, `<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" role="img" font-family="sans-serif" font-size="11">`+"\n",
		num(width), num(height), num(width), num(height))
	fmt.Fprintf(&w.b, "<title>%s</title>\n<style>%s</style>\n", esc(title), style)
	fmt.Fprintf(&w.b, `<rect x="0" y="0" width="%s" height="%s" fill="#ffffff"/>`+"\n", num(width), num(height))
}

func (w *svg) close() []byte {
	w.b.WriteString("</svg>\n")
	return w.b.Bytes()
}

// rect draws a rectangle with an optional tooltip.
func (w *svg) rect(x, y, width, height float64, class, tip string) {
	fmt.Fprintf(&w.b, `<rect class="%s" x="%s" y="%s" width="%s" height="%s"`, esc(class), num(x), num(y), num(width), num(height))
	if tip == "" {
		w.b.WriteString("/>\n")
		return
	}
	fmt.Fprintf(&w.b, "><title>%s</title></rect>\n", esc(tip))
}

// text draws escaped text; anchor is start, middle or end.
func (w *svg) text(x, y float64, anchor, class, s string) {
	fmt.Fprintf(&w.b, `<text class="%s" x="%s" y="%s" text-anchor="%s">%s</text>`+"\n",
		esc(class), num(x), num(y), anchor, esc(s))
}

func (w *svg) line(x1, y1, x2, y2 float64, class string) {
	fmt.Fprintf(&w.b, `<line class="%s" x1="%s" y1="%s" x2="%s" y2="%s"/>`+"\n",
		esc(class), num(x1), num(y1), num(x2), num(y2))
}

// legend draws colored boxes with labels from x, y to the right.
func (w *svg) legend(x, y float64, items [][2]string) {
	for _, it := range items {
		w.rect(x, y-9, 10, 10, it[0], "")
		w.text(x+14, y, "start", "legend", it[1])
		x += 28 + 6.2*float64(utf8.RuneCountInString(it[1]))
	}
}

const timelineStyle = `.title{font-size:13px;font-weight:bold}.axis,.legend,.label{fill:#333}` +
	`.grid{stroke:#e0e0e0;stroke-width:1}.span{fill:#c7c7c7}.crit{fill:#404040}` +
	`.futex{fill:#d62728}.sched{fill:#ff7f0e}.block{fill:#1f77b4}.tcp{fill:#9467bd}.fault{fill:#2ca02c}.other{fill:#7f7f7f}`

// Timeline chart layout, in px.
const (
	tlWidth   = 960.0
	tlPlotX0  = 310.0
	tlPlotX1  = 940.0
	tlTop     = 52.0
	tlRowH    = 20.0
	tlBarH    = 12.0
	tlLabelCh = 44 // label characters at depth 0
)

// TimelineSVG draws the kernel-overlay timeline of the report's exemplar
// trace: one row per span (a grey bar; the critical path as a dark strip
// under it) with the kernel waits joined to it as colored segments, on an
// axis relative to the trace's start. Every element's tooltip names its
// evidence ID.
func TimelineSVG(r Report) ([]byte, error) {
	c := r.Charts.Timeline
	if c == nil || len(c.Rows) == 0 {
		return nil, fmt.Errorf("overlay timeline: %w", ErrNoChart)
	}
	span := float64(max(c.EndNS-c.StartNS, 1))
	x := func(t int64) float64 { return tlPlotX0 + float64(t-c.StartNS)/span*(tlPlotX1-tlPlotX0) }
	plotBottom := tlTop + float64(len(c.Rows))*tlRowH
	height := plotBottom + 64
	var w svg
	w.open(tlWidth, height, "Kernel overlay of trace "+c.TraceID, timelineStyle)
	w.text(10, 20, "start", "title", "Kernel overlay timeline of trace "+c.TraceID+" ("+fmtDur(c.EndNS-c.StartNS)+")")
	for i := 0; i <= 5; i++ {
		tx := tlPlotX0 + float64(i)/5*(tlPlotX1-tlPlotX0)
		w.line(tx, tlTop-8, tx, plotBottom, "grid")
		label := "0"
		if i > 0 {
			label = "+" + fmtDur(int64(span*float64(i)/5))
		}
		w.text(tx, tlTop-12, "middle", "axis", label)
	}
	for i, row := range c.Rows {
		y := tlTop + float64(i)*tlRowH + 2
		label := clip(row.Service+": "+row.Name, tlLabelCh-row.Depth*2)
		w.text(8+float64(row.Depth)*12, y+10, "start", "label", label)
		x0, x1 := x(row.StartNS), x(row.EndNS)
		w.rect(x0, y, max(x1-x0, 1), tlBarH, "span",
			row.ID+" "+row.Service+": "+row.Name+" ("+fmtDur(row.EndNS-row.StartNS)+")")
		for _, iv := range row.Critical {
			a, b := x(iv.StartNS), x(iv.EndNS)
			w.rect(a, y+tlBarH+1, max(b-a, 0.5), 3, "crit", "")
		}
		for _, wt := range row.Waits {
			a, b := x(wt.StartNS), x(wt.EndNS)
			w.rect(min(a, b-1.5), y, max(b-a, 1.5), tlBarH, lineClass(wt.Line),
				wt.ID+" "+string(wt.Type)+" "+fmtDur(wt.EndNS-wt.StartNS))
		}
	}
	items := [][2]string{{"span", "span"}, {"crit", "critical path"}}
	for _, lc := range lineColors {
		items = append(items, [2]string{lc.class, lc.label})
	}
	w.legend(10, plotBottom+26, items)
	if c.SpansOmitted > 0 {
		w.text(10, plotBottom+48, "start", "legend", strconv.Itoa(c.SpansOmitted)+" more spans not drawn")
	}
	return w.close(), nil
}
