package privacy

import (
	"hash/maphash"
	"strings"
	"sync"
)

const cacheShards = 16

// cacheEntry is one remembered decision: the output for an input, the action
// it was counted as and a tag (the key id for tokens, the query id for SQL).
type cacheEntry struct {
	out string
	act Action
	tag string
}

// cache is a bounded, concurrency-safe map from input strings to decisions.
// Each shard keeps two generations: when the current one fills up it becomes
// the old one and the previous old one is discarded, which approximates LRU at
// the cost of one map allocation per rollover. Memory is bounded by
// 2 * limit entries of at most maxLen bytes of key each.
type cache struct {
	seed   maphash.Seed
	maxLen int
	limit  int // entries per shard generation
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu  sync.Mutex
	cur map[string]cacheEntry
	old map[string]cacheEntry
	_   [40]byte // keep shards on separate cache lines
}

// newCache returns a cache of about size entries (per generation) for keys
// of at most maxLen bytes.
func newCache(size, maxLen int) *cache {
	c := &cache{seed: maphash.MakeSeed(), maxLen: maxLen, limit: max(size/cacheShards, 1)}
	for i := range c.shards {
		c.shards[i].cur = make(map[string]cacheEntry)
	}
	return c
}

func (c *cache) shard(k string) *cacheShard {
	return &c.shards[maphash.String(c.seed, k)%cacheShards]
}

// get returns the entry for k.
func (c *cache) get(k string) (cacheEntry, bool) {
	if c == nil || len(k) > c.maxLen {
		return cacheEntry{}, false
	}
	s := c.shard(k)
	s.mu.Lock()
	e, ok := s.cur[k]
	if !ok && s.old != nil {
		if e, ok = s.old[k]; ok {
			s.insert(k, e, c.limit)
		}
	}
	s.mu.Unlock()
	return e, ok
}

// put remembers e for k when k is short enough.
func (c *cache) put(k string, e cacheEntry) {
	if c == nil || len(k) > c.maxLen {
		return
	}
	k = strings.Clone(k) // never pin a caller's larger buffer
	s := c.shard(k)
	s.mu.Lock()
	s.insert(k, e, c.limit)
	s.mu.Unlock()
}

func (s *cacheShard) insert(k string, e cacheEntry, limit int) {
	if len(s.cur) >= limit {
		s.old = s.cur
		s.cur = make(map[string]cacheEntry, limit)
	}
	s.cur[k] = e
}

// len returns the number of entries held (both generations).
func (c *cache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.cur) + len(s.old)
		s.mu.Unlock()
	}
	return n
}
