// Package node is the runtime of the eBPF node collector (cmd/debugai-node):
// it loads the probes of package bpf, keeps its targets current (pids,
// cgroups, and processes of target executables across restarts and
// redeploys, with span hooks and lock-order uprobes on those binaries),
// converts records to the OTLP log shape of docs/kernel-events.md with wall
// times, evidence IDs and privacy tokens, exports them over OTLP/HTTP to
// debugai serve or any OpenTelemetry Collector, sends kernel.anomaly
// records on drops and bursts and kernel.anomaly spans into the traces
// whose stamped kernel events cross a threshold (the anomaly loop,
// docs/anomaly-loop.md), and serves Prometheus /metrics and the
// POST /detach kill switch.
//
// It links no DuckDB and no LLM client (internal/repotest checks).
package node
