package bpf

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// ipCmd runs ip(8).
func ipCmd(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// vethPair creates two network namespaces joined by a veth pair with the
// given addresses (prefix length included), and removes them at the end
// of the test. It returns the namespaces and the receiver-side link.
func vethPair(t testing.TB, tag, txAddr, rxAddr string) (txNS, rxNS, rxLink string) {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatalf("no ip(8) to create network namespaces: %v", err)
	}
	pid := os.Getpid()
	txNS, rxNS = fmt.Sprintf("debugai-tx%s-%d", tag, pid), fmt.Sprintf("debugai-rx%s-%d", tag, pid)
	txLink, rxLink := fmt.Sprintf("dtx%s%d", tag, pid), fmt.Sprintf("drx%s%d", tag, pid)
	for _, ns := range []string{txNS, rxNS} {
		ipCmd(t, "netns", "add", ns)
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Errorf("removing netns %s: %v\n%s", ns, err, out)
			}
		})
	}
	ipCmd(t, "link", "add", txLink, "netns", txNS, "type", "veth", "peer", "name", rxLink, "netns", rxNS)
	for _, l := range []struct{ ns, dev, addr string }{{txNS, txLink, txAddr}, {rxNS, rxLink, rxAddr}} {
		// Without keep_addr_on_down a link taken down loses its IPv6
		// address, and the connection with it.
		ipCmd(t, "netns", "exec", l.ns, "sh", "-c", "echo 1 >/proc/sys/net/ipv6/conf/"+l.dev+"/keep_addr_on_down")
		ipCmd(t, "-n", l.ns, "addr", "add", l.addr, "dev", l.dev, "nodad")
		ipCmd(t, "-n", l.ns, "link", "set", l.dev, "up")
		ipCmd(t, "-n", l.ns, "link", "set", "lo", "up")
	}
	return txNS, rxNS, rxLink
}

// TestTCPRetransmitVeth sends over a veth pair between two network
// namespaces from a process in a test cgroup, takes the receiving end down
// for 1.2 s in the middle, and expects the retransmits of the sender's
// socket attributed to its cgroup and connecting process. The IPv4 case
// filters on the cgroup and reports every retransmit; the IPv6 case
// filters on the process (known from connect) and folds all retransmits
// into one record (TCPRetransmitInterval).
func TestTCPRetransmitVeth(t *testing.T) {
	requireEBPF(t)
	bin := buildC(t, "tcpxfer")
	for _, tc := range []struct {
		name, tag, tx, rx string
		byPID, aggregate  bool
	}{
		{"IPv4", "4", "10.213.0.1", "10.213.0.2", false, false},
		{"IPv6", "6", "fd00:db9::1", "fd00:db9::2", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bits := "/24"
			if strings.Contains(tc.tx, ":") {
				bits = "/64"
			}
			txNS, rxNS, rxLink := vethPair(t, tc.tag, tc.tx+bits, tc.rx+bits)
			const port = 7411
			dir, cgid := testCgroup(t)
			rx := startWorkload(t, "ip", "netns", "exec", rxNS, bin, "recv", tc.rx, fmt.Sprint(port))
			if got := rx.line(t); got != "listening" {
				t.Fatalf("receiver printed %q", got)
			}
			tx := startWorkload(t, "ip", "netns", "exec", txNS, bin, "send", tc.rx, fmt.Sprint(port), "2500")
			if got := tx.line(t); got != "ready" {
				t.Fatalf("sender printed %q", got)
			}
			pid := tx.cmd.Process.Pid
			moveToCgroup(t, dir, pid)

			cfg := DefaultConfig()
			if tc.byPID {
				cfg.PIDs = []uint32{uint32(pid)}
			} else {
				cfg.CgroupIDs = []uint64{cgid}
			}
			if tc.aggregate {
				cfg.TCPRetransmitInterval = time.Hour
			}
			probesOnly(t, &cfg, "TCP")
			c, err := Load(cfg)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			defer c.Close()

			if _, err := io.WriteString(tx.stdin, "go\n"); err != nil {
				t.Fatal(err)
			}
			var cookie uint64
			var lport uint16
			if _, err := fmt.Sscanf(tx.line(t), "conn %d %d", &cookie, &lport); err != nil {
				t.Fatalf("parsing the sender's connection: %v", err)
			}
			time.Sleep(300 * time.Millisecond)
			ipCmd(t, "-n", rxNS, "link", "set", rxLink, "down")
			time.Sleep(1200 * time.Millisecond)
			ipCmd(t, "-n", rxNS, "link", "set", rxLink, "up")
			for _, w := range []*workload{tx, rx} {
				var n int64
				if _, err := fmt.Sscanf(w.line(t), "%s %d", new(string), &n); err != nil || n == 0 {
					t.Fatalf("transfer: %v (%d bytes)", err, n)
				}
				if got := w.line(t); got != "done" {
					t.Fatalf("workload printed %q, want done", got)
				}
				if err := w.cmd.Wait(); err != nil {
					t.Fatalf("workload: %v", err)
				}
			}

			wantLocal, wantRemote := netip.MustParseAddr(tc.tx), netip.MustParseAddr(tc.rx)
			var n int
			var last uint64
			if _, err := c.Drain(func(ev Event) {
				r, ok := ev.(TCPRetransmit)
				if !ok {
					t.Errorf("unexpected event %+v", ev)
					return
				}
				if r.CgroupID != cgid || r.PID != uint32(pid) || r.Cookie != cookie {
					t.Errorf("retransmit of socket %d, pid %d, cgroup %d; want %d, %d, %d: %+v", r.Cookie, r.PID, r.CgroupID, cookie, pid, cgid, r)
					return
				}
				if r.LocalAddr != wantLocal || r.RemoteAddr != wantRemote || r.LocalPort != lport || r.RemotePort != port {
					t.Errorf("retransmit on %v:%d -> %v:%d, want %v:%d -> %v:%d", r.LocalAddr, r.LocalPort, r.RemoteAddr, r.RemotePort, wantLocal, lport, wantRemote, port)
				}
				if r.Count != last+1 {
					t.Errorf("count %d after %d", r.Count, last)
				}
				last = r.Count
				n++
			}); err != nil {
				t.Fatalf("Drain: %v", err)
			}
			cn, err := c.Counters()
			if err != nil {
				t.Fatal(err)
			}
			if cn.TCPDrops != 0 || cn.TCPEvents != uint64(n) {
				t.Errorf("counters %+v: want %d TCP events, no drops", cn, n)
			}
			switch {
			case tc.aggregate && (n != 1 || cn.TCPSuppressed == 0):
				t.Errorf("%d records, %d suppressed: want 1 record and the other retransmits folded", n, cn.TCPSuppressed)
			case !tc.aggregate && (n < 2 || cn.TCPSuppressed != 0):
				t.Errorf("%d retransmits of the sender's socket (%d suppressed), want at least 2 over 1.2 s without a link, none suppressed", n, cn.TCPSuppressed)
			}
			t.Logf("%d retransmits; counters %+v", n, cn)
		})
	}
}
