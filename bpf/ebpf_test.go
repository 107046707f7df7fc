package bpf

import (
	"os"
	"testing"
)

// requireEBPF skips t when the machine cannot load the probes (not root,
// no kernel BTF), or fails it when DEBUGAI_REQUIRE_EBPF=1 says it must.
func requireEBPF(t testing.TB) {
	t.Helper()
	var reason string
	switch {
	case os.Geteuid() != 0:
		reason = "not root: loading BPF programs needs CAP_BPF and CAP_PERFMON"
	default:
		if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
			reason = "no kernel BTF at /sys/kernel/btf/vmlinux: " + err.Error()
		}
	}
	if reason == "" {
		return
	}
	if os.Getenv("DEBUGAI_REQUIRE_EBPF") == "1" {
		t.Fatalf("DEBUGAI_REQUIRE_EBPF=1 but eBPF tests cannot run: %s", reason)
	}
	t.Skip(reason)
}
