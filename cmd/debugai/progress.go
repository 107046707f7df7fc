package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/term"
)

// progressBar draws "[=====     ] 52%  13.1/25.0 MB" on a terminal, at most
// ten times a second. On anything else it stays silent.
type progressBar struct {
	w     io.Writer
	on    bool
	total int64
	read  atomic.Int64
	last  time.Time
}

func newProgress(w io.Writer, mode string, total int64) *progressBar {
	on := mode == "always"
	if mode == "auto" {
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			on = true
		}
	}
	return &progressBar{w: w, on: on && total > 0, total: total}
}

type countingReader struct {
	r   io.Reader
	bar *progressBar
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.bar.add(int64(n))
	return n, err
}

func (p *progressBar) reader(r io.Reader) io.Reader {
	if !p.on {
		return r
	}
	return countingReader{r: r, bar: p}
}

func (p *progressBar) add(n int64) {
	done := p.read.Add(n)
	if now := time.Now(); now.Sub(p.last) >= 100*time.Millisecond || done >= p.total {
		p.last = now
		p.draw(done)
	}
}

func (p *progressBar) draw(done int64) {
	frac := min(float64(done)/float64(p.total), 1)
	const width = 30
	n := int(frac * width)
	fmt.Fprintf(p.w, "\r[%s%s] %3.0f%%  %.1f/%.1f MB read", strings.Repeat("=", n), strings.Repeat(" ", width-n), frac*100, float64(done)/1e6, float64(p.total)/1e6)
}

func (p *progressBar) done() {
	if p.on {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
