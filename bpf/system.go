package bpf

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// tracefsPath is where Load mounts tracefs when none is mounted.
const tracefsPath = "/sys/kernel/tracing"

// ErrNoTracefs reports that no tracefs is mounted and Config.MountTracefs
// is off: the futex probes (syscall tracepoints) cannot be attached.
var ErrNoTracefs = errors.New("tracefs is not mounted")

// ensureTracefs makes sure a tracefs is mounted, mounting one at
// /sys/kernel/tracing when allowed. cilium/ebpf looks the mount up once per
// process, so this must run before the first tracepoint is attached.
func ensureTracefs(mount bool) error {
	ok, err := tracefsMounted()
	if err != nil || ok {
		return err
	}
	if !mount {
		return ErrNoTracefs
	}
	if err := unix.Mount("tracefs", tracefsPath, "tracefs", 0, ""); err != nil {
		return fmt.Errorf("mounting tracefs at %s: %w", tracefsPath, err)
	}
	return nil
}

func tracefsMounted() (bool, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, fmt.Errorf("reading mounts: %w", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for s.Scan() {
		// ... mount-point ... - fstype source options
		_, post, ok := strings.Cut(s.Text(), " - ")
		if ok && strings.HasPrefix(post, "tracefs ") {
			return true, nil
		}
	}
	if err := s.Err(); err != nil {
		return false, fmt.Errorf("reading mounts: %w", err)
	}
	var st unix.Statfs_t
	for _, p := range []string{tracefsPath, "/sys/kernel/debug/tracing"} {
		if unix.Statfs(p, &st) == nil && st.Type == unix.TRACEFS_MAGIC {
			return true, nil
		}
	}
	return false, nil
}

// CgroupID returns the cgroup v2 id of the cgroup directory at path (for
// example /sys/fs/cgroup/unified/app): its inode number, which is what
// bpf_get_current_cgroup_id and task->cgroups->dfl_cgrp->kn->id report.
func CgroupID(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("cgroup id of %s: %w", path, err)
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(path, &fs); err != nil {
		return 0, fmt.Errorf("cgroup id of %s: %w", path, err)
	}
	if fs.Type != unix.CGROUP2_SUPER_MAGIC {
		return 0, fmt.Errorf("cgroup id of %s: not on a cgroup v2 file system", path)
	}
	return st.Ino, nil
}
