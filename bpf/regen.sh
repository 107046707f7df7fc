#!/usr/bin/env bash
# Regenerates the bpf2go output (collector_bpfel.go, collector_bpfel.o) from
# collector.c and the committed vmlinux.h, then fails if it differs from
# what git has: CI runs this wherever clang is installed.
#
#   ./regen.sh            regenerate and diff
#   ./regen.sh --vmlinux  also re-dump vmlinux.h from the running kernel's BTF
#                         (changes it: commit it with a note of the kernel)
#
# Needs: clang, llvm, libbpf-dev (bpf/*.h headers); bpftool for --vmlinux.
set -euo pipefail
cd "$(dirname "$0")"
export PATH=/usr/local/go/bin:$PATH

for tool in clang go git; do
	if ! command -v "$tool" >/dev/null; then
		echo "regen.sh: $tool not found (apt-get install -y clang llvm libbpf-dev bpftool)" >&2
		exit 2
	fi
done

if [ "${1:-}" = "--vmlinux" ]; then
	bpftool btf dump file /sys/kernel/btf/vmlinux format c >vmlinux.h
	echo "regen.sh: vmlinux.h dumped from $(uname -r) $(uname -m)"
fi

go generate .

# Generated files git does not know about (a renamed target or stem).
untracked=$(git ls-files --others --exclude-standard -- '*_bpfe[lb].go' '*_bpfe[lb].o')
if [ -n "$untracked" ]; then
	echo "regen.sh: generated files not in git: $untracked" >&2
	exit 1
fi
if ! git diff --exit-code --stat -- '*_bpfe[lb].go' '*_bpfe[lb].o'; then
	echo "regen.sh: generated BPF output differs from git: commit the regenerated files" >&2
	exit 1
fi
echo "regen.sh: generated BPF output matches git"
