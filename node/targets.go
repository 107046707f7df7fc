package node

import (
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/debugai/debugai/bpf"
	"github.com/debugai/debugai/bpf/symbolize"
)

// probeAttacher is the part of the collector the target tracker drives.
type probeAttacher interface {
	AddPIDs(...uint32) error
	RemovePIDs(...uint32) error
	AttachSpanHooks(path string) (bpf.Probed, error)
	AttachGoLocks(path string) (bpf.Probed, error)
	AttachGoLockWaits(path string) (bpf.Probed, error)
	AttachPthreadLocks(path string, pid int) (bpf.Probed, error)
}

// targets tracks target processes: fixed pids and processes running the
// target executables, found by rescanning /proc. It keeps the collector's
// pid filter and per-binary uprobes current across restarts and redeploys.
type targets struct {
	cfg    Config
	probes probeAttacher
	sym    *symbolize.Symbolizer
	log    *slog.Logger
	filter bool // the pid filter is on

	mu      sync.Mutex        // guards live for count
	live    map[uint32]bool   // pids in the filter
	pthread map[uint32]bool   // pids with pthread lock probes
	warned  map[string]string // path -> last warning, to log each once
	// probed is the file each executable was last probed as: parsing a
	// large binary's symbol tables costs tens of MB and much CPU, so it
	// is done again only when the file is replaced.
	probed map[string]fileKey
}

func newTargets(cfg Config, probes probeAttacher, sym *symbolize.Symbolizer, log *slog.Logger) *targets {
	return &targets{
		cfg: cfg, probes: probes, sym: sym, log: log,
		filter:  len(cfg.PIDs) > 0 || len(cfg.Executables) > 0,
		live:    map[uint32]bool{},
		pthread: map[uint32]bool{},
		warned:  map[string]string{},
		probed:  map[string]fileKey{},
	}
}

// fileKey identifies a file across renames.
type fileKey struct{ dev, ino uint64 }

func statKey(path string) (fileKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileKey{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileKey{}, fmt.Errorf("%s: no inode", path)
	}
	return fileKey{st.Dev, st.Ino}, nil
}

// rescan attaches uprobes to the executables (a no-op unless a file was
// replaced), finds the processes running them and updates the filter.
// It returns the number of live target processes.
func (t *targets) rescan() (int, error) {
	exes := map[fileKey]string{}
	for _, path := range t.cfg.Executables {
		k, err := statKey(path)
		if err != nil {
			t.warnOnce(path, "target executable unavailable", err)
			continue
		}
		exes[k] = path
		if t.probed[path] != k {
			t.attachBinary(path)
			t.attachGoWaits(path)
			t.probed[path] = k
			// Hand the parse's memory back now rather than at the next GC.
			debug.FreeOSMemory()
		}
	}
	found := map[uint32]bool{}
	for _, pid := range t.cfg.PIDs {
		if _, err := os.Stat("/proc/" + strconv.FormatUint(uint64(pid), 10)); err == nil {
			found[pid] = true
		}
	}
	if len(exes) > 0 {
		if err := scanProc(exes, found); err != nil {
			return 0, err
		}
	}
	var add, gone []uint32
	for pid := range found {
		if !t.live[pid] {
			add = append(add, pid)
		}
	}
	for pid := range t.live {
		if !found[pid] {
			gone = append(gone, pid)
		}
	}
	if t.filter {
		if err := t.probes.AddPIDs(add...); err != nil {
			return 0, err
		}
		if err := t.probes.RemovePIDs(gone...); err != nil {
			return 0, err
		}
	}
	t.mu.Lock()
	for _, pid := range add {
		t.live[pid] = true
	}
	for _, pid := range gone {
		delete(t.live, pid)
	}
	t.mu.Unlock()
	for _, pid := range add {
		t.log.Info("target process", "pid", pid)
		if t.cfg.PthreadLocks {
			t.attachPthread(pid)
		}
	}
	for _, pid := range gone {
		delete(t.pthread, pid)
		t.sym.Forget(pid)
		t.log.Info("target process exited", "pid", pid)
	}
	return t.count(), nil
}

// pids lists the live targets in ascending order.
func (t *targets) pids() []uint32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]uint32, 0, len(t.live))
	for pid := range t.live {
		out = append(out, pid)
	}
	slices.Sort(out)
	return out
}

// count is the number of live targets.
func (t *targets) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.live)
}

func (t *targets) attachBinary(path string) {
	if t.cfg.SpanHooks {
		if _, err := t.probes.AttachSpanHooks(path); err != nil {
			t.warnOnce(path+"\x00spans", "no span hooks", err)
		}
	}
	if t.cfg.GoLocks {
		if p, err := t.probes.AttachGoLocks(path); err != nil {
			t.warnOnce(path+"\x00locks", "no Go lock-order probes", err)
		} else if len(p.Missing) > 0 {
			t.warnOnce(path+"\x00locks", "Go lock-order probes partial (inlined functions; build with -gcflags=all=-l)", fmt.Errorf("missing %v", p.Missing))
		}
	}
}

func (t *targets) attachGoWaits(path string) {
	if !t.cfg.GoLockWaits {
		return
	}
	if _, err := t.probes.AttachGoLockWaits(path); err != nil {
		t.warnOnce(path+"\x00waits", "no Go lock-wait probes", err)
	}
}

func (t *targets) attachPthread(pid uint32) {
	lib, err := bpf.LibraryPath(int(pid), "libc.so")
	if err == nil {
		_, err = t.probes.AttachPthreadLocks(lib, int(pid))
	}
	if err != nil {
		t.log.Warn("no pthread lock-order probes", "pid", pid, "err", err)
		return
	}
	t.pthread[pid] = true
}

func (t *targets) warnOnce(key, msg string, err error) {
	if t.warned[key] == err.Error() {
		return
	}
	t.warned[key] = err.Error()
	path, _, _ := strings.Cut(key, "\x00")
	t.log.Warn(msg, "target", path, "err", err)
}

// scanProc adds to found the pids whose executable is one of exes.
func scanProc(exes map[fileKey]string, found map[uint32]bool) error {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return fmt.Errorf("listing processes: %w", err)
	}
	for _, e := range entries {
		pid, err := strconv.ParseUint(e.Name(), 10, 32)
		if err != nil {
			continue
		}
		k, err := statKey("/proc/" + e.Name() + "/exe")
		if err != nil {
			continue // kernel threads, processes that just exited
		}
		if _, ok := exes[k]; ok {
			found[uint32(pid)] = true
		}
	}
	return nil
}
