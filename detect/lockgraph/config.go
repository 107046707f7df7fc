package lockgraph

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Errors returned for unusable input. Test with errors.Is.
var (
	// ErrBadWaits: wait data with a negative duration or a non-positive
	// total.
	ErrBadWaits = errors.New("invalid lock wait data")
)

// KindInversion is the Kind of the findings this package produces.
const KindInversion = "lock_inversion"

// Bounds of Config fields.
const (
	MaxCycleLenLimit = 8
	MaxCyclesLimit   = 100000
	MaxSitesLimit    = 100
	MaxWaitRefsLimit = 1000
)

// Scope says which locks with the same identity string are the same graph
// node.
type Scope uint8

// Scopes, from widest to narrowest.
const (
	// ScopeGlobal: one node per identity string across every process.
	ScopeGlobal Scope = iota
	// ScopeService: one node per (service, identity).
	ScopeService
	// ScopeProcess: one node per (node, pid, identity).
	ScopeProcess
)

// String returns "global", "service" or "process".
func (s Scope) String() string {
	switch s {
	case ScopeGlobal:
		return "global"
	case ScopeService:
		return "service"
	case ScopeProcess:
		return "process"
	default:
		return "scope(" + strconv.Itoa(int(s)) + ")"
	}
}

// Config configures [Build] and [Analyze].
type Config struct {
	// MaxCycleLen is the most locks a reported cycle may have, in
	// [2, MaxCycleLenLimit]. Longer cycles need more coincidences to
	// deadlock and cost more to enumerate.
	MaxCycleLen int
	// MaxCycles bounds how many cycles are enumerated, in [1,
	// MaxCyclesLimit]; cycles are enumerated shortest first, so a truncated
	// result keeps every cycle shorter than the longest one it holds.
	MaxCycles int
	// MaxSites is how many distinct (held site, acquiring site) pairs each
	// edge keeps, most observed first, in [1, MaxSitesLimit].
	MaxSites int
	// MinEdgeCount is the fewest summed observations an edge needs to take
	// part in a cycle (>= 1).
	MinEdgeCount int64
	// ConfidenceHalfCount is the observation count of a cycle's weakest edge
	// at which Confidence is 0.5 (> 0); see the package documentation.
	ConfidenceHalfCount int64
	// MaxWaitRefs bounds the wait evidence refs a finding cites, in [0,
	// MaxWaitRefsLimit].
	MaxWaitRefs int
	// AddressScope scopes address-based identities (see AddressPrefixes).
	// Default ScopeProcess: an address only names a lock inside one process.
	AddressScope Scope
	// SymbolScope scopes every other identity (symbols, call sites).
	// Default ScopeGlobal: a symbol names the same lock, or lock class, in
	// every process of a binary, and lock order is a property of the code.
	SymbolScope Scope
	// AddressPrefixes mark an identity as address-based when it starts with
	// one of them (case-insensitively). An identity of decimal digits only
	// is address-based too.
	AddressPrefixes []string
	// ReportSelfLoops reports a symbolic lock acquired while another lock of
	// the same identity is held (two instances of one lock class, e.g.
	// (*Account).mu of two accounts) as a cycle of length 1. Address-based
	// self-loops are the same lock re-acquired (recursive locking: the
	// thread did not deadlock, so the lock is re-entrant) and are never
	// reported. Default false.
	ReportSelfLoops bool
}

// DefaultConfig returns the defaults: cycles of up to 4 locks, at most 1000
// cycles, 8 site pairs per edge, every edge counts, confidence 0.5 at 5
// observations of the weakest edge, 8 wait refs per finding; addresses
// ("0x…", "addr:…", "futex:…", decimal) scoped per process, symbols global;
// self-loops not reported.
func DefaultConfig() Config {
	return Config{
		MaxCycleLen:         4,
		MaxCycles:           1000,
		MaxSites:            8,
		MinEdgeCount:        1,
		ConfidenceHalfCount: 5,
		MaxWaitRefs:         8,
		AddressScope:        ScopeProcess,
		SymbolScope:         ScopeGlobal,
		AddressPrefixes:     []string{"0x", "addr:", "futex:"},
	}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.MaxCycleLen < 2 || c.MaxCycleLen > MaxCycleLenLimit:
		return fmt.Errorf("max cycle length %d: must be in [2, %d]", c.MaxCycleLen, MaxCycleLenLimit)
	case c.MaxCycles < 1 || c.MaxCycles > MaxCyclesLimit:
		return fmt.Errorf("max cycles %d: must be in [1, %d]", c.MaxCycles, MaxCyclesLimit)
	case c.MaxSites < 1 || c.MaxSites > MaxSitesLimit:
		return fmt.Errorf("max sites %d: must be in [1, %d]", c.MaxSites, MaxSitesLimit)
	case c.MinEdgeCount < 1:
		return fmt.Errorf("min edge count %d: must be at least 1", c.MinEdgeCount)
	case c.ConfidenceHalfCount < 1:
		return fmt.Errorf("confidence half count %d: must be at least 1", c.ConfidenceHalfCount)
	case c.MaxWaitRefs < 0 || c.MaxWaitRefs > MaxWaitRefsLimit:
		return fmt.Errorf("max wait refs %d: must be in [0, %d]", c.MaxWaitRefs, MaxWaitRefsLimit)
	case c.AddressScope > ScopeProcess:
		return fmt.Errorf("address scope %v: unknown", c.AddressScope)
	case c.SymbolScope > ScopeProcess:
		return fmt.Errorf("symbol scope %v: unknown", c.SymbolScope)
	}
	for _, p := range c.AddressPrefixes {
		if p == "" {
			return errors.New("address prefixes: empty prefix would match every identity")
		}
	}
	return nil
}

// IsAddress reports whether a lock identity is address-based under c: it
// starts with one of c.AddressPrefixes (ignoring case) or is a non-empty
// string of decimal digits.
func (c Config) IsAddress(id string) bool {
	for _, p := range c.AddressPrefixes {
		if len(id) >= len(p) && strings.EqualFold(id[:len(p)], p) {
			return true
		}
	}
	if id == "" {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return false
		}
	}
	return true
}

// LockName returns the graph's name for lock identity id observed in
// process pid of service on node: id itself when its scope is global,
// "id@service" for service scope (an empty service still gets the "@")
// and "id@node/pid" for process scope. Wait data ([Waits.ByLock]) is keyed by this name; code that derives waits
// from futex events names an address lock with the event's Node and PID.
func (c Config) LockName(id, node, service string, pid int64) string {
	s := c.scopeOf(id)
	return nameOf(id, s, scopeKey(s, node, service, pid))
}

func (c Config) scopeOf(id string) Scope {
	if c.IsAddress(id) {
		return c.AddressScope
	}
	return c.SymbolScope
}

// scopeKey is the qualifier appended to an identity: "" (global), the
// service, or "node/pid".
func scopeKey(s Scope, node, service string, pid int64) string {
	switch s {
	case ScopeService:
		return service
	case ScopeProcess:
		return node + "/" + strconv.FormatInt(pid, 10)
	default:
		return ""
	}
}

func nameOf(id string, s Scope, key string) string {
	if s == ScopeGlobal {
		return id
	}
	return id + "@" + key
}
