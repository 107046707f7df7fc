package bpf

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/debugai/debugai/bpf/symbolize"
)

// buildGo builds the package at testdata/<name> with extra go build flags.
func buildGo(t testing.TB, name string, flags ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	args := append([]string{"build", "-o", bin}, flags...)
	args = append(args, "./testdata/"+name)
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("building %s: %v\n%s", name, err, out)
	}
	return bin
}

// buildCFlags compiles testdata/<name>.c with the given compiler flags.
func buildCFlags(t testing.TB, name string, flags ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	args := append(append([]string{"-pthread"}, flags...), "-o", bin, filepath.Join("testdata", name+".c"))
	out, err := exec.Command("cc", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("building %s: %v\n%s", name, err, out)
	}
	return bin
}

// siteLines maps the "site:<name>" markers of a source file to line numbers.
func siteLines(t testing.TB, path string) map[string]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		if _, name, ok := strings.Cut(sc.Text(), "// site:"); ok {
			out[strings.TrimSpace(name)] = n
		}
	}
	return out
}

// addrLines reads "name 0x..." lines until want names are seen.
func addrLines(t testing.TB, w *workload, names ...string) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for _, want := range names {
		name, hex, ok := strings.Cut(w.line(t), " ")
		v, err := strconv.ParseUint(strings.TrimPrefix(hex, "0x"), 16, 64)
		if !ok || name != want || err != nil {
			t.Fatalf("want %q and an address, got %q %q", want, name, hex)
		}
		out[name] = v
	}
	return out
}

// edgeKey is an edge with its symbolized sites.
type edgeKey struct {
	held, acquiring         uint64
	heldSite, acquiringSite string
}

// collectEdges drains lock-edge records of pid, symbolizing their sites
// while the process is alive, and sums their counts per edge and sites.
func collectEdges(t *testing.T, c *Collector, pid uint32) map[edgeKey]uint64 {
	t.Helper()
	sym := symbolize.New()
	out := map[edgeKey]uint64{}
	site := func(pc uint64) string {
		s, err := sym.Code(pid, pc)
		if err != nil {
			t.Errorf("symbolizing %#x: %v", pc, err)
		}
		return filepath.Base(s.File) + ":" + strconv.Itoa(s.Line) + " " + s.Func
	}
	if _, err := c.Drain(func(ev Event) {
		e, ok := ev.(LockEdge)
		if !ok || e.PID != pid {
			return
		}
		out[edgeKey{e.Held, e.Acquiring, site(e.HeldSite), site(e.AcquiringSite)}] += e.Count
	}); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	return out
}

// finish releases a workload waiting after "done" and waits for it.
func (w *workload) finish(t testing.TB) {
	t.Helper()
	if _, err := io.WriteString(w.stdin, "exit\n"); err != nil {
		t.Fatalf("releasing workload: %v", err)
	}
	if err := w.cmd.Wait(); err != nil {
		t.Fatalf("workload: %v", err)
	}
}

// lockTest loads the collector for pid with only the lock probes' records
// wanted (the kernel probes stay attached but filtered to pid).
func lockTest(t *testing.T, pid uint32) *Collector {
	t.Helper()
	cfg := DefaultConfig()
	cfg.PIDs = []uint32{pid}
	probesOnly(t, &cfg, "Fsync") // lock probes attach per binary; Validate wants one probe
	c, err := Load(cfg)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestLockOrderGo runs a Go program (built without inlining) that takes two
// mutexes in both orders without deadlocking, and expects both edges with
// the source lines of the Lock calls, plus the read-lock edge.
func TestLockOrderGo(t *testing.T) {
	requireEBPF(t)
	bin := buildGo(t, "abba", "-gcflags=all=-l")
	lines := siteLines(t, "testdata/abba/main.go")
	w := startWorkload(t, bin)
	addrs := addrLines(t, w, "muA", "muB", "rw")
	pid := uint32(w.cmd.Process.Pid)
	c := lockTest(t, pid)
	probed, err := c.AttachGoLocks(bin)
	if err != nil {
		t.Fatalf("AttachGoLocks: %v", err)
	}
	if len(probed.Missing) != 0 {
		t.Errorf("functions missing from a -l build: %v", probed.Missing)
	}
	if _, err := io.WriteString(w.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	if got := w.line(t); got != "done" {
		t.Fatalf("workload printed %q", got)
	}
	edges := collectEdges(t, c, pid)
	sym := symbolize.New()
	for _, name := range []string{"muA", "muB", "rw"} {
		got, err := sym.Data(pid, addrs[name])
		if err != nil || got != "main."+name {
			t.Errorf("Data(%s at %#x) = %q, %v; want main.%s", name, addrs[name], got, err, name)
		}
	}
	w.finish(t)

	site := func(marker, fn string) string {
		return fmt.Sprintf("main.go:%d main.%s", lines[marker], fn)
	}
	want := []struct {
		e     edgeKey
		count uint64
	}{
		{edgeKey{addrs["muA"], addrs["muB"], site("AB-held", "lockAB"), site("AB-acquiring", "lockAB")}, 100},
		{edgeKey{addrs["muB"], addrs["muA"], site("BA-held", "lockBA"), site("BA-acquiring", "lockBA")}, 100},
	}
	for _, w := range want {
		got, ok := edges[w.e]
		if !ok {
			t.Errorf("edge %+v not reported; got %v", w.e, edges)
			continue
		}
		// Counts are reported at powers of two: 100 observations give
		// records up to the 64th (1+1+2+...+32 = 64), unless the kernel
		// skipped probe runs (recursion misses, under CPU contention).
		if got > 64 || got < 64 && misses(t, c) == 0 {
			t.Errorf("edge %+v count %d, want the 64 of %d observations reported so far", w.e, got, w.count)
		}
	}
	var readEdge, tryEdge bool
	for e := range edges {
		if e.held == addrs["muA"] && e.acquiring == addrs["rw"] && e.acquiringSite == site("A-R-acquiring", "readUnderA") {
			readEdge = true
		}
		if e.held == addrs["rw"] && e.acquiring == addrs["muB"] && e.acquiringSite == site("RW-B-try", "tryUnderRW") {
			tryEdge = true
		}
		if e.held == addrs["muB"] && e.acquiring != addrs["muA"] {
			t.Errorf("edge from muB that only its TryLock could have made: %+v", e)
		}
		if e.held == e.acquiring {
			t.Errorf("self edge reported: %+v", e)
		}
	}
	if !readEdge {
		t.Errorf("muA -> rw (read) edge not reported: %v", edges)
	}
	if !tryEdge {
		t.Errorf("rw -> muB (TryLock attempt) edge not reported: %v", edges)
	}
	counters, err := c.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if counters.LockDrops != 0 || counters.LockOverflow != 0 {
		t.Errorf("counters %+v: drops or overflow", counters)
	}
	// The first rw.Lock, then 100 x (lockAB 2, lockBA 2, readUnderA 2,
	// tryUnderRW 1: a TryLock is an attempt, not pushed); each of the 101
	// rw.Lock calls also takes rw.w through sync.(*Mutex).Lock (the same
	// address: pushed, no edge, popped by its Unlock). An acquisition seen
	// twice (a probe at the function's entry when the stack grows) would
	// make more.
	const acquisitions = 1 + 100*7 + 101
	if got := counters.LockAcquires; got > acquisitions || got < acquisitions && misses(t, c) == 0 {
		t.Errorf("%d acquisitions recorded, the workload made %d", got, acquisitions)
	}
}

// TestLockOrderPthread does the same for pthread mutexes through the C
// library's pthread_mutex_lock and pthread_mutex_unlock.
func TestLockOrderPthread(t *testing.T) {
	requireEBPF(t)
	bin := buildCFlags(t, "abba", "-O0", "-g")
	lines := siteLines(t, "testdata/abba.c")
	w := startWorkload(t, bin)
	addrs := addrLines(t, w, "mutex_a", "mutex_b", "mutex_c")
	pid := uint32(w.cmd.Process.Pid)
	libc, err := LibraryPath(int(pid), "libc.so")
	if err != nil {
		t.Fatalf("finding the workload's C library: %v", err)
	}
	c := lockTest(t, pid)
	if _, err := c.AttachPthreadLocks(libc, int(pid)); err != nil {
		t.Fatalf("AttachPthreadLocks(%s): %v", libc, err)
	}
	if _, err := io.WriteString(w.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	if got := w.line(t); got != "done" {
		t.Fatalf("workload printed %q", got)
	}
	edges := collectEdges(t, c, pid)
	sym := symbolize.New()
	for name, addr := range addrs {
		got, err := sym.Data(pid, addr)
		if err != nil || got != name {
			t.Errorf("Data(%s at %#x) = %q, %v; want %s", name, addr, got, err, name)
		}
	}
	w.finish(t)

	site := func(marker, fn string) string {
		return fmt.Sprintf("abba.c:%d %s", lines[marker], fn)
	}
	var timed bool
	for e := range edges {
		timed = timed || e.held == addrs["mutex_a"] && e.acquiring == addrs["mutex_c"] && e.acquiringSite == site("A-C-timed", "timed_under_a")
	}
	if !timed {
		t.Errorf("mutex_a -> mutex_c (pthread_mutex_timedlock attempt) edge not reported: %v", edges)
	}
	for _, e := range []edgeKey{
		{addrs["mutex_a"], addrs["mutex_b"], site("AB-held", "lock_ab"), site("AB-acquiring", "lock_ab")},
		{addrs["mutex_b"], addrs["mutex_a"], site("BA-held", "lock_ba"), site("BA-acquiring", "lock_ba")},
	} {
		// 100 observations are reported up to the 64th (powers of two);
		// only skipped probe runs (recursion misses) can make fewer.
		if got := edges[e]; got == 0 || got > 64 || got < 64 && misses(t, c) == 0 {
			t.Errorf("edge %+v count %d, want the 64 of 100 observations reported so far; all edges: %v", e, got, edges)
		}
	}
	if len(edges) != 3 {
		t.Errorf("%d edges, want exactly the 3 of the workload: %v", len(edges), edges)
	}
}

// TestLockOrderGoInlinedLimit records the limit docs/lock-order.md states:
// in a normally built Go binary sync.(*Mutex).Lock is inlined at every
// call site, so AttachGoLocks refuses the binary (probing the out-of-line
// releases alone would cost a trap per Unlock and show no order). If this
// starts failing, the Go toolchain changed what it inlines: update the
// document.
func TestLockOrderGoInlinedLimit(t *testing.T) {
	requireEBPF(t)
	bin := buildGo(t, "abba")
	c := lockTest(t, uint32(os.Getpid()))
	probed, err := c.AttachGoLocks(bin)
	if !errors.Is(err, ErrNoSymbols) || !strings.Contains(err.Error(), "-gcflags=all=-l") {
		t.Fatalf("AttachGoLocks on a normal build: %v, want ErrNoSymbols naming -gcflags=all=-l", err)
	}
	if !slices.Contains(probed.Missing, "sync.(*Mutex).Lock") {
		t.Errorf("sync.(*Mutex).Lock present in a normal build (missing: %v): inlining changed", probed.Missing)
	}
	if _, ok := probed.Symbols["sync.(*Mutex).Unlock"]; !ok {
		t.Errorf("sync.(*Mutex).Unlock not out of line in a normal build (symbols %v): update docs/lock-order.md", probed.Symbols)
	}
}

// TestGoLockWaits runs goroutines queueing on a mutex whose holder sleeps,
// in a normally built binary, and expects Go lock waits on that mutex,
// most of them with the releasing thread as waker.
func TestGoLockWaits(t *testing.T) {
	requireEBPF(t)
	bin := buildGo(t, "gowait")
	w := startWorkload(t, bin)
	addrs := addrLines(t, w, "mu")
	pid := uint32(w.cmd.Process.Pid)
	cfg := DefaultConfig()
	cfg.PIDs = []uint32{pid}
	cfg.FutexThreshold = 500 * time.Microsecond
	probesOnly(t, &cfg, "Futex")
	c, err := Load(cfg)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	defer c.Close()
	probed, err := c.AttachGoLockWaits(bin)
	if err != nil {
		t.Fatalf("AttachGoLockWaits: %v", err)
	}
	t.Logf("probed %v", probed.Symbols)
	if _, err := io.WriteString(w.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	if got := w.line(t); got != "done" {
		t.Fatalf("workload printed %q", got)
	}
	var waits, woken int
	if _, err := c.Drain(func(ev Event) {
		f, ok := ev.(FutexWait)
		if !ok || f.Syscall != SyscallGoSema {
			return
		}
		waits++
		kev := f.KernelEvent(Clock{})
		if kev.Addr != addrs["mu"] {
			t.Errorf("wait on %#x, want the mutex %#x", kev.Addr, addrs["mu"])
		}
		if f.Duration < 500*time.Microsecond || f.Duration > 2*time.Second {
			t.Errorf("wait of %v", f.Duration)
		}
		if f.WakerTID != 0 && f.WakerPID == pid {
			woken++
		}
	}); err != nil {
		t.Fatal(err)
	}
	w.finish(t)
	// 40 acquisitions by 4 goroutines behind a 2 ms holder: most wait.
	if waits < 20 {
		t.Errorf("%d Go lock waits, want >= 20 of the 40 acquisitions", waits)
	}
	if woken*2 < waits {
		t.Errorf("only %d of %d waits name the releasing thread", woken, waits)
	}
}

// misses is the collector's recursion misses (skipped probe runs).
func misses(t *testing.T, c *Collector) uint64 {
	t.Helper()
	n, err := c.RecursionMisses()
	if err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		t.Logf("%d probe runs skipped by the kernel (recursion misses)", n)
	}
	return n
}

// TestLockOrderRefusesPartlyInlined: a normal build that keeps an
// out-of-line sync.(*Mutex).Lock (called through sync.Locker) but inlines
// other lock calls is refused, because the probes would miss releases and
// report orders that do not exist.
func TestLockOrderRefusesPartlyInlined(t *testing.T) {
	requireEBPF(t)
	bin := buildGo(t, "halfinlined")
	c := lockTest(t, uint32(os.Getpid()))
	_, err := c.AttachGoLocks(bin)
	if !errors.Is(err, ErrLocksInlined) {
		t.Fatalf("AttachGoLocks on a partly inlined build: %v, want ErrLocksInlined", err)
	}
}

// TestLockOrderGoStackGrowth runs a goroutine whose stack grows inside
// sync.(*RWMutex).RLock (testdata/lockgrow): the stack-split check at the
// function's entry calls runtime.morestack and restarts the function, so a
// probe at the entry would see one acquisition twice, push the lock twice
// and keep it held after the one RUnlock. The probes sit past the check:
// the acquisitions are exactly the workload's, and the Lock it takes with
// nothing held makes no edge.
func TestLockOrderGoStackGrowth(t *testing.T) {
	requireEBPF(t)
	bin := buildGo(t, "lockgrow", "-gcflags=all=-l")
	w := startWorkload(t, bin)
	addrs := addrLines(t, w, "rw", "mu")
	pid := uint32(w.cmd.Process.Pid)
	c := lockTest(t, pid)
	if _, err := c.AttachGoLocks(bin); err != nil {
		t.Fatalf("AttachGoLocks: %v", err)
	}
	if _, err := io.WriteString(w.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	var want uint64
	if _, err := fmt.Sscanf(w.line(t), "acquisitions %d", &want); err != nil || want < 1000 {
		t.Fatalf("workload's acquisition count: %d, %v", want, err)
	}
	if got := w.line(t); got != "done" {
		t.Fatalf("workload printed %q", got)
	}
	edges := collectEdges(t, c, pid)
	w.finish(t)
	for e, n := range edges {
		t.Errorf("edge %#x -> %#x (%d) reported; rw is %#x, mu %#x: nothing is held when mu is taken", e.held, e.acquiring, n, addrs["rw"], addrs["mu"])
	}
	counters, err := c.Counters()
	if err != nil {
		t.Fatal(err)
	}
	// Skipped probe runs (recursion misses) can only lower the count.
	if got := counters.LockAcquires; got > want || got < want && misses(t, c) == 0 {
		t.Errorf("%d acquisitions recorded, the workload made %d", got, want)
	}
}
