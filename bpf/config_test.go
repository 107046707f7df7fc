package bpf

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	def := DefaultConfig()
	if err := def.Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no probes", func(c *Config) {
			c.DisableFutex, c.DisableRunqueue, c.DisableTCP, c.DisableBlock, c.DisablePageFault = true, true, true, true, true
			c.DisableFsync = true
		}, "every probe is disabled"},
		{"negative fsync", func(c *Config) { c.FsyncThreshold = -time.Millisecond }, "fsync threshold -1ms is negative"},
		{"negative block", func(c *Config) { c.BlockThreshold = -time.Millisecond }, "block threshold -1ms is negative"},
		{"negative tcp interval", func(c *Config) { c.TCPRetransmitInterval = -1 }, "TCP retransmit interval -1ns is negative"},
		{"fault period 0", func(c *Config) { c.MajorFaultPeriod = 0 }, "major fault period 0 is not positive"},
		{"negative futex", func(c *Config) { c.FutexThreshold = -time.Second }, "futex threshold -1s is negative"},
		{"negative runq", func(c *Config) { c.RunqueueThreshold = -1 }, "run-queue threshold -1ns is negative"},
		{"ring not pow2", func(c *Config) { c.RingBytes = 3 << 20 }, "ring size 3145728 is not a power of two"},
		{"ring small", func(c *Config) { c.RingBytes = 1024 }, "ring size 1024"},
		{"ring zero", func(c *Config) { c.RingBytes = 0 }, "ring size 0"},
		{"wakeup too big", func(c *Config) { c.WakeupBytes = c.RingBytes }, "wake-up size 4194304 is not between 0 and half the ring (2097152)"},
		{"wakeup negative", func(c *Config) { c.WakeupBytes = -1 }, "wake-up size -1"},
		{"no flush interval", func(c *Config) { c.FlushInterval = 0 }, "flush interval 0s is not in (0, 1m]"},
		{"cgroup 0", func(c *Config) { c.CgroupIDs = []uint64{5, 0} }, "cgroup id 0"},
		{"pid 0", func(c *Config) { c.PIDs = []uint32{0} }, "pid 0"},
		{"too many pids", func(c *Config) { c.PIDs = make([]uint32, maxFilterEntries+1) }, "4097 pids, at most 4096"},
		{"too many cgroups", func(c *Config) { c.CgroupIDs = make([]uint64, maxFilterEntries+1) }, "4097 cgroup ids"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.change(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}
