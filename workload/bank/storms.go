package bank

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// pageSize is the page the faultstorm bug reads at a time.
const pageSize = 4096

// journalSlots is how many entry records the journal file holds before it
// wraps around (its records are overwritten in place, so that fdatasync
// writes data, not file-size metadata).
const journalSlots = 16

// journal is the iostorm bug's durable entry log.
type journal struct {
	f     *os.File
	fd    int
	size  int // bytes per record
	chunk int // bytes written (and synced) at a time
	next  atomic.Int64
	bufs  sync.Pool
}

func openJournal(cfg *Config) (*journal, error) {
	f, err := os.CreateTemp(cfg.DataDir, "bank-ledger-*.journal")
	if err != nil {
		return nil, fmt.Errorf("creating the ledger journal: %w", err)
	}
	j := &journal{f: f, fd: int(f.Fd()), size: cfg.SnapshotBytes, chunk: cfg.SyncChunkBytes}
	j.bufs.New = func() any { return make([]byte, j.size) }
	if err := fillFile(f, journalSlots*j.size); err != nil {
		return nil, errors.Join(fmt.Errorf("preallocating the ledger journal: %w", err), j.close())
	}
	return j, nil
}

func (j *journal) close() error {
	return errors.Join(j.f.Close(), os.Remove(j.f.Name()))
}

// append writes one entry's record into the next slot in chunks and
// fdatasyncs after each chunk (a naive crash-safe write) on the caller's
// goroutine: the request waits for the disk.
func (j *journal) append(from, to int, amount int64) error {
	buf := j.bufs.Get().([]byte)
	defer j.bufs.Put(buf)
	slot := j.next.Add(1) - 1
	binary.LittleEndian.PutUint64(buf[0:], uint64(slot))
	binary.LittleEndian.PutUint64(buf[8:], uint64(from))
	binary.LittleEndian.PutUint64(buf[16:], uint64(to))
	binary.LittleEndian.PutUint64(buf[24:], uint64(amount))
	base := (slot % journalSlots) * int64(j.size)
	for off := 0; off < len(buf); off += j.chunk {
		if _, err := j.f.WriteAt(buf[off:min(off+j.chunk, len(buf))], base+int64(off)); err != nil {
			return fmt.Errorf("writing the journal: %w", err)
		}
		if err := unix.Fdatasync(j.fd); err != nil {
			return fmt.Errorf("syncing the journal: %w", err)
		}
	}
	return nil
}

// fillFile writes n non-zero bytes (no holes: reading a hole needs no
// disk) and fdatasyncs them.
func fillFile(f *os.File, n int) error {
	block := make([]byte, 1<<20)
	for i := range block {
		block[i] = byte(i*7 + 1)
	}
	for off := 0; off < n; off += len(block) {
		if _, err := f.WriteAt(block[:min(len(block), n-off)], int64(off)); err != nil {
			return err
		}
	}
	return unix.Fdatasync(int(f.Fd()))
}

// archive is the faultstorm bug's memory-mapped history file.
type archive struct {
	f       *os.File
	mem     []byte
	region  int // bytes read per balance
	regions int64
	next    atomic.Int64
	sink    atomic.Uint64
}

func openArchive(cfg *Config) (a *archive, err error) {
	f, err := os.CreateTemp(cfg.DataDir, "bank-ledger-*.archive")
	if err != nil {
		return nil, fmt.Errorf("creating the ledger archive: %w", err)
	}
	a = &archive{f: f, region: cfg.FaultPages * pageSize}
	a.regions = int64(cfg.FaultFileBytes / a.region)
	defer func() {
		if err != nil {
			err = errors.Join(fmt.Errorf("preparing the ledger archive: %w", err), a.close())
		}
	}()
	size := int(a.regions) * a.region
	if err := fillFile(f, size); err != nil {
		return a, err
	}
	if a.mem, err = unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED); err != nil {
		return a, err
	}
	// No read-ahead: each touched page is its own fault and disk read.
	if err := unix.Madvise(a.mem, unix.MADV_RANDOM); err != nil {
		return a, err
	}
	return a, a.evict(0, size)
}

func (a *archive) close() error {
	var err error
	if a.mem != nil {
		err = unix.Munmap(a.mem)
	}
	return errors.Join(err, a.f.Close(), os.Remove(a.f.Name()))
}

// read touches one page in each of the next region's pages (major faults:
// they were evicted), then evicts the region again: the working set never
// stays in memory.
func (a *archive) read() uint64 {
	off := int((a.next.Add(1) - 1) % a.regions * int64(a.region))
	var sum uint64
	for p := off; p < off+a.region; p += pageSize {
		sum += uint64(a.mem[p])
	}
	a.sink.Add(sum)
	_ = a.evict(off, a.region) // a failed eviction only makes the next read faster
	return sum
}

// evict unmaps the pages of [off, off+n) from this process and drops them
// from the page cache.
func (a *archive) evict(off, n int) error {
	if err := unix.Madvise(a.mem[off:off+n], unix.MADV_DONTNEED); err != nil {
		return fmt.Errorf("madvise: %w", err)
	}
	if err := unix.Fadvise(int(a.f.Fd()), int64(off), int64(n), unix.FADV_DONTNEED); err != nil {
		return fmt.Errorf("fadvise: %w", err)
	}
	return nil
}

// joinCgroups moves this process into each directory's cgroup (the
// cpuquota bug), or with leave back into each one's parent.
func joinCgroups(dirs []string, leave bool) error {
	pid := []byte(strconv.Itoa(os.Getpid()))
	for _, d := range dirs {
		if leave {
			d = filepath.Dir(filepath.Clean(d))
		}
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), pid, 0); err != nil {
			return fmt.Errorf("moving the ledger into cgroup %s: %w", d, err)
		}
	}
	return nil
}
