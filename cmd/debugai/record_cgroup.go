package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cgroupRoots are where record looks for a CPU controller: the v1 cpu
// hierarchy (cpu.cfs_quota_us), the unified (v2) hierarchy of a hybrid
// host, and a pure v2 host's root (cpu.max). Tests replace them.
var cgroupRoots = struct{ v1CPU, hybridV2, v2 string }{
	v1CPU: "/sys/fs/cgroup/cpu", hybridV2: "/sys/fs/cgroup/unified", v2: "/sys/fs/cgroup",
}

// cpuCgroups are the cgroups the cpuquota scenario moves the ledger into.
type cpuCgroups struct {
	dirs []string // created by record, removed by remove
}

// newCPUCgroups creates cgroups that limit their members to quota CPUs
// per period: a v1 cpu cgroup (plus a v2 one on a hybrid host, so that
// the node's cgroup ids tell the ledger apart), or a v2 cgroup with
// cpu.max when the v2 hierarchy has the cpu controller.
func newCPUCgroups(name string, quota float64, period time.Duration) (cg *cpuCgroups, err error) {
	cg = &cpuCgroups{}
	defer func() {
		if err != nil {
			err = errors.Join(fmt.Errorf("creating the CPU-limited cgroup: %w", err), cg.remove())
		}
	}()
	periodUS := period.Microseconds()
	quotaUS := max(int64(quota*float64(periodUS)), 1000)
	if _, err := os.Stat(filepath.Join(cgroupRoots.v1CPU, "cpu.cfs_quota_us")); err == nil {
		dir, err := cg.mkdir(cgroupRoots.v1CPU, name)
		if err != nil {
			return cg, err
		}
		if err := writeCgroup(dir, "cpu.cfs_period_us", strconv.FormatInt(periodUS, 10)); err != nil {
			return cg, err
		}
		if err := writeCgroup(dir, "cpu.cfs_quota_us", strconv.FormatInt(quotaUS, 10)); err != nil {
			return cg, err
		}
		if _, err := os.Stat(filepath.Join(cgroupRoots.hybridV2, "cgroup.procs")); err == nil {
			_, err = cg.mkdir(cgroupRoots.hybridV2, name)
			return cg, err
		}
		return cg, nil
	}
	ctrl, err := os.ReadFile(filepath.Join(cgroupRoots.v2, "cgroup.controllers"))
	if err != nil || !strings.Contains(" "+string(ctrl)+" ", " cpu ") {
		return cg, errors.New("no cgroup CPU controller: neither v1 cpu.cfs_quota_us nor v2 cpu.max is available")
	}
	if err := writeCgroup(cgroupRoots.v2, "cgroup.subtree_control", "+cpu"); err != nil {
		return cg, err
	}
	dir, err := cg.mkdir(cgroupRoots.v2, name)
	if err != nil {
		return cg, err
	}
	return cg, writeCgroup(dir, "cpu.max", fmt.Sprintf("%d %d", quotaUS, periodUS))
}

// newWeightCgroup creates a cgroup whose members together weigh weight
// times a default task against the others (v1 cpu.shares, weight x 1024;
// or v2 cpu.weight, weight x 100): the noisy neighbour's.
func newWeightCgroup(name string, weight int) (cg *cpuCgroups, err error) {
	cg = &cpuCgroups{}
	defer func() {
		if err != nil {
			err = errors.Join(fmt.Errorf("creating the neighbour's cgroup: %w", err), cg.remove())
		}
	}()
	if _, err := os.Stat(filepath.Join(cgroupRoots.v1CPU, "cpu.shares")); err == nil {
		dir, err := cg.mkdir(cgroupRoots.v1CPU, name)
		if err != nil {
			return cg, err
		}
		return cg, writeCgroup(dir, "cpu.shares", strconv.Itoa(weight*1024))
	}
	ctrl, err := os.ReadFile(filepath.Join(cgroupRoots.v2, "cgroup.controllers"))
	if err != nil || !strings.Contains(" "+string(ctrl)+" ", " cpu ") {
		return cg, errors.New("no cgroup CPU controller: neither v1 cpu.shares nor v2 cpu.weight is available")
	}
	if err := writeCgroup(cgroupRoots.v2, "cgroup.subtree_control", "+cpu"); err != nil {
		return cg, err
	}
	dir, err := cg.mkdir(cgroupRoots.v2, name)
	if err != nil {
		return cg, err
	}
	return cg, writeCgroup(dir, "cpu.weight", strconv.Itoa(min(weight*100, 10000)))
}

// join moves pid into the cgroups.
func (cg *cpuCgroups) join(pid int) error {
	for _, d := range cg.dirs {
		if err := writeCgroup(d, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

func (cg *cpuCgroups) mkdir(root, name string) (string, error) {
	dir := filepath.Join(root, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", err
	}
	cg.dirs = append(cg.dirs, dir)
	return dir, nil
}

func writeCgroup(dir, file, value string) error {
	if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0); err != nil {
		return fmt.Errorf("writing %s to %s: %w", value, filepath.Join(dir, file), err)
	}
	return nil
}

// remove removes the cgroups, waiting up to a few seconds for exited
// members to leave them; nil on nil.
func (cg *cpuCgroups) remove() error {
	if cg == nil {
		return nil
	}
	var err error
	for i := len(cg.dirs) - 1; i >= 0; i-- {
		var rerr error
		for try := 0; try < 50; try++ {
			if rerr = os.Remove(cg.dirs[i]); rerr == nil || errors.Is(rerr, os.ErrNotExist) {
				rerr = nil
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		err = errors.Join(err, rerr)
	}
	cg.dirs = nil
	return err
}
