package daemon

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"bloom/api"
)

// chromium finds Debian's chromium; CI installs it (.ci/run), elsewhere
// the browser test skips without it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium: CI installs Debian's chromium for the dashboard test (.ci/run)")
	}
	t.Skip("no chromium (apt-get install chromium) for the dashboard test")
	return ""
}

// dumpDOM loads url in headless chromium, lets its scripts run for a few
// seconds, and returns the DOM as they left it.
func dumpDOM(t *testing.T, browser, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--ignore-certificate-errors", "--user-data-dir="+t.TempDir(), "--virtual-time-budget=4000", "--dump-dom", url)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || len(out) == 0 {
		t.Fatalf("chromium: %v %q\n%s", err, out, stderr.String())
	}
	return string(out)
}

// TestDashboard: bloomd's dashboard, opened in a real headless browser with
// the cluster token, shows the members, the jobs and a loss curve that
// grows while the job trains; without the token it asks for one and shows
// nothing of the cluster.
func TestDashboard(t *testing.T) {
	browser := chromium(t)
	c := startJobCluster(t, 1)
	cl := client(t, c.nodes[0], testSecret)
	j, err := submitSpec(t, cl, "dash", tinySpec(100000))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Cancel(context.Background(), j.ID) })
	waitFor(t, 60*time.Second, "steps in the history", func() bool {
		h, err := cl.History(ctx(t), j.ID)
		return err == nil && len(h.Points) > 0
	})
	url := "https://" + c.nodes[0].APIAddr() + "/ui/"
	points := regexp.MustCompile(`id="curve"[^>]*data-points="(\d+)"`)
	count := func(dom string) int {
		m := points.FindStringSubmatch(dom)
		if m == nil {
			t.Fatalf("no curve in the page:\n%s", dom)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	first := dumpDOM(t, browser, url+"#token="+testSecret.Token())
	for _, want := range []string{c.nodes[0].Name(), j.ID, ">dash<", ">running<", "<polyline"} {
		if !strings.Contains(first, want) {
			t.Errorf("the page lacks %q:\n%s", want, first)
		}
	}
	n1 := count(first)
	waitFor(t, 60*time.Second, "more steps", func() bool {
		h, err := cl.History(ctx(t), j.ID)
		return err == nil && len(h.Points) > n1+5
	})
	n2 := count(dumpDOM(t, browser, url+"#token="+testSecret.Token()))
	if n1 < 1 || n2 <= n1 {
		t.Errorf("the curve did not grow while the job trained: %d points, then %d", n1, n2)
	}
	anon := dumpDOM(t, browser, url)
	if strings.Contains(anon, j.ID) || !strings.Contains(anon, "not authenticated") {
		t.Errorf("without the token the page shows:\n%s", anon)
	}
	if _, err := cl.Cancel(ctx(t), j.ID); err != nil {
		t.Fatal(err)
	}
	waitJob(t, cl, j.ID, 30*time.Second, "cancelled", func(j *api.JobInfo) bool { return api.JobTerminal(j.State) })
}
