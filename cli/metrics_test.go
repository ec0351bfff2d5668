package cli

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"

	"bloom/api"
)

// TestMetricsOutput: a job's history as a table (a header and a row per
// step) and as CSV that a CSV reader reads back, times in unix ms.
func TestMetricsOutput(t *testing.T) {
	h := &api.JobHistory{ID: "j1", Points: []api.HistoryPoint{
		{Attempt: 1, Step: 1, At: 1700000000000, Loss: 5.25, LR: 3e-4, GradNorm: 1.5, Consumed: 8, TokensPerSec: 1000,
			Throughput: api.Throughput{SamplesPerSec: 7.5, SecondsPerStep: 1.07, TFLOPs: 0.02, MFU: 0.1}},
		{Attempt: 2, Step: 5, At: 1700000001000, Loss: 4.5, LossScale: 4096, SkippedSteps: 1},
	}}
	var tb bytes.Buffer
	if err := writeHistory(&tb, h); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(tb.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "loss_scale") || !strings.Contains(lines[1], "5.2500") || !strings.Contains(lines[2], "4096") {
		t.Errorf("table:\n%s", tb.String())
	}
	var cb bytes.Buffer
	if err := writeHistoryCSV(&cb, h); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&cb).ReadAll()
	if err != nil || len(rows) != 3 || rows[0][2] != "time" || rows[1][2] != "1700000000000" || rows[2][0] != "2" || rows[1][3] != "5.2500" {
		t.Errorf("csv %v: %q", err, rows)
	}
	var empty bytes.Buffer
	writeHistory(&empty, &api.JobHistory{ID: "j2"})
	if !strings.Contains(empty.String(), "no steps") {
		t.Errorf("empty history: %q", empty.String())
	}
}

// TestPrintable: a job name's escape sequences reach the terminal as text.
func TestPrintable(t *testing.T) {
	if got := printable("evil\x1b[2Jname\n"); got != `evil\x1b[2Jname\n` {
		t.Errorf("printable: %q", got)
	}
	if got := printable("plain name ü"); got != "plain name ü" {
		t.Errorf("printable changed %q", got)
	}
}
