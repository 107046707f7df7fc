package bpf

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/debugai/debugai/hint/hintelf"
	"github.com/debugai/debugai/internal/goelf"
)

// ErrNoSymbols reports a binary that has none of the functions a probe set
// needs (stripped, not linked in, or another runtime).
var ErrNoSymbols = errors.New("functions to probe not found")

// Go lock functions, as named in .symtab and .gopclntab since Go 1.0. In
// normally built binaries Lock and Unlock are inlined into most callers
// (the fast path), so these probes see every acquisition only in binaries
// built with -gcflags=all=-l; see docs/lock-order.md.
var (
	goLockSymbols = []goLockSymbol{
		{"sync.(*Mutex).Lock", goAcquire, LockGoMutex},
		{"sync.(*RWMutex).Lock", goAcquire, LockGoRWMutex},
		{"sync.(*RWMutex).RLock", goAcquire, LockGoRWMutexR},
		{"sync.(*Mutex).TryLock", goAcquire, LockGoMutexTry},
		{"sync.(*Mutex).Unlock", goRelease, 0},
		{"sync.(*RWMutex).Unlock", goRelease, 0},
		{"sync.(*RWMutex).RUnlock", goRelease, 0},
	}
	pthreadLockSymbols = []string{"pthread_mutex_lock", "pthread_mutex_unlock", "pthread_mutex_timedlock", "pthread_mutex_trylock"}
)

type goLockOp int

const (
	goAcquire goLockOp = iota + 1
	goRelease
)

type goLockSymbol struct {
	name   string
	op     goLockOp
	flavor LockFlavor
}

// Probed describes the uprobes attached to one binary.
type Probed struct {
	Path string
	// Symbols are the functions probed, with their file offsets.
	Symbols map[string]uint64
	// Missing are functions of the set that the binary does not have.
	Missing []string
}

// binaryProbes are the links of one probe set on one binary, with the
// binary's identity when attached (a redeploy replaces the inode).
type binaryProbes struct {
	dev, ino uint64
	links    []link.Link
}

func (b *binaryProbes) close() error {
	var errs []error
	for _, l := range b.links {
		if err := l.Close(); err != nil {
			errs = append(errs, fmt.Errorf("detaching uprobe: %w", err))
		}
	}
	b.links = nil
	return errors.Join(errs...)
}

// fileID returns the device and inode of path.
func fileID(path string) (dev, ino uint64, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, fmt.Errorf("%s: no inode information", path)
	}
	return st.Dev, st.Ino, nil
}

// AttachSpanHooks puts the span-hook uprobes on the hint markers of the
// executable or shared library at path (every process running it, now or
// later, subject to the pid and cgroup filters). Attaching a path again
// replaces its hooks when the file was replaced, and is a no-op otherwise.
func (c *Collector) AttachSpanHooks(path string) (Probed, error) {
	m, err := hintelf.Find(path)
	if err != nil {
		return Probed{}, fmt.Errorf("finding span markers: %w", err)
	}
	enter, exit := c.objs.SpanEnterGo, c.objs.SpanExitGo
	if m.ABI == hintelf.ABISysV {
		enter, exit = c.objs.SpanEnterC, c.objs.SpanExitC
	} else if err := c.setGOffset(path); err != nil {
		return Probed{}, err
	}
	p := Probed{Path: path, Symbols: map[string]uint64{m.Enter.Symbol: m.Enter.Offset, m.Exit.Symbol: m.Exit.Offset}}
	err = c.attachSet("spans", path, 0, []uprobeAt{{m.Enter.Offset, enter}, {m.Exit.Offset, exit}})
	return p, err
}

// AttachPthreadLocks puts lock-order uprobes on pthread_mutex_lock and
// pthread_mutex_unlock in the C library (or static executable) at path.
// The C library is shared by nearly every process: pid > 0 limits the
// probes to that process, which spares every other process the uprobe
// trap (microseconds per lock call); pid 0 probes every process using the
// library, and relies on the pid and cgroup filters.
func (c *Collector) AttachPthreadLocks(path string, pid int) (Probed, error) {
	offs, err := FuncOffsets(path, pthreadLockSymbols)
	if err != nil {
		return Probed{}, err
	}
	p := Probed{Path: path, Symbols: offs}
	lock, lok := offs["pthread_mutex_lock"]
	unlock, uok := offs["pthread_mutex_unlock"]
	if !lok || !uok {
		return p, fmt.Errorf("%s: pthread_mutex_lock and pthread_mutex_unlock: %w", path, ErrNoSymbols)
	}
	probes := []uprobeAt{{lock, c.objs.PthreadMutexLockEnter}, {unlock, c.objs.PthreadMutexUnlockEnter}}
	for _, name := range []string{"pthread_mutex_timedlock", "pthread_mutex_trylock"} {
		if off, ok := offs[name]; ok {
			probes = append(probes, uprobeAt{off, c.objs.PthreadMutexTryEnter})
		} else {
			p.Missing = append(p.Missing, name)
		}
	}
	return p, c.attachSet("pthread-locks", path, pid, probes)
}

// AttachGoLocks puts lock-order uprobes on the sync.Mutex and sync.RWMutex
// lock and unlock functions of the Go executable at path, as far as the
// binary has them un-inlined. It needs at least one acquire and one
// release function; Probed.Missing lists the others it lacks.
func (c *Collector) AttachGoLocks(path string) (Probed, error) {
	names := make([]string, len(goLockSymbols))
	for i, s := range goLockSymbols {
		names[i] = s.name
	}
	offs, err := FuncOffsets(path, names)
	if err != nil {
		return Probed{}, err
	}
	p := Probed{Path: path, Symbols: offs}
	var probes []uprobeAt
	var acquires, releases int
	for _, s := range goLockSymbols {
		off, ok := offs[s.name]
		if !ok {
			p.Missing = append(p.Missing, s.name)
			continue
		}
		prog := c.objs.GoUnlock
		switch {
		case s.op == goRelease:
			releases++
		case s.flavor == LockGoMutex:
			prog, acquires = c.objs.GoMutexLock, acquires+1
		case s.flavor == LockGoRWMutex:
			prog, acquires = c.objs.GoRwmutexLock, acquires+1
		case s.flavor == LockGoMutexTry:
			prog = c.objs.GoMutexTrylock // optional: not every program calls TryLock
		default:
			prog, acquires = c.objs.GoRwmutexRlock, acquires+1
		}
		probes = append(probes, uprobeAt{off, prog})
	}
	if acquires == 0 || releases == 0 {
		return p, fmt.Errorf("%s: no Go lock functions (build with -gcflags=all=-l for lock order) or not a Go binary: %w", path, ErrNoSymbols)
	}
	if err := checkGoLockOrder(path, offs); err != nil {
		return p, err
	}
	if err := pastStackChecks(path, probes); err != nil {
		return p, err
	}
	return p, c.attachSet("go-locks", path, 0, probes)
}

// CheckGoLockOrder reports whether the lock-order probes can follow the Go
// binary at path: it needs out-of-line sync lock functions at every call
// site (a -gcflags=all=-l build). The error wraps ErrNoSymbols or
// ErrLocksInlined and says how to build it.
func CheckGoLockOrder(path string) error {
	offs, err := FuncOffsets(path, []string{"sync.(*Mutex).Lock"})
	if err != nil {
		return err
	}
	return checkGoLockOrder(path, offs)
}

func checkGoLockOrder(path string, offs map[string]uint64) error {
	// Without an out-of-line Mutex.Lock (a normal build inlines it) the
	// acquisitions are invisible: probing the releases alone would cost a
	// trap per Unlock and show no order.
	if _, ok := offs["sync.(*Mutex).Lock"]; !ok {
		return fmt.Errorf("%s: sync.(*Mutex).Lock is inlined (build with -gcflags=all=-l for lock order) or this is not a Go binary: %w", path, ErrNoSymbols)
	}
	// An out-of-line Lock is not enough: a normal build keeps one for
	// calls through interfaces while inlining the rest, and a held lock
	// whose Unlock was inlined never leaves the held stack.
	n, err := inlinedLockCalls(path)
	if err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("%s: %d inlined lock or unlock calls (build with -gcflags=all=-l for lock order): %w", path, n, ErrLocksInlined)
	}
	return nil
}

// pastStackChecks moves each probe of a Go function past the function's
// stack-split check (see stackCheckEnd): at the entry, a call that grows
// the stack would be seen twice, an acquisition pushed twice and its lock
// left held after the one Unlock.
func pastStackChecks(path string, probes []uprobeAt) (err error) {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	for i := range probes {
		var code [64]byte
		n, err := f.ReadAt(code[:], int64(probes[i].offset))
		if n == 0 {
			return fmt.Errorf("reading %s at %#x: %w", path, probes[i].offset, err)
		}
		probes[i].offset += uint64(stackCheckEnd(code[:n]))
	}
	return nil
}

type uprobeAt struct {
	offset uint64
	prog   *ebpf.Program
}

// attachSet attaches probes to path under set (for process pid only when
// pid > 0), replacing an earlier attachment of the same set, path and pid
// when the file has changed since.
func (c *Collector) attachSet(set, path string, pid int, probes []uprobeAt) error {
	dev, ino, err := fileID(path)
	if err != nil {
		return fmt.Errorf("attaching %s uprobes: %w", set, err)
	}
	c.uprobeMu.Lock()
	defer c.uprobeMu.Unlock()
	if c.closed {
		return ErrClosed
	}
	key := set + "\x00" + strconv.Itoa(pid) + "\x00" + path
	if old := c.uprobes[key]; old != nil {
		if old.dev == dev && old.ino == ino {
			return nil
		}
		if err := old.close(); err != nil {
			return err
		}
		delete(c.uprobes, key)
	}
	ex, err := link.OpenExecutable(path)
	if err != nil {
		return fmt.Errorf("attaching %s uprobes: %w", set, err)
	}
	bp := &binaryProbes{dev: dev, ino: ino}
	for _, p := range probes {
		l, err := ex.Uprobe("", p.prog, &link.UprobeOptions{Address: p.offset, PID: pid})
		if err != nil {
			return errors.Join(fmt.Errorf("attaching %s uprobe to %s at %#x: %w", set, path, p.offset, err), bp.close())
		}
		bp.links = append(bp.links, l)
	}
	if c.uprobes == nil {
		c.uprobes = map[string]*binaryProbes{}
	}
	c.uprobes[key] = bp
	return nil
}

// DetachUprobes removes every uprobe attached to path.
func (c *Collector) DetachUprobes(path string) error {
	c.uprobeMu.Lock()
	defer c.uprobeMu.Unlock()
	var errs []error
	for key, bp := range c.uprobes {
		if keyPath(key) == path {
			errs = append(errs, bp.close())
			delete(c.uprobes, key)
		}
	}
	return errors.Join(errs...)
}

// keyPath is the path of an attachSet key (set, pid, path).
func keyPath(key string) string {
	return key[strings.LastIndexByte(key, 0)+1:]
}

// LibraryPath returns the path of the first file mapped into process pid
// whose name contains name (e.g. "libc.so"), as seen from the host.
func LibraryPath(pid int, name string) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return "", fmt.Errorf("reading mappings of pid %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 6 || !strings.Contains(filepath.Base(fields[5]), name) {
			continue
		}
		root := fmt.Sprintf("/proc/%d/root%s", pid, fields[5])
		if _, err := os.Stat(root); err == nil {
			return root, nil
		}
		return fields[5], nil
	}
	return "", fmt.Errorf("pid %d maps no file named like %q", pid, name)
}

// closeUprobes detaches every uprobe; Close calls it first.
func (c *Collector) closeUprobes() error {
	c.uprobeMu.Lock()
	defer c.uprobeMu.Unlock()
	c.closed = true
	var errs []error
	for key, bp := range c.uprobes {
		errs = append(errs, bp.close())
		delete(c.uprobes, key)
	}
	return errors.Join(errs...)
}

// FuncOffsets looks functions up by name in the ELF file at path (.symtab,
// then .dynsym, then Go's .gopclntab) and returns the file offset of each
// one found: where a uprobe attaches. Versioned dynamic symbols match by
// their plain name.
func FuncOffsets(path string, names []string) (offs map[string]uint64, err error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	defer func() {
		if r := recover(); r != nil {
			offs, err = nil, fmt.Errorf("%s: malformed ELF file: %v", path, r)
		}
		err = errors.Join(err, f.Close())
	}()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	addrs := map[string]uint64{}
	for _, load := range []func() ([]elf.Symbol, error){f.Symbols, f.DynamicSymbols} {
		syms, err := load()
		if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
			return nil, fmt.Errorf("%s: reading symbols: %w", path, err)
		}
		for _, s := range syms {
			if want[s.Name] && elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Section != elf.SHN_UNDEF && s.Value != 0 {
				if _, dup := addrs[s.Name]; !dup {
					addrs[s.Name] = s.Value
				}
			}
		}
	}
	if len(addrs) < len(want) {
		pclnFuncs(f, want, addrs)
	}
	offs = map[string]uint64{}
	for name, addr := range addrs {
		if off, ok := fileOffset(f, addr); ok {
			offs[name] = off
		}
	}
	return offs, nil
}

// pclnFuncs fills addrs from .gopclntab for wanted names it lacks
// (stripped Go binaries keep their function table).
func pclnFuncs(f *elf.File, want map[string]bool, addrs map[string]uint64) {
	tab, err := goelf.Table(f)
	if err != nil {
		return
	}
	for _, fn := range tab.Funcs {
		if _, have := addrs[fn.Name]; want[fn.Name] && !have {
			addrs[fn.Name] = fn.Entry
		}
	}
}

// fileOffset maps a virtual address to its file offset through the
// executable PT_LOAD segment that holds it.
func fileOffset(f *elf.File, addr uint64) (uint64, bool) {
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 && addr >= p.Vaddr && addr < p.Vaddr+p.Filesz {
			return addr - p.Vaddr + p.Off, true
		}
	}
	return 0, false
}

// setGOffset tells the probes where the Go executable at path keeps the
// current g (externally linked binaries differ from the default).
func (c *Collector) setGOffset(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	off := goelf.GOffset(f)
	f.Close()
	_, ino, err := fileID(path)
	if err != nil {
		return fmt.Errorf("attaching span hooks: %w", err)
	}
	if err := c.objs.GoTlsOffsets.Put(ino, off); err != nil {
		return fmt.Errorf("recording the g offset of %s: %w", path, err)
	}
	return nil
}
