package data

import (
	"path/filepath"
	"slices"
	"testing"
)

// TestInstructionDataset: samples are the records of the packed instruction
// datasets (preprocess --format alpaca), cut and right-padded; targets are
// the labels shifted by one with the prompt and the padding ignored; every
// epoch visits every usable record once, in a seeded order that Sample(i)
// alone fixes.
func TestInstructionDataset(t *testing.T) {
	prefix := filepath.Join("preprocess", "testdata", "alpaca_json")
	ids, err := OpenIndexed(prefix + "_packed_input_ids_document")
	if err != nil {
		t.Fatal(err)
	}
	defer ids.Close()
	labels, err := OpenIndexed(prefix + "_packed_labels_document")
	if err != nil {
		t.Fatal(err)
	}
	defer labels.Close()
	const pad = 3
	// Its three records have 320, 304 and 318 tokens, the first 293, 295
	// and 316 labels masked: at T = 300 the third has no target and is
	// skipped, the others are cut; at 4096 all are padded.
	for _, T := range []int{300, 4096} {
		d, err := OpenInstruction(prefix, T, pad, 5)
		if err != nil {
			t.Fatal(err)
		}
		n := d.Len()
		if T == 300 && n != 2 || T == 4096 && n != 3 {
			t.Fatalf("T %d: %d usable records of %d", T, n, ids.Len())
		}
		seen := map[int]bool{}
		sample, targets := make([]int32, T+1), make([]int32, T)
		for i := range int64(2 * n) {
			if err := d.Sample(i, sample); err != nil {
				t.Fatal(err)
			}
			if err := d.Targets(i, targets); err != nil {
				t.Fatal(err)
			}
			rec := d.record(i)
			if i < int64(n) {
				if seen[rec] {
					t.Fatalf("T %d: record %d twice in an epoch", T, rec)
				}
				seen[rec] = true
			}
			want, _ := ids.Get(nil, rec, 0, -1)
			lab, _ := labels.Get(nil, rec, 0, -1)
			valid := 0
			for k := range T + 1 {
				w := int32(pad)
				if k < len(want) {
					w = want[k]
				}
				if sample[k] != w {
					t.Fatalf("T %d sample %d (record %d) token %d: %d, want %d", T, i, rec, k, sample[k], w)
				}
				if k == T {
					break
				}
				l := int32(IgnoreLabel)
				if k+1 < len(lab) {
					l = lab[k+1]
				}
				if targets[k] != l {
					t.Fatalf("T %d sample %d target %d: %d, want %d", T, i, k, targets[k], l)
				}
				if l != IgnoreLabel {
					valid++
				}
			}
			if valid == 0 {
				t.Fatalf("T %d sample %d has no target", T, i)
			}
		}
		again, _ := OpenInstruction(prefix, T, pad, 5)
		other, _ := OpenInstruction(prefix, T, pad, 6)
		var a, b, c []int
		for i := range int64(n) {
			a, b, c = append(a, d.record(i)), append(b, again.record(i)), append(c, other.record(i))
		}
		if !slices.Equal(a, b) || n > 3 && slices.Equal(a, c) {
			t.Errorf("T %d: order %v, again %v, other seed %v", T, a, b, c)
		}
		d.Close()
		again.Close()
		other.Close()
	}
	if _, err := OpenInstruction(prefix, 8, pad, 1); err == nil {
		t.Error("T 8 leaves no record with a target, and opened")
	}
	if _, err := OpenInstruction(filepath.Join("preprocess", "testdata", "enwiki_eod"), 8, pad, 1); err == nil {
		t.Error("a pretraining dataset opened as instruction data")
	}
}
