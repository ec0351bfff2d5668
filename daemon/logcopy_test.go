package daemon

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bloom/api"
	"bloom/daemon/coord"
	"bloom/daemon/supervisor"
)

// sent is one append a shipper made.
type sent struct {
	off    int64
	n      int
	exited bool
}

// directShipper ships to a logCopies in this process, recording each
// append.
func directShipper(holder *logCopies, dst string, bound int64, calls *[]sent) *logShipper {
	return newLogShipper(bound, func(_ context.Context, to *coord.Member, _ supervisor.Key, off int64, b []byte, exited bool) (int64, bool, error) {
		*calls = append(*calls, sent{off, len(b), exited})
		m, err := holder.append(dst, "n1", off, b, exited, time.Now())
		return m.End, m.Exited, err
	})
}

// TestLogCopyIncremental: the shipper sends only the bytes a copy lacks,
// at most the log's last bound bytes; the copy holds at most a quarter
// more than the bound, always the log's latest bytes; the worker's exit
// is sent once; a restarted shipper asks before it sends.
func TestLogCopyIncremental(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src.log"), filepath.Join(dir, "copy", "rank-1.log")
	const bound = 1000
	holder := &logCopies{bound: bound}
	var calls []sent
	s := directShipper(holder, dst, bound, &calls)
	key, to := supervisor.Key{Job: "j", Attempt: 1, Rank: 1}, &coord.Member{Name: "n2"}
	var log []byte
	write := func(n int) {
		for i := 0; i < n; i++ {
			log = append(log, byte('a'+len(log)%26))
		}
		if err := os.WriteFile(src, log, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ship := func(exited bool, want ...sent) {
		t.Helper()
		calls = nil
		if err := s.ship(context.Background(), key, src, to, exited); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(calls) != fmt.Sprint(want) {
			t.Errorf("log of %d bytes: appends %v, want %v", len(log), calls, want)
		}
		m, _, _ := readMeta(dst)
		b, _ := os.ReadFile(dst)
		if m.End != int64(len(log)) || !bytes.Equal(b, log[m.Start:]) || m.End-m.Start > bound*5/4 {
			t.Errorf("log of %d bytes: the copy holds [%d,%d), %d bytes in its file", len(log), m.Start, m.End, len(b))
		}
	}
	write(300)
	ship(false, sent{0, 0, false}, sent{0, 300, false}) // asks first: a new holder
	write(200)
	ship(false, sent{300, 200, false}) // only the new bytes
	ship(false)                        // nothing new: nothing sent
	write(3000)
	ship(false, sent{2500, 1000, false}) // the last bound bytes: the copy starts anew
	write(300)
	ship(false, sent{3500, 300, false}) // 1300 bytes: the copy's start is cut to the last 1000
	if m, _, _ := readMeta(dst); m.Start != 2800 || m.Exited {
		t.Errorf("copy %+v, want it to start at 2800", m)
	}
	ship(true, sent{3800, 0, true}) // the worker exited: said once
	ship(true)
	if m, _, _ := readMeta(dst); !m.Exited {
		t.Errorf("copy %+v does not reach the exit", m)
	}

	// A restarted node asks, learns the copy is whole, and sends nothing.
	s = directShipper(holder, dst, bound, &calls)
	ship(true, sent{0, 0, false})

	// A retried append changes nothing; one that overlaps adds the rest.
	m, err := holder.append(dst, "n1", 3700, log[3700:], false, time.Now())
	if err != nil || m.End != 3800 {
		t.Errorf("retried append: %+v, %v", m, err)
	}
	m, err = holder.append(dst, "n1", 3790, []byte("0123456789abc"), false, time.Now())
	if b, _ := os.ReadFile(dst); err != nil || m.End != 3803 || !strings.HasSuffix(string(b), string(log[3790:])+"abc") {
		t.Errorf("overlapping append: %+v, %v, copy ends %q", m, err, b[len(b)-5:])
	}
}

// TestLogCopyRead: a read before the copy's start begins at its start;
// one at or past its end gets nothing and keeps its offset; no copy is
// not ok.
func TestLogCopyRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rank-0.log")
	c := &logCopies{bound: 1 << 20}
	if _, _, _, ok, err := c.read(path, 0, 100); ok || err != nil {
		t.Fatalf("no copy: ok %v, err %v", ok, err)
	}
	if _, err := c.append(path, "n1", 50, []byte("0123456789"), false, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		off, next int64
		want      string
	}{{0, 60, "0123456789"}, {55, 60, "56789"}, {60, 60, ""}, {70, 70, ""}} {
		b, next, m, ok, err := c.read(path, tc.off, 100)
		if string(b) != tc.want || next != tc.next || !ok || err != nil || m.Start != 50 || m.Node != "n1" {
			t.Errorf("read from %d: %q, next %d, %+v, %v, %v; want %q, next %d", tc.off, b, next, m, ok, err, tc.want, tc.next)
		}
	}
}

// TestLogsOfLostNode: three one-device nodes run a DP=3 job. The node of
// rank 1 copies its log to the next live node while the rank trains; it
// is then killed and its data dir deleted (a lost disk). `bloomctl logs`
// of rank 1 through either node left answers the rank's step lines from
// the copy, and says it is one, of which node, and up to when; so does
// bloomctl logs -f, which then ends. No other node may write the copy.
func TestLogsOfLostNode(t *testing.T) {
	checkGoroutines(t)
	c := startDaemons(t, 3, func(cfg *Config) {
		cfg.Devices = "cpu:1"
		cfg.Jobs.LogCopyInterval = 200 * time.Millisecond
	}, false)
	l := c.waitLeader(10 * time.Second)
	s := tinySpec(100000)
	s.DataParallel, s.MicroBatch, s.GlobalBatch, s.LogInterval = 3, 1, 3, 1
	j, err := submitSpec(t, client(t, l, testSecret), "logs", s)
	if err != nil {
		t.Fatal(err)
	}
	j = waitJob(t, client(t, l, testSecret), j.ID, 60*time.Second, "running on three nodes", func(j *api.JobInfo) bool {
		return j.Plan != nil && len(j.Plan.Ranks) == 3
	})
	name := j.Plan.Ranks[1].Node
	victim := c.index(c.byName(name))
	st := l.State()
	holder := copyHolders(st, name, "", l.aliveNodes())[0].Name
	holderLog := jobPaths{dataDir: c.cfgs[c.index(c.byName(holder))].DataDir}.logPath(j.ID, 1, 1)
	waitFor(t, 60*time.Second, "step 3 of rank 1 copied to "+holder, func() bool {
		b, _ := os.ReadFile(holderLog)
		return strings.Contains(string(b), "step 3/")
	})
	before, _ := os.ReadFile(holderLog)

	killed := time.Now()
	c.nodes[victim].Kill()
	c.nodes[victim] = nil
	orig, err := os.ReadFile(jobPaths{dataDir: c.cfgs[victim].DataDir}.logPath(j.ID, 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(c.cfgs[victim].DataDir); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s (rank 1) killed, its data dir deleted; its log had %d bytes, %s's copy %d a moment before", name, len(orig), holder, len(before))

	// Only the node that ran the rank may write its copy.
	var left []*Daemon
	for _, d := range c.nodes {
		if d != nil {
			left = append(left, d)
		}
	}
	forger, h := left[0], left[1]
	if forger.Name() == holder {
		forger, h = h, forger
	}
	key := supervisor.Key{Job: j.ID, Attempt: 1, Rank: 1}
	if _, _, err := forger.sendLogCopy(ctx(t), st.Members[h.Name()], key, 0, []byte("forged\n"), true); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("%s wrote the copy of %s's rank on %s: %v", forger.Name(), name, h.Name(), err)
	}

	for _, d := range left {
		ch, err := client(t, d, testSecret).Logs(ctx(t), j.ID, api.LogQuery{Rank: 1, Attempt: 1})
		if err != nil {
			t.Fatalf("logs of rank 1 through %s: %v", d.Name(), err)
		}
		cp := ch.Copy
		if cp == nil || cp.Holder != holder || cp.Of != name || cp.Start != 0 || cp.Exited {
			t.Fatalf("through %s: copy %+v, want %s's copy of %s's log from byte 0, not reaching an exit", d.Name(), cp, holder, name)
		}
		if cp.CopiedAt.After(killed) || time.Since(cp.CopiedAt) > time.Minute {
			t.Errorf("through %s: copied at %v, killed at %v", d.Name(), cp.CopiedAt, killed)
		}
		if !bytes.HasPrefix(orig, ch.Data) || len(ch.Data) < len(before) || !ch.Complete || ch.Next != int64(len(ch.Data)) {
			t.Errorf("through %s: %d bytes (next %d, complete %v), not a prefix of the %d-byte log at least %d long",
				d.Name(), len(ch.Data), ch.Next, ch.Complete, len(orig), len(before))
		}
		for _, step := range []string{"step 1/", "step 2/", "step 3/"} {
			if !strings.Contains(string(ch.Data), step) {
				t.Errorf("through %s: no %q line in %q", d.Name(), step, ch.Data)
			}
		}
		t.Logf("through %s: %d bytes from %s's copy, copied at %v (%v before the kill)", d.Name(), len(ch.Data), cp.Holder,
			cp.CopiedAt.Format("15:04:05.000"), killed.Sub(cp.CopiedAt).Round(time.Millisecond))

		// bloomctl logs, with the API token: the lines, and a note of whose copy.
		out, note, err := bloomctl(t, d, "logs", j.ID, "--rank", "1", "--attempt", "1", "-f")
		if err != nil || out != string(ch.Data) || !strings.Contains(note, "node "+name+", which ran rank 1, is gone: this is the copy node "+holder+" kept") ||
			!strings.Contains(note, "was lost with node "+name) {
			t.Errorf("bloomctl logs through %s: %v, printed %d bytes and %q", d.Name(), err, len(out), note)
		}

		// Following from where the copy ends: nothing more, and the answer says so.
		f, err := client(t, d, testSecret).Logs(ctx(t), j.ID, api.LogQuery{Rank: 1, Attempt: 1, Offset: ch.Next, Follow: true})
		if err != nil || len(f.Data) != 0 || !f.Complete || f.Copy == nil {
			t.Errorf("follow through %s from %d: %+v, %v", d.Name(), ch.Next, f, err)
		}
	}
}
