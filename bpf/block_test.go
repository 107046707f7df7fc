package bpf

import (
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// TestBlockIODirectWrites overwrites an allocated file with O_DIRECT
// writes and fdatasync from a process in a test cgroup, and expects one
// write request per block from that process, on the file's device, with
// the block's size.
func TestBlockIODirectWrites(t *testing.T) {
	requireEBPF(t)
	const blocks, kib = 16, 64
	file := filepath.Join(t.TempDir(), "direct")
	dir, cgid := testCgroup(t)
	w := startWorkload(t, buildC(t, "directio"), file, strconv.Itoa(blocks), strconv.Itoa(kib))
	if got := w.line(t); got != "ready" {
		t.Fatalf("workload printed %q, want ready", got)
	}
	var st unix.Stat_t
	if err := unix.Stat(file, &st); err != nil {
		t.Fatal(err)
	}
	major, minor := unix.Major(st.Dev), unix.Minor(st.Dev)
	if major == 0 {
		t.Skipf("%s is on a device without a block device (%d:%d)", file, major, minor)
	}
	pid := w.cmd.Process.Pid
	moveToCgroup(t, dir, pid)

	cfg := DefaultConfig()
	cfg.CgroupIDs = []uint64{cgid}
	cfg.BlockThreshold = 0
	probesOnly(t, &cfg, "Block")
	c, err := Load(cfg)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	defer c.Close()

	w.run(t)

	var writes, writeBytes, meta int
	ops := map[BlockOp]int{}
	if _, err := c.Drain(func(ev Event) {
		b, ok := ev.(BlockIO)
		if !ok {
			t.Errorf("unexpected event %+v", ev)
			return
		}
		ops[b.Op()]++
		if b.CmdFlags&BlockFlagMeta != 0 {
			meta++
		}
		if b.CgroupID != cgid || b.PID != uint32(pid) || b.Kthread {
			t.Errorf("request from pid %d cgroup %d (kthread %v), want %d and %d: %+v", b.PID, b.CgroupID, b.Kthread, pid, cgid, b)
			return
		}
		if b.Latency <= 0 || b.Error != 0 {
			t.Errorf("latency %v, error %d: %+v", b.Latency, b.Error, b)
		}
		if b.Op() != BlockWrite || b.CmdFlags&BlockFlagMeta != 0 {
			// The flush of fdatasync, or an ext4 fast commit (a
			// metadata write by the fdatasync caller).
			return
		}
		if b.Major() != major || b.Minor() != minor {
			t.Errorf("write on %d:%d, the file is on %d:%d", b.Major(), b.Minor(), major, minor)
		}
		if b.Bytes != kib<<10 {
			t.Errorf("write of %d bytes, want %d: %+v", b.Bytes, kib<<10, b)
		}
		writes++
		writeBytes += int(b.Bytes)
	}); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if writes != blocks || writeBytes != blocks*kib<<10 {
		t.Errorf("%d writes of %d bytes in all, want %d of %d", writes, writeBytes, blocks, blocks*kib<<10)
	}
	cn, err := c.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if cn.BlockDrops != 0 {
		t.Errorf("counters %+v: want no drops", cn)
	}
	t.Logf("requests by op %v (%d metadata); counters %+v", ops, meta, cn)
}
