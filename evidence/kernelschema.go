package evidence

// OTLP log shape of node-collector records (docs/kernel-events.md). The
// node collector writes these names and keys; ingest reads them back.
const (
	// KernelEventNamePrefix starts the event name of every kernel record:
	// "kernel.futex_wait", "kernel.lock_edge", ... It is carried in the log
	// record's EventName field or, for older SDKs, in the "event.name"
	// attribute.
	KernelEventNamePrefix = "kernel."
	// KernelLockEdgeEventName names lock-order edge records.
	KernelLockEdgeEventName = "kernel.lock_edge"

	AttrNodeID          = "debugai.node.id"     // resource: node collector id
	AttrStream          = "debugai.stream"      // string: probe/ring stream name
	AttrSeq             = "debugai.seq"         // int: sequence within (node, stream)
	AttrPID             = "process.pid"         // int
	AttrTID             = "thread.id"           // int
	AttrCgroupID        = "debugai.cgroup.id"   // int: cgroup v2 id
	AttrDurationNS      = "debugai.duration_ns" // int: wait or latency
	AttrFutexAddr       = "debugai.futex.addr"  // int: futex (= pthread mutex) address
	AttrWakerTID        = "debugai.waker.tid"   // int: thread that woke the waiter
	AttrValue           = "debugai.value"       // int: bytes (block), retransmits (tcp), faults (fault)
	AttrKernelAnomaly   = "kernel.anomaly"      // bool: tail-sampling trigger
	AttrLockHeld        = "debugai.lock.held"
	AttrLockAcquiring   = "debugai.lock.acquiring"
	AttrLockHeldSite    = "debugai.lock.held_site"
	AttrLockAcquireSite = "debugai.lock.acquiring_site"
	AttrLockCount       = "debugai.lock.count"
	// AttrLockName names the lock a futex wait is on when the collector
	// could symbolize its address (a global: "main.mu", "table_lock"), as
	// lock-order edges name it.
	AttrLockName = "debugai.lock.name"
)
