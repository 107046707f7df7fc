package bpf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"
)

// ErrClosed is returned by Read after Close.
var ErrClosed = errors.New("collector closed")

// Collector owns the loaded programs, their attachments and the ring-buffer
// reader. Read may be called from one goroutine while another calls
// Counters or Close.
type Collector struct {
	objs   collectorObjects
	links  []link.Link
	perfs  []int // perf event fds of the major-fault probe, closed after their links
	reader *ringbuf.Reader

	flush       time.Duration // Config.FlushInterval when wake-ups are batched
	faultPeriod uint64        // Config.MajorFaultPeriod

	readMu sync.Mutex
	rec    ringbuf.Record

	uprobeMu sync.Mutex
	uprobes  map[string]*binaryProbes // by set and path
	closed   bool

	closeOnce sync.Once
	closeErr  error
}

// Load validates cfg, loads the programs and attaches the enabled probes.
// It needs root (CAP_BPF and CAP_PERFMON) and a kernel with BTF. On error
// nothing stays attached.
func Load(cfg Config) (c *Collector, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.DisableFutex || !cfg.DisableFsync {
		if err := ensureTracefs(cfg.MountTracefs); err != nil {
			return nil, fmt.Errorf("preparing syscall probes: %w", err)
		}
	}
	spec, err := loadCollector()
	if err != nil {
		return nil, fmt.Errorf("reading BPF object: %w", err)
	}
	spec.Maps[collectorMapEvents].MaxEntries = uint32(cfg.RingBytes)

	c = &Collector{faultPeriod: uint64(max(cfg.MajorFaultPeriod, 1))}
	if err := spec.LoadAndAssign(&c.objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("loading BPF programs: %+v", ve)
		}
		return nil, fmt.Errorf("loading BPF programs: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Close())
			c = nil
		}
	}()

	if err := c.configure(cfg); err != nil {
		return nil, err
	}
	if !cfg.DisableFutex {
		if err := c.attachFutex(); err != nil {
			return nil, err
		}
	}
	if !cfg.DisableRunqueue {
		if err := c.attachRunqueue(); err != nil {
			return nil, err
		}
	}
	if !cfg.DisableTCP {
		// The owner hook first, so that sockets connecting from now on
		// have their owner when they retransmit.
		if err := c.attachTracing("TCP state", c.objs.TcpState); err != nil {
			return nil, err
		}
		if err := c.attachTracing("TCP retransmit", c.objs.TcpRetransmit); err != nil {
			return nil, err
		}
	}
	if !cfg.DisableBlock {
		// Completion first: an issue seen before it is attached would
		// leave its entry to the LRU.
		if err := c.attachTracing("block completion", c.objs.BlockComplete); err != nil {
			return nil, err
		}
		if err := c.attachTracing("block issue", c.objs.BlockIssue); err != nil {
			return nil, err
		}
	}
	if !cfg.DisablePageFault {
		if err := c.attachPageFault(uint64(cfg.MajorFaultPeriod)); err != nil {
			return nil, err
		}
	}
	if !cfg.DisableFsync {
		if err := c.attachFsync(); err != nil {
			return nil, err
		}
	}
	if c.reader, err = ringbuf.NewReader(c.objs.Events); err != nil {
		return nil, fmt.Errorf("opening ring buffer: %w", err)
	}
	if cfg.WakeupBytes > 0 {
		c.flush = cfg.FlushInterval
		c.reader.SetDeadline(time.Now().Add(c.flush))
	}
	return c, nil
}

// configure fills the filter maps, then the config entry that turns the
// filters on.
func (c *Collector) configure(cfg Config) error {
	one := uint8(1)
	for _, id := range cfg.CgroupIDs {
		if err := c.objs.CgroupFilter.Put(id, one); err != nil {
			return fmt.Errorf("adding cgroup %d to the filter: %w", id, err)
		}
	}
	for _, pid := range cfg.PIDs {
		if err := c.objs.PidFilter.Put(pid, one); err != nil {
			return fmt.Errorf("adding pid %d to the filter: %w", pid, err)
		}
	}
	kc := collectorConfig{
		FutexThresholdNs: uint64(cfg.FutexThreshold),
		RunqThresholdNs:  uint64(cfg.RunqueueThreshold),
		WakeupBytes:      uint64(cfg.WakeupBytes),
		BlockThresholdNs: uint64(cfg.BlockThreshold),
		TcpIntervalNs:    uint64(cfg.TCPRetransmitInterval),
		FsyncThresholdNs: uint64(cfg.FsyncThreshold),
	}
	if len(cfg.CgroupIDs) > 0 {
		kc.FilterCgroups = 1
	}
	if len(cfg.PIDs) > 0 || cfg.FilterPIDs {
		kc.FilterPids = 1
	}
	if err := c.objs.ConfigMap.Put(uint32(0), kc); err != nil {
		return fmt.Errorf("writing probe config: %w", err)
	}
	return nil
}

func (c *Collector) attachFutex() error {
	tps := []struct {
		name     string
		prog     *ebpf.Program
		optional bool // futex_wait and futex_waitv are Linux 5.16+/6.7+
	}{
		{"sys_enter_futex", c.objs.FutexEnterFutex, false},
		{"sys_exit_futex", c.objs.FutexExit, false},
		{"sys_enter_futex_wait", c.objs.FutexEnterWait, true},
		{"sys_exit_futex_wait", c.objs.FutexExit, true},
		{"sys_enter_futex_waitv", c.objs.FutexEnterWaitv, true},
		{"sys_exit_futex_waitv", c.objs.FutexExit, true},
	}
	// Wakers first: a wait that starts before the waking hook is attached
	// would be reported without its waker.
	if err := c.attachTracing("futex waking", c.objs.FutexWaking); err != nil {
		return err
	}
	for _, tp := range tps {
		l, err := link.Tracepoint("syscalls", tp.name, tp.prog, nil)
		if tp.optional && errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("attaching futex program to syscalls/%s: %w", tp.name, err)
		}
		c.links = append(c.links, l)
	}
	return nil
}

func (c *Collector) attachFsync() error {
	for _, tp := range []struct {
		name string
		prog *ebpf.Program
	}{
		{"sys_enter_fsync", c.objs.FsyncEnterFsync},
		{"sys_enter_fdatasync", c.objs.FsyncEnterFdatasync},
		{"sys_enter_sync_file_range", c.objs.FsyncEnterSyncFileRange},
		{"sys_exit_fsync", c.objs.FsyncExit},
		{"sys_exit_fdatasync", c.objs.FsyncExit},
		{"sys_exit_sync_file_range", c.objs.FsyncExit},
	} {
		l, err := link.Tracepoint("syscalls", tp.name, tp.prog, nil)
		if err != nil {
			return fmt.Errorf("attaching fsync program to syscalls/%s: %w", tp.name, err)
		}
		c.links = append(c.links, l)
	}
	return nil
}

func (c *Collector) attachRunqueue() error {
	for _, p := range []struct {
		name string
		prog *ebpf.Program
	}{
		{"run-queue wakeup", c.objs.RunqWakeup},
		{"run-queue wakeup_new", c.objs.RunqWakeupNew},
		{"run-queue switch", c.objs.RunqSwitch},
	} {
		if err := c.attachTracing(p.name, p.prog); err != nil {
			return err
		}
	}
	return nil
}

// attachPageFault opens a PERF_COUNT_SW_PAGE_FAULTS_MAJ software event on
// every online CPU (for every task), sampling every period faults, and
// attaches the major-fault program to each through a BPF link. CPUs that
// come online later are not covered.
func (c *Collector) attachPageFault(period uint64) error {
	cpus, err := onlineCPUs()
	if err != nil {
		return fmt.Errorf("attaching major-fault program: %w", err)
	}
	for _, cpu := range cpus {
		attr := unix.PerfEventAttr{
			Type:   unix.PERF_TYPE_SOFTWARE,
			Config: unix.PERF_COUNT_SW_PAGE_FAULTS_MAJ,
			Size:   uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
			Sample: period,
			Bits:   unix.PerfBitDisabled,
		}
		fd, err := unix.PerfEventOpen(&attr, -1, cpu, -1, unix.PERF_FLAG_FD_CLOEXEC)
		if err != nil {
			return fmt.Errorf("opening major-fault perf event on CPU %d: %w", cpu, err)
		}
		c.perfs = append(c.perfs, fd)
		l, err := link.AttachRawLink(link.RawLinkOptions{
			Target:  fd,
			Program: c.objs.PageFaultMaj,
			Attach:  ebpf.AttachPerfEvent,
		})
		if err != nil {
			return fmt.Errorf("attaching major-fault program on CPU %d: %w", cpu, err)
		}
		c.links = append(c.links, l)
		if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_ENABLE, 0); err != nil {
			return fmt.Errorf("enabling major-fault perf event on CPU %d: %w", cpu, err)
		}
	}
	return nil
}

// onlineCPUs parses /sys/devices/system/cpu/online ("0-3,6").
func onlineCPUs() ([]int, error) {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return nil, fmt.Errorf("reading online CPUs: %w", err)
	}
	return parseCPUList(strings.TrimSpace(string(b)))
}

func parseCPUList(s string) ([]int, error) {
	var cpus []int
	for _, r := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(r, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("CPU list %q: bad entry %q", s, r)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a || b-a > 1<<16 {
				return nil, fmt.Errorf("CPU list %q: bad range %q", s, r)
			}
		}
		for cpu := a; cpu <= b; cpu++ {
			cpus = append(cpus, cpu)
		}
	}
	return cpus, nil
}

// attachTracing attaches a tp_btf program to the tracepoint its section names.
func (c *Collector) attachTracing(name string, prog *ebpf.Program) error {
	l, err := link.AttachTracing(link.TracingOptions{Program: prog})
	if err != nil {
		return fmt.Errorf("attaching %s program: %w", name, err)
	}
	c.links = append(c.links, l)
	return nil
}

// Read blocks until the next event, ctx is done or the collector is closed
// (then it returns ErrClosed). With batched wake-ups (Config.WakeupBytes)
// a record reaches Read at most about FlushInterval after it was written. A record that does not decode gives an
// error wrapping ErrRecordSize, ErrRecordKind or ErrRecordField; reading
// may continue after it.
func (c *Collector) Read(ctx context.Context) (Event, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = c.reader.Flush() })
	defer stop()
	for {
		err := c.reader.ReadInto(&c.rec)
		switch {
		case err == nil:
			ev, err := c.decode(c.rec.RawSample)
			if err != nil {
				return nil, fmt.Errorf("decoding record: %w", err)
			}
			return ev, nil
		case errors.Is(err, ringbuf.ErrFlushed):
			// Flushed by a cancelled context, maybe an earlier one.
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		case errors.Is(err, os.ErrDeadlineExceeded):
			// Poll for records submitted without a wake-up.
			c.reader.SetDeadline(time.Now().Add(c.flush))
		case errors.Is(err, ringbuf.ErrClosed):
			return nil, ErrClosed
		default:
			return nil, fmt.Errorf("reading ring buffer: %w", err)
		}
	}
}

// decode is DecodeRecord with what the record does not carry filled in
// from the configuration.
func (c *Collector) decode(b []byte) (Event, error) {
	ev, err := DecodeRecord(b)
	if f, ok := ev.(PageFaultMajor); ok {
		f.Period = c.faultPeriod
		return f, nil
	}
	return ev, err
}

// Drain calls fn for every record already in the ring buffer and returns
// without waiting for more: use it to flush before Close, or once a
// workload has exited. Records that do not decode are skipped and reported
// together in the error after the rest were delivered.
func (c *Collector) Drain(fn func(Event)) (n int, err error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if err := c.reader.Flush(); err != nil {
		if errors.Is(err, ringbuf.ErrClosed) {
			return 0, ErrClosed
		}
		return 0, fmt.Errorf("flushing ring buffer: %w", err)
	}
	var bad []error
	for {
		err := c.reader.ReadInto(&c.rec)
		switch {
		case err == nil:
			ev, err := c.decode(c.rec.RawSample)
			if err != nil {
				if len(bad) < 8 {
					bad = append(bad, fmt.Errorf("decoding record: %w", err))
				}
				continue
			}
			fn(ev)
			n++
		case errors.Is(err, ringbuf.ErrFlushed):
			return n, errors.Join(bad...)
		case errors.Is(err, os.ErrDeadlineExceeded):
			c.reader.SetDeadline(time.Now().Add(c.flush))
		case errors.Is(err, ringbuf.ErrClosed):
			return n, errors.Join(append(bad, ErrClosed)...)
		default:
			return n, errors.Join(append(bad, fmt.Errorf("reading ring buffer: %w", err))...)
		}
	}
}

// AddPIDs adds processes to the pid filter (Config.PIDs or
// Config.FilterPIDs turned it on); their events are reported from now on.
func (c *Collector) AddPIDs(pids ...uint32) error {
	one := uint8(1)
	for _, pid := range pids {
		if err := c.objs.PidFilter.Put(pid, one); err != nil {
			return fmt.Errorf("adding pid %d to the filter: %w", pid, err)
		}
	}
	return nil
}

// RemovePIDs removes processes from the pid filter; unknown pids are
// ignored.
func (c *Collector) RemovePIDs(pids ...uint32) error {
	for _, pid := range pids {
		if err := c.objs.PidFilter.Delete(pid); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("removing pid %d from the filter: %w", pid, err)
		}
	}
	return nil
}

// Close detaches every probe, closes the ring buffer (releasing a blocked
// Read) and frees the programs and maps. It is idempotent.
func (c *Collector) Close() error {
	c.closeOnce.Do(func() {
		errs := []error{c.closeUprobes()}
		// Detach first so no program runs against maps being torn down.
		for i := len(c.links) - 1; i >= 0; i-- {
			if err := c.links[i].Close(); err != nil {
				errs = append(errs, fmt.Errorf("detaching probe: %w", err))
			}
		}
		for _, fd := range c.perfs {
			if err := unix.Close(fd); err != nil {
				errs = append(errs, fmt.Errorf("closing perf event: %w", err))
			}
		}
		if c.reader != nil {
			if err := c.reader.Close(); err != nil {
				errs = append(errs, fmt.Errorf("closing ring buffer reader: %w", err))
			}
		}
		if err := c.objs.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing BPF objects: %w", err))
		}
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}
