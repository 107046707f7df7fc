package bpf

import (
	"debug/dwarf"
	"debug/elf"
	"errors"
	"fmt"
)

// goLockFuncs are the lock functions whose inlined copies hide
// acquisitions or releases from the lock-order probes.
var goLockFuncs = map[string]bool{
	"sync.(*Mutex).Lock": true, "sync.(*Mutex).Unlock": true,
	"sync.(*RWMutex).Lock": true, "sync.(*RWMutex).Unlock": true,
	"sync.(*RWMutex).RLock": true, "sync.(*RWMutex).RUnlock": true,
	"internal/sync.(*Mutex).Lock": true, "internal/sync.(*Mutex).Unlock": true,
}

// ErrLocksInlined means a binary inlines some of its lock or unlock calls:
// probing the out-of-line ones would record acquisitions whose releases
// are never seen (or the reverse) and report lock orders that do not
// exist.
var ErrLocksInlined = errors.New("lock functions are inlined at some call sites")

// inlinedLockCalls counts the inlined copies of the sync lock functions
// in the Go binary at path, from its DWARF (DW_TAG_inlined_subroutine
// entries whose abstract origin is one of them). A binary without DWARF
// cannot be checked: that is an error too.
func inlinedLockCalls(path string) (n int, err error) {
	f, err := elf.Open(path)
	if err != nil {
		return 0, fmt.Errorf("opening %s: %w", path, err)
	}
	defer func() {
		if r := recover(); r != nil {
			n, err = 0, fmt.Errorf("%s: malformed DWARF: %v", path, r)
		}
		err = errors.Join(err, f.Close())
	}()
	d, err := f.DWARF()
	if err != nil {
		return 0, fmt.Errorf("%s: no DWARF to check which lock calls are inlined (built with -w?): %w", path, err)
	}
	targets := map[dwarf.Offset]bool{}
	origins := map[dwarf.Offset]int{}
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil {
			return 0, fmt.Errorf("%s: reading DWARF: %w", path, err)
		}
		if e == nil {
			break
		}
		switch e.Tag {
		case dwarf.TagSubprogram:
			if name, _ := e.Val(dwarf.AttrName).(string); goLockFuncs[name] {
				targets[e.Offset] = true
			}
		case dwarf.TagInlinedSubroutine:
			if o, ok := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset); ok {
				origins[o]++
			}
		}
	}
	for o := range targets {
		n += origins[o]
	}
	return n, nil
}
