package shop

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// durableSlots is how many records a durable file holds before it wraps
// around (records are overwritten in place, so fdatasync writes data, not
// file-size metadata).
const durableSlots = 16

// lightBytes is what a write without sync writes of a record.
const lightBytes = 4096

// durable is a preallocated record file: inventory's reservation journal,
// orders' log and manifest.
type durable struct {
	f     *os.File
	fd    int
	size  int // bytes per record
	chunk int // bytes written (and synced) at a time
	// fullSync syncs with fsync (data and metadata), not fdatasync.
	fullSync bool
	next     atomic.Int64
	bufs     sync.Pool
}

func openDurable(cfg *Config, pattern string) (*durable, error) {
	f, err := os.CreateTemp(cfg.DataDir, pattern)
	if err != nil {
		return nil, fmt.Errorf("creating a record file: %w", err)
	}
	d := &durable{f: f, fd: int(f.Fd()), size: cfg.RecordBytes, chunk: cfg.SyncChunkBytes}
	d.bufs.New = func() any { return make([]byte, d.size) }
	block := make([]byte, d.size)
	for i := range block {
		block[i] = byte(i*7 + 1) // no holes
	}
	for i := range durableSlots {
		if _, err := f.WriteAt(block, int64(i*d.size)); err != nil {
			return nil, errors.Join(fmt.Errorf("preallocating %s: %w", f.Name(), err), d.close())
		}
	}
	if err := unix.Fdatasync(d.fd); err != nil {
		return nil, errors.Join(fmt.Errorf("syncing %s: %w", f.Name(), err), d.close())
	}
	return d, nil
}

func (d *durable) close() error { return errors.Join(d.f.Close(), os.Remove(d.f.Name())) }

// write writes one record for key into the next slot: with syncBytes > 0
// that many bytes of it (at most the record) in chunks, each fdatasynced
// (fsynced with fullSync)
// (a naive crash-safe write, on the caller's goroutine); with 0, its
// first 4 KiB to the page cache.
func (d *durable) write(key int64, syncBytes int) error {
	buf := d.bufs.Get().([]byte)
	defer d.bufs.Put(buf)
	slot := d.next.Add(1) - 1
	binary.LittleEndian.PutUint64(buf[0:], uint64(slot))
	binary.LittleEndian.PutUint64(buf[8:], uint64(key))
	base := (slot % durableSlots) * int64(d.size)
	if syncBytes <= 0 {
		_, err := d.f.WriteAt(buf[:min(lightBytes, len(buf))], base)
		return err
	}
	n := min(syncBytes, len(buf))
	for off := 0; off < n; off += d.chunk {
		if _, err := d.f.WriteAt(buf[off:min(off+d.chunk, n)], base+int64(off)); err != nil {
			return fmt.Errorf("writing: %w", err)
		}
		sync := unix.Fdatasync
		if d.fullSync {
			sync = unix.Fsync
		}
		if err := sync(d.fd); err != nil {
			return fmt.Errorf("syncing: %w", err)
		}
	}
	return nil
}
