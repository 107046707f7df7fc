package bpf

import (
	"testing"

	"github.com/debugai/debugai/internal/testenv"
)

// requireEBPF skips t when the machine cannot load the probes (not root,
// no kernel BTF), or fails it when DEBUGAI_REQUIRE_EBPF=1 says it must.
func requireEBPF(t testing.TB) {
	t.Helper()
	testenv.RequireEBPF(t)
}
