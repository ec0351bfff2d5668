package daemon

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"bloom/api"
	"bloom/trainer/data"
	"bloom/trainer/tensorboard"
)

// byteDataset writes the embedded corpus as a Megatron dataset at prefix:
// a document per paragraph, byte b as token 4+b (the byte-level
// tokenizer), so a split can hold documents out for validation.
func byteDataset(t *testing.T, prefix string) {
	t.Helper()
	w, err := data.CreateIndexed(prefix, data.DTypeInt32)
	if err != nil {
		t.Fatal(err)
	}
	for _, para := range bytes.Split(data.DemoText(), []byte("\n\n")) {
		if len(para) == 0 {
			continue
		}
		ids := make([]int32, len(para))
		for i, b := range para {
			ids[i] = 4 + int32(b)
		}
		if err := w.AddItem(ids); err != nil {
			t.Fatal(err)
		}
		w.EndDocument()
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}

// TestValidationJob: a PP2 job over two nodes with --eval-interval 4
// --eval-iters 2 validates after steps 4, 8 and 12, and at the end of
// training, on the split's held-out documents (forward only, over QUIC
// between the stages): the losses are in its history, its log lines and its
// TensorBoard events.
func TestValidationJob(t *testing.T) {
	if testing.Short() {
		t.Skip("worker processes")
	}
	prefix := filepath.Join(t.TempDir(), "corpus_text_document")
	byteDataset(t, prefix)
	c := startJobCluster(t, 2)
	cl := client(t, c.nodes[0], testSecret)
	s := tinySpec(12)
	s.PipelineParallel, s.DataPath, s.Split, s.EvalInterval, s.EvalIters = 2, prefix, "90,10,0", 4, 2
	s.TensorBoardDir, s.LogValidationPPLToTensorboard = filepath.Join(t.TempDir(), "tb"), true
	j, err := submitSpec(t, cl, "valid", s)
	if err != nil {
		t.Fatal(err)
	}
	waitJob(t, cl, j.ID, 90*time.Second, "success", state(api.JobSucceeded))
	var h *api.JobHistory
	waitFor(t, 10*time.Second, "the history", func() bool {
		h, err = cl.History(ctx(t), j.ID)
		return err == nil && len(h.Points) == 12
	})
	var steps []int64
	for _, p := range h.Points {
		if p.ValLoss != 0 {
			steps = append(steps, p.Step)
			if !(p.ValLoss > 0 && p.ValLoss < 10 && p.ValPPL > 1) {
				t.Errorf("validation after step %d: loss %v ppl %v", p.Step, p.ValLoss, p.ValPPL)
			}
		}
	}
	if len(steps) != 3 || steps[0] != 4 || steps[2] != 12 {
		t.Errorf("validation ran after steps %v, want 4 8 12", steps)
	}
	// And once more at the end of training, as Megatron does, on samples of
	// its own: on the last step's point.
	if last := h.Points[len(h.Points)-1]; !(last.FinalValLoss > 0 && last.FinalValLoss < 10 && last.FinalValLoss != last.ValLoss && last.FinalValPPL > 1) {
		t.Errorf("the validation at the end of training: %+v", last)
	}
	events, _ := filepath.Glob(filepath.Join(s.TensorBoardDir, "events.out.tfevents.*"))
	if len(events) != 1 {
		t.Fatalf("event files %v", events)
	}
	scalars, err := tensorboard.ReadScalars(events[0])
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, sc := range scalars {
		n[sc.Tag]++
	}
	if n[tensorboard.TagValidationLoss] != 4 || n[tensorboard.TagValidationPPL] != 4 || n[tensorboard.TagValidationLoss+tensorboard.VsTokens] != 4 {
		t.Errorf("validation scalars in TensorBoard: %v", n)
	}
}
