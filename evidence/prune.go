package evidence

// PruneResult is what one batch of a store's retention deletion removed,
// in rows.
type PruneResult struct {
	Spans, SpanEvents, KernelEvents, LockEdgeRows, Logs, Findings int64
	// ThroughNS is the time up to which (inclusive) unprotected items were
	// removed: the cutoff minus one when Done, else the batch's boundary.
	ThroughNS int64
	// Done: nothing unprotected older than the cutoff is left.
	Done bool
}

// Rows is the number of rows the batch removed.
func (r PruneResult) Rows() int64 {
	return r.Spans + r.SpanEvents + r.KernelEvents + r.LockEdgeRows + r.Logs + r.Findings
}

// Add adds o's counts to r's and takes o's ThroughNS and Done.
func (r *PruneResult) Add(o PruneResult) {
	r.Spans += o.Spans
	r.SpanEvents += o.SpanEvents
	r.KernelEvents += o.KernelEvents
	r.LockEdgeRows += o.LockEdgeRows
	r.Logs += o.Logs
	r.Findings += o.Findings
	r.ThroughNS, r.Done = o.ThroughNS, o.Done
}

// StoreSize is what a store's files take on disk.
type StoreSize struct {
	// FileBytes and WALBytes are the sizes of the file and of its
	// write-ahead log.
	FileBytes, WALBytes int64
	// UsedBytes is what the file's used blocks take as of its last
	// checkpoint; FreeBytes its free blocks, which later writes reuse.
	UsedBytes, FreeBytes int64
}

// InUse is the bytes the stored data take: the used blocks and the
// write-ahead log.
func (s StoreSize) InUse() int64 { return s.UsedBytes + s.WALBytes }
