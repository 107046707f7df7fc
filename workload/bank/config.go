// Package bank is debugai's two-service demo system with real, switchable
// bugs: a frontend (POST /transfer, GET /balance) that calls a ledger
// (POST /entries, GET /balance) over HTTP. Optionally the ledger also
// serves gRPC (service debugai.bank.v1.Ledger, unary Authorize; see
// Service.GRPCServer) and a frontend given Config.LedgerGRPC asks
// Authorize before each transfer's POST /entries: a refusal answers the
// client 403, a failed call 502. Authorize checks that both accounts
// exist and the amount is positive without taking the ledger's mutex, so
// it leaves the bugs below as they are.
//
// Both services are instrumented with the OpenTelemetry Go SDK (otelhttp
// and otelgrpc stats handlers, W3C trace context, so one transfer is one
// trace: frontend POST /transfer -> Authorize client -> ledger Authorize
// server, and -> POST /entries client -> ledger POST /entries server) and
// register the hint span processor (hint/otelhint), so that the node
// collector stamps the kernel events it observes with the active span.
//
// The bugs, switchable by flag and at run time (POST /admin/bug?bug=NAME):
//
//   - convoy: the ledger holds its process-wide sync.Mutex while it
//     rewrites and fdatasyncs its balance snapshot, so transfers queue
//     behind the holder's disk I/O (Go lock waits that debugai-node
//     reports as kernel.futex_wait records with debugai.lock.kind=go_mutex);
//   - regression: version v2 of the ledger recomputes a balance by
//     re-hashing its history on every GET /balance (extra CPU work);
//     version v1 is unaffected;
//   - iostorm: the ledger journals every entry durably on the request
//     path, outside the mutex: it writes a snapshot-sized record in
//     SyncChunkBytes chunks and fdatasyncs each chunk, so POST /entries
//     waits for the disk (kernel.fsync and kernel.block_io records);
//   - faultstorm: every GET /balance reads FaultPages pages of a large
//     archive file through a read-only mmap whose pages it evicted after
//     their last use (madvise MADV_DONTNEED, posix_fadvise
//     POSIX_FADV_DONTNEED), so each touch is a major page fault that
//     waits for a disk read (kernel.page_fault_major records);
//   - cpuquota: the ledger joins the cgroups of Config.CPUCgroups (one of
//     them with a CPU quota that "debugai record" sets), so its threads
//     are throttled under load and wait runnable for a CPU
//     (kernel.runqueue_delay records); switching it off moves the ledger
//     back to each cgroup's parent;
//   - lockinv: a lock inversion in a retry path, bounded by a timeout.
//     POST /entries appends to the ledger's audit trail while holding the
//     ledger mutex (order: mutex, then audit lock); GET /balance
//     reconciles the audit trail first (at most once per
//     ReconcileEvery), holding the audit lock while it
//     takes the ledger mutex with a TryLock loop that gives up after
//     ReconcileTimeout, releases the audit lock, backs off and retries
//     (order: audit lock, then mutex). The two orders make each side
//     wait for the other until the timeout: latency, not a hang (Go lock
//     waits, and lock-order edges in a -gcflags=all=-l build). With Locks
//     "pthread" the two locks are pthread mutexes taken by C code
//     (plock.c, built by cgo with the system compiler) and the retry path
//     uses pthread_mutex_timedlock: futex waits and lock-order edges name
//     the same mutex addresses, in a normal build;
//   - callconvoy: a lock held across a slow downstream call. The
//     frontend serializes transfers through one sync.Mutex held across
//     its Authorize call to the ledger (slow when the ledger's
//     AuthorizeDelay is set): transfers queue on the frontend's mutex
//     behind the call in flight (Go lock waits released as each call
//     returns);
//   - none: the ledger applies entries under the mutex and leaves the
//     snapshot to the page cache.
//
// "debugai workload bank" serves one role; "debugai record" runs both with
// the node collector and records incident bundles.
package bank

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"
)

// Role is which service a process serves.
type Role string

// Roles.
const (
	RoleFrontend Role = "frontend"
	RoleLedger   Role = "ledger"
)

// Bug is a switchable defect.
type Bug string

// Bugs.
const (
	BugNone       Bug = "none"
	BugConvoy     Bug = "convoy"
	BugRegression Bug = "regression"
	BugIOStorm    Bug = "iostorm"
	BugFaultStorm Bug = "faultstorm"
	BugCPUQuota   Bug = "cpuquota"
	BugLockInv    Bug = "lockinv"
	BugCallConvoy Bug = "callconvoy"
)

// ErrInvalidConfig is wrapped by every Validate error.
var ErrInvalidConfig = errors.New("invalid bank configuration")

// ParseBug returns the bug named s.
func ParseBug(s string) (Bug, error) {
	switch b := Bug(s); b {
	case BugNone, BugConvoy, BugRegression, BugIOStorm, BugFaultStorm, BugCPUQuota, BugLockInv, BugCallConvoy:
		return b, nil
	}
	return "", fmt.Errorf("%w: bug %q: want none, convoy, regression, iostorm, faultstorm, cpuquota, lockinv or callconvoy", ErrInvalidConfig, s)
}

// Config configures one service. Start from DefaultConfig.
type Config struct {
	// Role is frontend or ledger.
	Role Role
	// Version is the deployed version, v1 or v2 (resource attribute
	// service.version); the regression bug only affects v2.
	Version string
	// Bug is the defect active at start.
	Bug Bug
	// LedgerURL is the ledger's base URL (frontend only).
	LedgerURL string
	// LedgerGRPC is the ledger's gRPC address, host:port (frontend only;
	// "" : transfers skip Authorize and go straight to POST /entries).
	LedgerGRPC string
	// DataDir holds the ledger's snapshot file ("" : the system's
	// temporary directory). It should be on a real disk: the convoy's
	// holder waits for fdatasync.
	DataDir string
	// SnapshotBytes is the size of the balance snapshot the ledger
	// rewrites per entry when the convoy bug is on.
	SnapshotBytes int
	// SyncChunkBytes is how much of the snapshot the ledger writes at a
	// time; under the convoy bug it fdatasyncs after each chunk.
	SyncChunkBytes int
	// RegressionRounds is the SHA-256 rounds over 4 KiB that v2's
	// GET /balance adds when the regression bug is on.
	RegressionRounds int
	// Accounts is the number of accounts the ledger holds.
	Accounts int
	// FaultFileBytes is the size of the archive file the ledger maps at
	// start (in DataDir) and reads under the faultstorm bug.
	FaultFileBytes int
	// FaultPages is how many 4 KiB pages of the archive one GET /balance
	// reads under the faultstorm bug.
	FaultPages int
	// CPUCgroups are cgroup directories (v1 cpu or v2) the ledger joins
	// under the cpuquota bug; the caller creates them and sets the quota.
	CPUCgroups []string
	// ReconcileTimeout bounds one attempt of the lockinv bug's
	// reconciliation to take the ledger mutex while it holds the audit
	// lock; ReconcileRetries is how many attempts it makes.
	ReconcileTimeout time.Duration
	ReconcileRetries int
	// ReconcileEvery is how long a reconciliation lasts before a balance
	// read starts another (0: every read reconciles).
	ReconcileEvery time.Duration
	// AuthorizeDelay is how long the ledger's Authorize waits for a slow
	// dependency (0: none), whatever the bug.
	AuthorizeDelay time.Duration
	// Locks is the lockinv bug's lock implementation: LocksGo (sync.Mutex)
	// or LocksPthread (pthread mutexes in C, taken with
	// pthread_mutex_timedlock on the retry path).
	Locks string
}

// Lock implementations of the lockinv bug.
const (
	LocksGo      = "go"
	LocksPthread = "pthread"
)

// DefaultConfig is a v1 ledger without bugs: 256 KiB snapshots written
// in 32 KiB chunks (8 fdatasyncs per entry under the convoy bug), 600
// regression rounds (a few milliseconds of CPU), 100 accounts, a 32 MiB
// archive read 32 pages per balance under the faultstorm bug, and under
// the lockinv bug a reconciliation at most every 100 ms that gives up
// after 25 ms (one attempt): at most a quarter of the time blocked.
func DefaultConfig() Config {
	return Config{Role: RoleLedger, Version: "v1", Bug: BugNone, SnapshotBytes: 256 << 10, SyncChunkBytes: 32 << 10,
		RegressionRounds: 600, Accounts: 100, FaultFileBytes: 32 << 20, FaultPages: 32,
		ReconcileTimeout: 25 * time.Millisecond, ReconcileRetries: 1, ReconcileEvery: 100 * time.Millisecond,
		Locks: LocksGo}
}

// Validate reports the first problem with c.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
	switch {
	case c.Role != RoleFrontend && c.Role != RoleLedger:
		return bad("role %q: want frontend or ledger", c.Role)
	case c.Version != "v1" && c.Version != "v2":
		return bad("version %q: want v1 or v2", c.Version)
	case c.SnapshotBytes < 1 || c.SnapshotBytes > 64<<20:
		return bad("snapshot bytes %d: want 1 to 64 MiB", c.SnapshotBytes)
	case c.SyncChunkBytes < 1 || c.SyncChunkBytes > c.SnapshotBytes:
		return bad("sync chunk bytes %d: want 1 to the snapshot size %d", c.SyncChunkBytes, c.SnapshotBytes)
	case c.RegressionRounds < 0 || c.RegressionRounds > 1_000_000:
		return bad("regression rounds %d: want 0 to 1000000", c.RegressionRounds)
	case c.Accounts < 2 || c.Accounts > 1_000_000:
		return bad("accounts %d: want 2 to 1000000", c.Accounts)
	case c.FaultPages < 1 || c.FaultPages > 4096:
		return bad("fault pages %d: want 1 to 4096", c.FaultPages)
	case c.FaultFileBytes < c.FaultPages*pageSize || c.FaultFileBytes > 1<<30:
		return bad("fault file bytes %d: want %d (fault pages x 4 KiB) to 1 GiB", c.FaultFileBytes, c.FaultPages*pageSize)
	case c.ReconcileTimeout < 100*time.Microsecond || c.ReconcileTimeout > 10*time.Second:
		return bad("reconcile timeout %v: want 100µs to 10s", c.ReconcileTimeout)
	case c.ReconcileRetries < 1 || c.ReconcileRetries > 100:
		return bad("reconcile retries %d: want 1 to 100", c.ReconcileRetries)
	case c.AuthorizeDelay < 0 || c.AuthorizeDelay > 10*time.Second:
		return bad("authorize delay %v: want 0 to 10s", c.AuthorizeDelay)
	case c.Locks != LocksGo && c.Locks != LocksPthread:
		return bad("locks %q: want %s or %s", c.Locks, LocksGo, LocksPthread)
	case c.ReconcileEvery < 0 || c.ReconcileEvery > 10*time.Second:
		return bad("reconcile interval %v: want 0 to 10s", c.ReconcileEvery)
	case c.Bug == BugCPUQuota && len(c.CPUCgroups) == 0:
		return bad("the cpuquota bug needs CPU cgroups to join")
	}
	if _, err := ParseBug(string(c.Bug)); err != nil {
		return err
	}
	if c.Role == RoleFrontend {
		u, err := url.Parse(c.LedgerURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("ledger URL %q: want http://host:port", c.LedgerURL)
		}
	}
	if c.LedgerGRPC != "" {
		if c.Role != RoleFrontend {
			return bad("ledger gRPC address %q: only the frontend calls the ledger", c.LedgerGRPC)
		}
		host, port, err := net.SplitHostPort(c.LedgerGRPC)
		if p, perr := strconv.ParseUint(port, 10, 16); err != nil || perr != nil || p == 0 || host == "" {
			return bad("ledger gRPC address %q: want host:port", c.LedgerGRPC)
		}
	}
	if c.Role == RoleLedger && c.DataDir != "" {
		fi, err := os.Stat(c.DataDir)
		if err != nil {
			return bad("data directory: %v", err)
		}
		if !fi.IsDir() {
			return bad("data directory %s: not a directory", c.DataDir)
		}
	}
	return nil
}
