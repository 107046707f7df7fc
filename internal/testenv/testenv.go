// Package testenv holds the checks tests use to decide whether this
// machine can run them: eBPF programs and uprobes need root and a kernel
// with BTF. A test that cannot run skips with the reason, or fails when
// DEBUGAI_REQUIRE_EBPF=1 says it must run (CI sets it). The Collector
// tests need the binary deploy/collector/build.sh builds, likewise
// (DEBUGAI_OTELCOL, DEBUGAI_REQUIRE_COLLECTOR=1).
package testenv

import (
	"os"
	"runtime"
	"testing"
)

// RequireEBPF skips t when the machine cannot load the probes (not root,
// no kernel BTF), or fails it when DEBUGAI_REQUIRE_EBPF=1.
func RequireEBPF(t testing.TB) {
	t.Helper()
	require(t, ebpfReason())
}

// RequireUprobes is RequireEBPF for uprobe tests: also linux/amd64 and a
// uprobe PMU.
func RequireUprobes(t testing.TB) {
	t.Helper()
	reason := ebpfReason()
	if reason == "" {
		switch {
		case runtime.GOOS != "linux" || runtime.GOARCH != "amd64":
			reason = "uprobe tests need linux/amd64"
		default:
			if _, err := os.Stat("/sys/bus/event_source/devices/uprobe/type"); err != nil {
				reason = "no uprobe PMU: " + err.Error()
			}
		}
	}
	require(t, reason)
}

func ebpfReason() string {
	if os.Geteuid() != 0 {
		return "not root: loading BPF programs needs CAP_BPF and CAP_PERFMON"
	}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return "no kernel BTF at /sys/kernel/btf/vmlinux: " + err.Error()
	}
	return ""
}

func require(t testing.TB, reason string) {
	t.Helper()
	if reason == "" {
		return
	}
	if os.Getenv("DEBUGAI_REQUIRE_EBPF") == "1" {
		t.Fatalf("DEBUGAI_REQUIRE_EBPF=1 but this test cannot run: %s", reason)
	}
	t.Skip(reason)
}

// RequireCollector returns the OpenTelemetry Collector binary built by
// deploy/collector/build.sh, named by DEBUGAI_OTELCOL. Without it the test
// is skipped, or fails when DEBUGAI_REQUIRE_COLLECTOR=1 (as in CI).
func RequireCollector(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("DEBUGAI_OTELCOL")
	reason := ""
	if bin == "" {
		reason = "DEBUGAI_OTELCOL is not set: build the Collector with deploy/collector/build.sh and set it to the printed path"
	} else if fi, err := os.Stat(bin); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		reason = "DEBUGAI_OTELCOL does not name an executable file"
	}
	if reason == "" {
		return bin
	}
	if os.Getenv("DEBUGAI_REQUIRE_COLLECTOR") == "1" {
		t.Fatalf("DEBUGAI_REQUIRE_COLLECTOR=1 but this test cannot run: %s", reason)
	}
	t.Skip(reason)
	return ""
}
