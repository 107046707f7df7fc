package bank

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestBankStorms: under iostorm transfers journal their entry (the
// journal's slots advance) and under faultstorm balance reads walk the
// archive's regions and leave them evicted; both answer correctly.
func TestBankStorms(t *testing.T) {
	s := newSystem(t, "v1", BugIOStorm)
	for range 3 {
		if code, body := do(t, http.MethodPost, s.frontURL+"/transfer?from=1&to=2&amount=1"); code != http.StatusOK {
			t.Fatalf("transfer: %d %q", code, body)
		}
	}
	if n := s.ledger.ledger.journal.next.Load(); n != 3 {
		t.Errorf("journal records %d, want 3", n)
	}
	if code, body := do(t, http.MethodPost, s.ledgSrv.URL+"/admin/bug?bug=faultstorm"); code != http.StatusNoContent {
		t.Fatalf("switching to faultstorm: %d %q", code, body)
	}
	a := s.ledger.ledger.archive
	for range 2 {
		if code, body := do(t, http.MethodGet, s.frontURL+"/balance?account=2"); code != http.StatusOK || !strings.Contains(body, "balance") {
			t.Fatalf("balance: %d %q", code, body)
		}
	}
	if n := a.next.Load(); n != 2 {
		t.Errorf("archive regions read %d, want 2", n)
	}
	resident := make([]byte, a.region/pageSize)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&a.mem[0])), uintptr(a.region),
		uintptr(unsafe.Pointer(&resident[0]))); errno != 0 {
		t.Fatal(errno)
	}
	for i, r := range resident {
		if r&1 != 0 {
			t.Errorf("archive page %d resident after the read: it should have been evicted", i)
		}
	}
}

// TestBankCPUQuota: the cpuquota bug needs cgroups; with one (a plain
// directory standing in for a cgroup) the ledger writes its pid into
// cgroup.procs when the bug comes on, and into the parent's when it goes
// off.
func TestBankCPUQuota(t *testing.T) {
	s := newSystem(t, "v1", BugNone)
	if code, _ := do(t, http.MethodPost, s.ledgSrv.URL+"/admin/bug?bug=cpuquota"); code != http.StatusConflict || s.ledger.Bug() != BugNone {
		t.Fatalf("cpuquota without cgroups: %d, bug %s; want 409 and none", code, s.ledger.Bug())
	}
	dir := filepath.Join(t.TempDir(), "limited")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s.ledger.cfg.CPUCgroups = []string{dir}
	pid := func(d string) string {
		b, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		return string(b)
	}
	if err := s.ledger.SetBug(BugCPUQuota); err != nil || pid(dir) != pidString() {
		t.Fatalf("joining: %v, cgroup.procs %q", err, pid(dir))
	}
	if err := s.ledger.SetBug(BugNone); err != nil || pid(filepath.Dir(dir)) != pidString() {
		t.Fatalf("leaving: %v, parent cgroup.procs %q", err, pid(filepath.Dir(dir)))
	}
}

func pidString() string { return strconv.Itoa(os.Getpid()) }
