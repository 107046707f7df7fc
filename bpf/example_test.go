package bpf_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/debugai/debugai/bpf"
)

// Load the probes for one process, read its futex waits, run-queue
// delays, TCP retransmits, block I/O and major faults, and convert them to
// wall-clock kernel events.
func ExampleLoad() {
	cfg := bpf.DefaultConfig()
	cfg.PIDs = []uint32{4242}
	cfg.FutexThreshold = 100 * time.Microsecond
	c, err := bpf.Load(cfg)
	if err != nil {
		fmt.Println("loading probes:", err)
		return
	}
	defer c.Close()

	clk, err := bpf.SampleClock()
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		ev, err := c.Read(ctx)
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, bpf.ErrClosed) {
			break
		} else if err != nil {
			fmt.Println(err) // a bad record: count it and go on
			continue
		}
		switch ev := ev.(type) {
		case bpf.FutexWait:
			k := ev.KernelEvent(clk)
			fmt.Printf("tid %d waited %v on %#x, woken by %d\n", k.TID, ev.Duration, k.Addr, k.WakerTID)
		case bpf.RunqueueDelay:
			fmt.Printf("tid %d runnable for %v before running\n", ev.TID, ev.Delay)
		case bpf.TCPRetransmit:
			// ev.LocalAddr and ev.RemoteAddr are raw: tokenize before export.
			k := ev.KernelEvent(clk)
			fmt.Printf("socket %d (port %d) retransmitted, %d so far\n", ev.Cookie, ev.LocalPort, k.Value)
		case bpf.BlockIO:
			fmt.Printf("%s of %d bytes took %v\n", ev.Op(), ev.Bytes, ev.Latency)
		case bpf.PageFaultMajor:
			fmt.Printf("tid %d: major fault at %#x\n", ev.TID, ev.Addr)
		}
	}
	counters, err := c.Counters()
	if err == nil {
		fmt.Printf("%d futex records, %d dropped\n", counters.FutexEvents, counters.FutexDrops)
	}
}
