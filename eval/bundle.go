package eval

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/debugai/debugai/agent/hypothesis"
	"github.com/debugai/debugai/evidence"
)

// ErrNotBundle reports a folder that holds no OTLP files.
var ErrNotBundle = errors.New("not an incident bundle")

// otlpPatterns are the file names a bundle's OTLP files match.
var otlpPatterns = []string{"*.otlp.jsonl.gz", "*.otlp.jsonl", "*.otlp.pb.gz", "*.otlp.pb"}

// Bundle is an incident bundle folder and its OTLP files by role.
type Bundle struct {
	Dir string
	// Baseline files hold a fault-free period ("baseline" in the name).
	Baseline []string
	// Incident files hold the period to explain (incident.*, traces.* or
	// any other OTLP file that is neither baseline nor kernel).
	Incident []string
	// Kernel files hold the node collector's OTLP logs (kernel.*).
	Kernel []string
}

// OpenBundle lists the OTLP files of dir by role. A folder with none is
// ErrNotBundle; a missing folder is the file system's error.
func OpenBundle(dir string) (Bundle, error) {
	b := Bundle{Dir: dir}
	if fi, err := os.Stat(dir); err != nil {
		return b, err
	} else if !fi.IsDir() {
		return b, fmt.Errorf("%s: is a file, not a folder: %w", dir, ErrNotBundle)
	}
	for _, pat := range otlpPatterns {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			return b, fmt.Errorf("%s: %w", dir, err)
		}
		for _, f := range m {
			switch base := strings.ToLower(filepath.Base(f)); {
			case strings.HasPrefix(base, "kernel"):
				b.Kernel = append(b.Kernel, f)
			case strings.Contains(base, "baseline"):
				b.Baseline = append(b.Baseline, f)
			default:
				b.Incident = append(b.Incident, f)
			}
		}
	}
	if len(b.Files()) == 0 {
		return b, fmt.Errorf("%s: no *.otlp.jsonl(.gz) or *.otlp.pb(.gz) files: %w", dir, ErrNotBundle)
	}
	return b, nil
}

// Files returns every OTLP file of the bundle, sorted.
func (b Bundle) Files() []string {
	all := slices.Concat(b.Baseline, b.Incident, b.Kernel)
	slices.Sort(all)
	return all
}

// Name is the bundle's folder name.
func (b Bundle) Name() string { return filepath.Base(filepath.Clean(b.Dir)) }

// Split is how a bundle's traces divide into baseline and incident: by
// the file they come from, whatever their timestamps (a baseline may be
// recorded after the incident, or on another day).
type Split struct {
	// BaselineTraces are the trace ids found in the baseline files (a trace
	// also found in an incident file is an incident trace).
	BaselineTraces map[evidence.TraceID]bool
	// Baseline and Incident are the time ranges the two sets cover: each
	// is a maximal run, in start order, of traces of one set, from its
	// first start to its latest end. They may overlap when the two sets
	// interleave in time; BaselineTraces decides then.
	Baseline, Incident []hypothesis.Window
	// BaselineSpans and IncidentSpans count the spans of each set.
	BaselineSpans, IncidentSpans int
}

// Split reads the bundle's trace files and divides their traces by source.
// A bundle without baseline files has an empty baseline.
func (b Bundle) Split() (Split, error) {
	base, err := readSpans(b.Baseline)
	if err != nil {
		return Split{}, err
	}
	inc, err := readSpans(b.Incident)
	if err != nil {
		return Split{}, err
	}
	sp := Split{BaselineTraces: map[evidence.TraceID]bool{}}
	incTraces := map[evidence.TraceID]bool{}
	for _, s := range inc {
		incTraces[evidence.TraceID(s.trace)] = true
	}
	type ext struct {
		lo, hi int64
		base   bool
	}
	traces := map[evidence.TraceID]*ext{}
	add := func(spans []rawSpan, isBase bool) {
		for _, s := range spans {
			id := evidence.TraceID(s.trace)
			if isBase && incTraces[id] {
				continue
			}
			if isBase {
				sp.BaselineTraces[id] = true
				sp.BaselineSpans++
			} else {
				sp.IncidentSpans++
			}
			e := traces[id]
			if e == nil {
				e = &ext{lo: s.start, hi: s.end, base: isBase}
				traces[id] = e
			}
			e.lo, e.hi = min(e.lo, s.start), max(e.hi, s.end)
		}
	}
	add(base, true)
	add(inc, false)
	exts := make([]ext, 0, len(traces))
	for _, e := range traces {
		exts = append(exts, *e)
	}
	slices.SortFunc(exts, func(a, b ext) int { return cmp.Or(cmp.Compare(a.lo, b.lo), cmp.Compare(a.hi, b.hi)) })
	for i := 0; i < len(exts); {
		w := hypothesis.Window{SinceNS: exts[i].lo, UntilNS: exts[i].hi + 1}
		j := i
		for ; j < len(exts) && exts[j].base == exts[i].base; j++ {
			w.UntilNS = max(w.UntilNS, exts[j].hi+1)
		}
		if exts[i].base {
			sp.Baseline = append(sp.Baseline, w)
		} else {
			sp.Incident = append(sp.Incident, w)
		}
		i = j
	}
	return sp, nil
}
