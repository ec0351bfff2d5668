package data

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
)

// IgnoreLabel is the label of a token the loss skips.
const IgnoreLabel = -100

// InstructionDataset serves instruction data in AscendSpeed's packed format
// ({prefix}_packed_input_ids_document and {prefix}_packed_labels_document,
// as `preprocess --format alpaca` writes them: trainer/data/preprocess's
// alpaca.go) as training samples: one record per sample, its first SeqLength+1
// tokens, padded on the right; Targets are its labels shifted by one, with
// IgnoreLabel where the label is masked (the prompt) or past the record.
// Right padding needs no attention mask: a causal model's real tokens never
// see it. This is the collator the seed's --is-instruction-dataset selects
// (DataCollatorForSeq2Seq padding to the sequence length). Records with no
// unmasked label within their first SeqLength+1 tokens are skipped, so every
// sample has a target. The order is a seeded shuffle of the records,
// reshuffled every epoch; Sample(i) depends on i alone.
type InstructionDataset struct {
	ids, labels *Indexed
	docs        []int32 // the usable records
	seqLength   int
	pad         int32
	seed        uint64

	mu    sync.Mutex
	epoch int64
	perm  []int32 // the records of epoch, in order
}

// OpenInstruction opens the instruction datasets of prefix for samples of
// seqLength+1 tokens padded with pad.
func OpenInstruction(prefix string, seqLength int, pad int32, seed uint64) (*InstructionDataset, error) {
	if seqLength < 1 {
		return nil, fmt.Errorf("data: sequence length %d", seqLength)
	}
	ids, err := OpenIndexed(prefix + "_packed_input_ids_document")
	if err != nil {
		return nil, err
	}
	labels, err := OpenIndexed(prefix + "_packed_labels_document")
	if err != nil {
		ids.Close()
		return nil, err
	}
	d := &InstructionDataset{ids: ids, labels: labels, seqLength: seqLength, pad: pad, seed: seed, epoch: -1}
	if !slices.Equal(ids.Sizes(), labels.Sizes()) {
		d.Close()
		return nil, fmt.Errorf("data: %s: the input ids and labels datasets do not hold sequences of the same lengths", prefix)
	}
	var buf []int32
	for i, n := range labels.Sizes() {
		if buf, err = labels.Get(buf[:0], i, 0, min(int(n), seqLength+1)); err != nil {
			d.Close()
			return nil, err
		}
		// Position 0 is never a target (nothing before it predicts it).
		if len(buf) > 1 && slices.ContainsFunc(buf[1:], func(l int32) bool { return l != IgnoreLabel }) {
			d.docs = append(d.docs, int32(i))
		}
	}
	if len(d.docs) == 0 {
		need := shortestPrompt(labels)
		d.Close()
		if need < 0 {
			return nil, fmt.Errorf("data: %s: no record has an unmasked label (a response to learn)", prefix)
		}
		return nil, fmt.Errorf("data: %s: no record has an unmasked label within its first %d tokens: the prompts are longer than --seq-length %d; raise --seq-length to at least %d (the shortest prompt's end)",
			prefix, seqLength+1, seqLength, need)
	}
	return d, nil
}

// shortestPrompt is the least sequence length at which some record of
// labels has a target: the smallest position k ≥ 1 holding an unmasked
// label, or -1 when none has one.
func shortestPrompt(labels *Indexed) int {
	best := -1
	var buf []int32
	for i, n := range labels.Sizes() {
		var err error
		if buf, err = labels.Get(buf[:0], i, 0, int(n)); err != nil {
			continue
		}
		for k := 1; k < len(buf); k++ {
			if buf[k] != IgnoreLabel {
				if best < 0 || k < best {
					best = k
				}
				break
			}
		}
	}
	return best
}

// Len is the number of usable records: one epoch.
func (d *InstructionDataset) Len() int { return len(d.docs) }

// record is the dataset record sample i reads.
func (d *InstructionDataset) record(i int64) int {
	if i < 0 {
		i = 0
	}
	n := int64(len(d.docs))
	epoch, j := i/n, i%n
	d.mu.Lock()
	defer d.mu.Unlock()
	if epoch != d.epoch {
		d.perm = slices.Clone(d.docs)
		r := rand.New(rand.NewPCG(d.seed, uint64(epoch)))
		r.Shuffle(len(d.perm), func(a, b int) { d.perm[a], d.perm[b] = d.perm[b], d.perm[a] })
		d.epoch = epoch
	}
	return int(d.perm[j])
}

// Sample fills dst (SeqLength+1 tokens) with sample i's ids, padded.
func (d *InstructionDataset) Sample(i int64, dst []int32) error {
	return d.fill(d.ids, d.record(i), 0, dst, d.pad)
}

// Targets fills dst (SeqLength values) with sample i's next-token targets:
// the labels from position 1, IgnoreLabel where masked or padded.
func (d *InstructionDataset) Targets(i int64, dst []int32) error {
	return d.fill(d.labels, d.record(i), 1, dst, IgnoreLabel)
}

func (d *InstructionDataset) fill(x *Indexed, rec, offset int, dst []int32, pad int32) error {
	n := int(x.Sizes()[rec])
	got, err := x.Get(dst[:0], rec, min(offset, n), max(0, min(len(dst), n-offset)))
	if err != nil {
		return err
	}
	for k := len(got); k < len(dst); k++ {
		dst[k] = pad
	}
	return nil
}

// Close unmaps the files.
func (d *InstructionDataset) Close() error {
	err := d.ids.Close()
	if e := d.labels.Close(); err == nil {
		err = e
	}
	return err
}
