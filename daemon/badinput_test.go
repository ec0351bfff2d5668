package daemon

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bloom/api"
	"bloom/daemon/identity"
	"bloom/membership"
)

func startOne(t *testing.T, cfg Config) *Daemon {
	t.Helper()
	d, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Kill() })
	return d
}

func TestStartRefusesBadInput(t *testing.T) {
	checkGoroutines(t)
	dir := t.TempDir()
	cfg := nodeConfig(t, dir, 1, 1, testSecret)
	d := startOne(t, cfg)
	waitFor(t, 20*time.Second, "single-node leader", d.IsLeader)
	waitFor(t, 5*time.Second, "cluster id", func() bool { return d.Status().ClusterID != "" })

	t.Run("data dir in use", func(t *testing.T) {
		_, err := Start(cfg)
		if !errors.Is(err, ErrDataDirInUse) {
			t.Fatalf("second daemon on one data dir: %v", err)
		}
	})
	t.Run("port in use", func(t *testing.T) {
		c := nodeConfig(t, dir, 2, 0, testSecret)
		c.API = d.APIAddr()
		_, err := Start(c)
		if err == nil || !strings.Contains(err.Error(), "--api") {
			t.Fatalf("API port in use: %v", err)
		}
		c = nodeConfig(t, dir, 2, 0, testSecret)
		c.Bind = d.GossipAddr()
		if _, err = Start(c); err == nil || !strings.Contains(err.Error(), "--bind") {
			t.Fatalf("gossip port in use: %v", err)
		}
	})
	t.Run("unreachable peers", func(t *testing.T) {
		c := nodeConfig(t, dir, 3, 0, testSecret)
		ln, _ := net.Listen("tcp", "127.0.0.3:0") // a port nobody gossips on
		c.Peers = []string{ln.Addr().String()}
		ln.Close()
		c.JoinTimeout = time.Second
		if _, err := Start(c); err == nil || !strings.Contains(err.Error(), "could not join") {
			t.Fatalf("unreachable peers: %v", err)
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		other := mustSecret()
		c := nodeConfig(t, t.TempDir(), 4, 0, other)
		c.Peers = []string{d.GossipAddr()}
		c.JoinTimeout = time.Second
		if _, err := Start(c); err == nil || !strings.Contains(err.Error(), "secret") {
			t.Fatalf("wrong secret joined: %v", err)
		}
		if n := len(d.Members().Members); n != 1 {
			t.Fatalf("cluster has %d members after the refused join", n)
		}
	})
	t.Run("foreign data dir", func(t *testing.T) {
		c := nodeConfig(t, dir, 1, 1, mustSecret())
		c.DataDir = t.TempDir()
		os.WriteFile(filepath.Join(c.DataDir, "node.json"), []byte(`{"name":"n1","secret":"0011223344556677","cluster":"cX"}`), 0o600)
		if _, err := Start(c); !errors.Is(err, ErrForeignDataDir) {
			t.Fatalf("data dir of another secret: %v", err)
		}
		c = nodeConfig(t, dir, 1, 1, testSecret)
		c.DataDir = t.TempDir()
		os.WriteFile(filepath.Join(c.DataDir, "node.json"), []byte(`{"name":"other","secret":"`+testSecret.Fingerprint()+`"}`), 0o600)
		if _, err := Start(c); !errors.Is(err, ErrForeignDataDir) || !strings.Contains(err.Error(), "--name other") {
			t.Fatalf("data dir of another node: %v", err)
		}
	})
	t.Run("data dir of another cluster, same secret", func(t *testing.T) {
		// A second one-node cluster with the same secret; its data dir
		// then tries to join the first cluster.
		c := nodeConfig(t, t.TempDir(), 5, 1, testSecret)
		d2 := startOne(t, c)
		waitFor(t, 20*time.Second, "second cluster id", func() bool { return d2.Status().ClusterID != "" })
		d2.Kill()
		c.Bind, c.API = d2.GossipAddr(), d2.APIAddr()
		c.Peers = []string{d.GossipAddr()}
		c.BootstrapExpect = 0
		_, err := Start(c)
		if !errors.Is(err, membership.ErrRejected) || !strings.Contains(err.Error(), "fresh --data-dir") {
			t.Fatalf("joining with another cluster's data dir: %v", err)
		}
	})
	t.Run("corrupt raft store", func(t *testing.T) {
		c := nodeConfig(t, t.TempDir(), 6, 1, testSecret)
		d3 := startOne(t, c)
		waitFor(t, 20*time.Second, "leader", d3.IsLeader)
		d3.Kill()
		db := filepath.Join(c.DataDir, "raft", "raft.db")
		b, _ := os.ReadFile(db)
		for i := range b {
			b[i] ^= 0x5a
		}
		os.WriteFile(db, b, 0o600)
		if _, err := Start(c); !errors.Is(err, ErrCorruptStore) {
			t.Fatalf("corrupt raft store: %v", err)
		}
	})
	t.Run("bad config", func(t *testing.T) {
		c := nodeConfig(t, dir, 7, 0, identity.Secret{})
		c.Name, c.Bind, c.Devices, c.BootstrapExpect = "bad name", "nowhere", "gpu:1", -1
		err := c.Validate()
		for _, want := range []string{"--name", "--bind", "secret", "--devices", "--bootstrap-expect"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Validate: %v, want it to mention %s", err, want)
			}
		}
	})
}

func TestAPIAuth(t *testing.T) {
	checkGoroutines(t)
	d := startOne(t, nodeConfig(t, t.TempDir(), 1, 1, testSecret))
	waitFor(t, 20*time.Second, "leader", d.IsLeader)
	ctx := ctx(t)

	if _, err := client(t, d, testSecret).Status(ctx); err != nil {
		t.Fatalf("mutual TLS: %v", err)
	}
	tlsConf, err := identity.TokenClientTLS(testSecret.Token())
	if err != nil {
		t.Fatal(err)
	}
	tc, _ := api.NewClient(d.APIAddr(), tlsConf, testSecret.Token())
	defer tc.Close()
	if _, err := tc.Members(ctx); err != nil {
		t.Fatalf("token: %v", err)
	}

	// No credentials: the token pin checks the server, but no token is sent.
	nc, _ := api.NewClient(d.APIAddr(), tlsConf, "")
	defer nc.Close()
	var se *api.StatusError
	if _, err := nc.Status(ctx); !errors.As(err, &se) || se.Code != http.StatusUnauthorized {
		t.Errorf("no credentials: %v, want 401", err)
	}
	// Another cluster's token pins another CA: the client refuses the server.
	other := mustSecret()
	otherTLS, _ := identity.TokenClientTLS(other.Token())
	oc, _ := api.NewClient(d.APIAddr(), otherTLS, other.Token())
	defer oc.Close()
	if _, err := oc.Status(ctx); err == nil || !strings.Contains(err.Error(), "not from the cluster") {
		t.Errorf("other cluster's token: %v", err)
	}
	// Another cluster's certificate: the handshake fails.
	if _, err := client(t, d, other).Status(ctx); err == nil {
		t.Error("other cluster's certificate accepted")
	}
	// A forged token that pins the right CA but has a wrong MAC: 401.
	forged := testSecret.Token()[:len(testSecret.Token())-4] + "AAAA"
	fc, _ := api.NewClient(d.APIAddr(), tlsConf, forged)
	defer fc.Close()
	if _, err := fc.Status(ctx); !errors.As(err, &se) || se.Code != http.StatusUnauthorized {
		t.Errorf("forged token: %v, want 401", err)
	}
	if _, err := identity.TokenClientTLS("garbage"); err == nil {
		t.Error("garbage token parsed")
	}

	// Raft's ALPN without a client certificate is dropped.
	conn, err := tls.Dial("tcp", d.APIAddr(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{identity.ALPNRaft}})
	if err == nil {
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
	}
	if err == nil {
		t.Error("raft connection without a certificate was served")
	}
}

func TestAPIMalformedRequests(t *testing.T) {
	checkGoroutines(t)
	d := startOne(t, nodeConfig(t, t.TempDir(), 1, 1, testSecret))
	waitFor(t, 20*time.Second, "leader", d.IsLeader)
	id, _ := identity.New(testSecret, "bloomctl")
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: id.ClientTLS(identity.ALPNHTTP)}}
	defer hc.CloseIdleConnections()
	for _, body := range []string{"", "{", `{"name":""}`, `{"name":"x","spec":[1]}`, `{"name":"x","nope":1}`, strings.Repeat("x", api.MaxRequestBody+10)} {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "https://"+d.APIAddr()+api.PathJobs, bytes.NewReader([]byte(body)))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := http.StatusBadRequest
		if len(body) > api.MaxRequestBody {
			want = http.StatusRequestEntityTooLarge
		}
		if resp.StatusCode != want {
			t.Errorf("POST %.30q: %d, want %d", body, resp.StatusCode, want)
		}
	}
	resp, err := hc.Get("https://" + d.APIAddr() + "/v1/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown path: %d", resp.StatusCode)
	}
	if len(d.State().Jobs) != 0 {
		t.Error("a malformed request reached the log")
	}
}
