package main

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// lossyNetns is the netloss scenario's private network: a network
// namespace holding the frontend, joined to the host by a veth pair.
// Packet loss is an nftables rule on the host end of the veth (netdev
// ingress) that drops a share of the TCP packets the frontend sends, at
// random: the frontend's kernel has sent them, so it sees them lost on the
// wire and retransmits on its timers, as with real loss. (A drop in the
// namespace's own output path fails the send synchronously: TCP sends
// again later without a retransmission. No kernel modules: no netem.)
type lossyNetns struct {
	name             string // namespace
	hostIf, nsIf     string // veth ends
	hostAddr, nsAddr string // IPv4 addresses, without prefix
}

// newLossyNetns creates the namespace and the veth pair (10.213.<n>.1/30
// on the host, .2 inside), both up, with loopback up inside.
func newLossyNetns(id string, n byte) (ns *lossyNetns, err error) {
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, errors.New("the netloss scenario needs the ip command (apt-get install iproute2)")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		return nil, errors.New("the netloss scenario needs the nft command to drop packets (apt-get install nftables)")
	}
	short := id[max(0, len(id)-6):]
	ns = &lossyNetns{name: "debugai-" + short, hostIf: "dbg" + short + "h", nsIf: "dbg" + short + "n",
		hostAddr: fmt.Sprintf("10.213.%d.1", n), nsAddr: fmt.Sprintf("10.213.%d.2", n)}
	defer func() {
		if err != nil {
			err = errors.Join(fmt.Errorf("creating the lossy network namespace: %w", err), ns.remove())
		}
	}()
	for _, args := range [][]string{
		{"netns", "add", ns.name},
		{"link", "add", ns.hostIf, "type", "veth", "peer", "name", ns.nsIf},
		{"link", "set", ns.nsIf, "netns", ns.name},
		{"addr", "add", ns.hostAddr + "/30", "dev", ns.hostIf},
		{"link", "set", ns.hostIf, "up"},
		{"-n", ns.name, "addr", "add", ns.nsAddr + "/30", "dev", ns.nsIf},
		{"-n", ns.name, "link", "set", ns.nsIf, "up"},
		{"-n", ns.name, "link", "set", "lo", "up"},
	} {
		if err := runCommand("ip", args...); err != nil {
			return ns, err
		}
	}
	return ns, nil
}

// exec returns the command line that runs bin inside the namespace.
func (ns *lossyNetns) exec(bin string, args ...string) (string, []string) {
	return "ip", append([]string{"netns", "exec", ns.name, bin}, args...)
}

// table is the nftables table of the loss rule.
func (ns *lossyNetns) table() string { return "debugai_loss_" + ns.hostIf }

// dropTCP drops percent of the TCP packets the namespace sends, as they
// reach the host end of the veth.
func (ns *lossyNetns) dropTCP(percent int) error {
	rules := fmt.Sprintf(`table netdev %s {
	chain in {
		type filter hook ingress device %s priority 0; policy accept;
		ip protocol tcp numgen random mod 100 < %d drop
	}
}
`, ns.table(), ns.hostIf, percent)
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("adding the packet-loss rule: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// remove deletes the namespace (and with it the veth pair); nil on nil.
func (ns *lossyNetns) remove() error {
	if ns == nil {
		return nil
	}
	_ = runCommand("nft", "delete", "table", "netdev", ns.table()) // absent unless the bug was switched on
	if err := runCommand("ip", "netns", "del", ns.name); err != nil && !strings.Contains(err.Error(), "No such file") {
		return err
	}
	_ = runCommand("ip", "link", "del", ns.hostIf) // gone with the namespace unless it was never moved
	return nil
}

func runCommand(bin string, args ...string) error {
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", bin, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
