package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// netns is a network namespace this program made for the last node, joined
// to this namespace by a veth pair. The root end carries every other
// node's address (local addresses: those nodes reach each other as on
// loopback), the namespace end the address of the node inside. Taking
// the namespace end down cuts that node off from every other while its
// processes run on; bringing it up heals the cut. Nothing outside the
// pair and the namespace is touched.
type netns struct {
	name         string   // the namespace: bloomsoak-PID
	node         string   // the node inside
	rootIf, nsIf string   // the veth ends
	hosts        []string // hosts[i] is node i+1's address
}

const netnsPrefix = "bloomsoak-"

// newNetns makes the namespace and the pair for nodes n1..nN, nN inside.
// It fails, leaving nothing behind, when it cannot (not root, no ip).
func newNetns(nodes int) (*netns, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("soak: network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, fmt.Errorf("soak: network namespaces need iproute2's ip: %w", err)
	}
	removeStaleNetns()
	subnet, err := freeSubnet()
	if err != nil {
		return nil, err
	}
	pid := os.Getpid()
	ns := &netns{name: netnsPrefix + strconv.Itoa(pid), node: fmt.Sprintf("n%d", nodes),
		rootIf: fmt.Sprintf("bsk%dr", pid), nsIf: fmt.Sprintf("bsk%dn", pid)}
	for i := 1; i <= nodes; i++ {
		ns.hosts = append(ns.hosts, fmt.Sprintf("%s.%d", subnet, i))
	}
	steps := [][]string{{"netns", "add", ns.name},
		{"link", "add", ns.rootIf, "type", "veth", "peer", "name", ns.nsIf, "netns", ns.name}}
	for _, h := range ns.hosts[:nodes-1] {
		steps = append(steps, []string{"addr", "add", h + "/24", "dev", ns.rootIf})
	}
	steps = append(steps, []string{"link", "set", ns.rootIf, "up"},
		[]string{"-n", ns.name, "link", "set", "lo", "up"},
		[]string{"-n", ns.name, "addr", "add", ns.hosts[nodes-1] + "/24", "dev", ns.nsIf},
		[]string{"-n", ns.name, "link", "set", ns.nsIf, "up"})
	for _, s := range steps {
		if err := ipCmd(s...); err != nil {
			ns.Close()
			return nil, err
		}
	}
	return ns, nil
}

// Specs places the nodes: each on its address, the last in the namespace.
func (ns *netns) Specs() []NodeSpec {
	out := make([]NodeSpec, len(ns.hosts))
	for i, h := range ns.hosts {
		out[i].Host = h
	}
	out[len(out)-1].NetNS = ns.name
	return out
}

// Cut takes the namespace's end of the pair down: a partition.
func (ns *netns) Cut() error { return ipCmd("-n", ns.name, "link", "set", ns.nsIf, "down") }

// Heal brings it up again.
func (ns *netns) Heal() error { return ipCmd("-n", ns.name, "link", "set", ns.nsIf, "up") }

// Close removes the pair and the namespace; the processes inside must be
// gone first.
func (ns *netns) Close() error {
	ipCmd("link", "del", ns.rootIf) // gone already if the namespace end went first
	return ipCmd("netns", "del", ns.name)
}

func ipCmd(args ...string) error {
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("soak: ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// removeStaleNetns deletes namespaces an earlier soak made and could not
// remove (it was killed): those whose pid no longer runs.
func removeStaleNetns() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		pid, err := strconv.Atoi(strings.TrimPrefix(name, netnsPrefix))
		if !strings.HasPrefix(name, netnsPrefix) || err != nil || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue
		}
		ipCmd("netns", "del", name)
	}
}

// freeSubnet picks a 10.213.K.0/24 that no address or route here uses.
func freeSubnet() (string, error) {
	addrs, err1 := exec.Command("ip", "-4", "-o", "addr", "show").Output()
	routes, err2 := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	if err := errors.Join(err1, err2); err != nil {
		return "", fmt.Errorf("soak: ip: %w", err)
	}
	used := string(addrs) + string(routes)
	for i := range 250 {
		s := fmt.Sprintf("10.213.%d", (os.Getpid()+i)%250+1)
		if !strings.Contains(used, s+".") {
			return s, nil
		}
	}
	return "", errors.New("soak: no free 10.213.K.0/24 subnet")
}
