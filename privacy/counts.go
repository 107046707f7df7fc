package privacy

import (
	"cmp"
	"slices"

	"github.com/debugai/debugai/evidence"
)

var (
	knownSources = [...]Source{SourceResource, SourceSpan, SourceSpanEvent, SourceLog, SourceKernel}
	knownActions = [...]Action{ActionKeep, ActionTokenize, ActionNormalize, ActionDrop, ActionRedact, ActionTruncate}
)

func sourceIndex(s Source) int {
	switch s {
	case SourceResource:
		return 0
	case SourceSpan:
		return 1
	case SourceSpanEvent:
		return 2
	case SourceLog:
		return 3
	case SourceKernel:
		return 4
	}
	return -1
}

func actionIndex(a Action) int {
	switch a {
	case ActionKeep:
		return 0
	case ActionTokenize:
		return 1
	case ActionNormalize:
		return 2
	case ActionDrop:
		return 3
	case ActionRedact:
		return 4
	case ActionTruncate:
		return 5
	}
	return -1
}

// keyCounts holds the counts of one key for every known source and action.
type keyCounts [len(knownSources)][len(knownActions)]int64

type countKey struct {
	src Source
	key string
	act Action
}

// Counts accumulates audit counts per (source, key, action) for one batch.
// A nil *Counts is a valid sink that counts nothing; the zero value is ready
// for use. Counts is not safe for concurrent use: use one per request and
// [Counts.Merge] them.
type Counts struct {
	byKey map[string]*keyCounts // known sources and actions: one string hash per Add
	other map[countKey]int64    // anything else
	limit int                   // distinct keys named at most; 0: no limit
}

// NewCounts returns an empty Counts without a limit on distinct keys.
func NewCounts() *Counts { return &Counts{byKey: make(map[string]*keyCounts, 32)} }

// NewCountsLimit returns an empty Counts that names at most limit distinct
// keys: counts on further keys are added under [KeyAuditOverCap], so that a
// request with many attribute keys writes a bounded number of audit rows.
func NewCountsLimit(limit int) *Counts {
	return &Counts{byKey: make(map[string]*keyCounts, 32), limit: limit}
}

// Add counts n decisions of action a on key from src.
func (c *Counts) Add(src Source, key string, a Action, n int64) {
	if c == nil || n == 0 {
		return
	}
	if c.limit > 0 && key != KeyAuditOverCap && c.byKey[key] == nil && len(c.byKey)+len(c.other) >= c.limit-1 {
		key = KeyAuditOverCap
	}
	si, ai := sourceIndex(src), actionIndex(a)
	if si < 0 || ai < 0 {
		if c.other == nil {
			c.other = make(map[countKey]int64)
		}
		c.other[countKey{src, key, a}] += n
		return
	}
	p := c.byKey[key]
	if p == nil {
		if c.byKey == nil {
			c.byKey = make(map[string]*keyCounts, 32)
		}
		p = new(keyCounts)
		c.byKey[key] = p
	}
	p[si][ai] += n
}

// Merge adds every count of o to c.
func (c *Counts) Merge(o *Counts) {
	if c == nil || o == nil {
		return
	}
	o.each(func(src Source, key string, a Action, n int64) { c.Add(src, key, a, n) })
}

func (c *Counts) each(fn func(Source, string, Action, int64)) {
	for key, p := range c.byKey {
		for si := range p {
			for ai, n := range p[si] {
				if n != 0 {
					fn(knownSources[si], key, knownActions[ai], n)
				}
			}
		}
	}
	for k, n := range c.other {
		if n != 0 {
			fn(k.src, k.key, k.act, n)
		}
	}
}

// Len returns the number of distinct (source, key, action) rows.
func (c *Counts) Len() int {
	if c == nil {
		return 0
	}
	n := 0
	c.each(func(Source, string, Action, int64) { n++ })
	return n
}

// Get returns the count for one (source, key, action) row.
func (c *Counts) Get(src Source, key string, a Action) int64 {
	if c == nil {
		return 0
	}
	si, ai := sourceIndex(src), actionIndex(a)
	if si < 0 || ai < 0 {
		return c.other[countKey{src, key, a}]
	}
	if p := c.byKey[key]; p != nil {
		return p[si][ai]
	}
	return 0
}

// Entries returns the counts as audit rows sorted by source, key and action.
func (c *Counts) Entries() []evidence.AuditCount {
	if c == nil {
		return nil
	}
	var out []evidence.AuditCount
	c.each(func(src Source, key string, a Action, n int64) {
		out = append(out, evidence.AuditCount{Source: string(src), Key: key, Action: string(a), Count: n})
	})
	slices.SortFunc(out, func(a, b evidence.AuditCount) int {
		return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.Key, b.Key), cmp.Compare(a.Action, b.Action))
	})
	return out
}
