package bloomd

import (
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"bloom/api"
	"bloom/cli"
	"bloom/daemon/identity"
	"bloom/internal/testutil"
)

// freePort returns an address on ip that was free a moment ago.
func freeAddr(t *testing.T, ip string) string {
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestMembersAndStatus(t *testing.T) {
	// The build's version (make build stamps it from git) is in members and /metrics.
	old := cli.Version
	cli.Version = "v0.0.0-test"
	t.Cleanup(func() { cli.Version = old })
	secret, s := writeTestSecret(t)
	apiAddr := freeAddr(t, "127.0.0.1")
	startJoin(t, "--name", "solo", "--data-dir", filepath.Join(t.TempDir(), "d"), "--bind", "127.0.0.1:0",
		"--api", apiAddr, "--secret-file", secret, "--bootstrap-expect", "1", "--devices", "npu:0-7", "--log-level", "error")

	var st api.Status
	var out string
	var err error
	if _, ok := testutil.Poll(30*time.Second, func() bool {
		out, err = run(t, "--addr", apiAddr, "--secret-file", secret, "--output", "json", "status")
		return err == nil && json.Unmarshal([]byte(out), &st) == nil && st.Health.Healthy
	}); !ok {
		t.Fatalf("no healthy status: %q %v", out, err)
	}
	if st.Leader != "solo" || len(st.Voters) != 1 || st.ClusterID == "" {
		t.Errorf("status %+v", st)
	}
	out, err = run(t, "--addr", apiAddr, "--token", s.Token(), "members")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "NAME") {
		t.Fatalf("members table:\n%s", out)
	}
	for _, want := range []string{"solo", "alive", "leader", "npu:0-7", "v0.0.0-test"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("members row %q lacks %q", lines[1], want)
		}
	}
	out, err = run(t, "--addr", apiAddr, "--token", s.Token(), "status")
	if err != nil || !strings.Contains(out, "leader:") || !strings.Contains(out, "healthy") {
		t.Errorf("status table %q %v", out, err)
	}
	// Its NPUs are probed by a worker process; in this build (no cgo) the
	// probe says how to get the Ascend backend, and members counts 0/8.
	if _, ok := testutil.Poll(30*time.Second, func() bool {
		out, err = run(t, "--addr", apiAddr, "--token", s.Token(), "status")
		return err == nil && strings.Contains(out, "device npu:7:")
	}); !ok {
		t.Fatalf("no device in the status: %q %v", out, err)
	}
	if !strings.Contains(out, "FAILING: ") || !strings.Contains(out, "make build-acl") {
		t.Errorf("status of NPUs in a build without the backend:\n%s", out)
	}
	if out, err = run(t, "--addr", apiAddr, "--token", s.Token(), "members"); err != nil || !strings.Contains(out, "0/8") {
		t.Errorf("members after the probe: %q %v", out, err)
	}
	out, err = run(t, "--addr", apiAddr, "--secret-file", secret, "-o", "json", "members")
	var ms api.MembersResponse
	if err != nil || json.Unmarshal([]byte(out), &ms) != nil || len(ms.Members) != 1 || ms.Members[0].Role != api.RoleLeader {
		t.Errorf("members json %q %v", out, err)
	}

	id, err := identity.New(s, "test")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := api.NewClient(apiAddr, id.APIClientTLS(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	metrics, err := cl.Metrics(context.Background())
	if want := `bloom_build_info{version="v0.0.0-test",goversion="` + runtime.Version() + `"} 1`; err != nil || !strings.Contains(metrics, want) {
		t.Errorf("/metrics lacks %s: %v\n%s", want, err, metrics)
	}

	// Refusals: no credentials, another cluster's secret, a bad --output.
	if _, err := run(t, "--addr", apiAddr, "status"); err == nil || !strings.Contains(err.Error(), "--secret-file") {
		t.Errorf("no credentials: %v", err)
	}
	other, _ := writeTestSecret(t)
	if _, err := run(t, "--addr", apiAddr, "--secret-file", other, "status"); err == nil {
		t.Error("another cluster's secret was let in")
	}
	if _, err := run(t, "--addr", apiAddr, "--secret-file", secret, "-o", "yaml", "members"); err == nil {
		t.Error("--output yaml accepted")
	}
}
