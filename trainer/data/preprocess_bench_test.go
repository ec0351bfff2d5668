package data_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bloom/trainer/data"
	"bloom/trainer/data/preprocess"
	"bloom/trainer/tokenizer"
)

// BenchmarkPreprocess measures preprocessing throughput (MB/s of text) of a
// JSON-lines corpus with the BLOOM-pipeline test tokenizer, 1 and 2 workers.
// It measures the pipeline, not the disk: fsync is off.
func BenchmarkPreprocess(b *testing.B) {
	defer data.NoSync()()
	tok, err := tokenizer.Load("../tokenizer/testdata/bloom.json")
	if err != nil {
		b.Fatal(err)
	}
	corpus, err := os.ReadFile("../tokenizer/testdata/corpus.txt")
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	in := filepath.Join(dir, "corpus.jsonl")
	var sb strings.Builder
	paras := strings.Split(string(corpus), "\n\n")
	size := 0
	for size < 8<<20 {
		for _, p := range paras {
			line, _ := json.Marshal(map[string]string{"text": p})
			sb.Write(line)
			sb.WriteByte('\n')
			size += len(p)
		}
	}
	os.WriteFile(in, []byte(sb.String()), 0o644)
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			b.SetBytes(int64(size))
			cpu := cpuTime()
			for b.Loop() {
				cfg := preprocess.Config{Inputs: []string{in}, OutputPrefix: filepath.Join(dir, "out"), Workers: workers, AppendEOD: true, EOD: 2}
				if _, err := preprocess.Run(context.Background(), tok, cfg); err != nil {
					b.Fatal(err)
				}
			}
			// MB of text per CPU-second: what one core sustains.
			if sec := (cpuTime() - cpu).Seconds(); sec > 0 {
				b.ReportMetric(float64(size)*float64(b.N)/1e6/sec, "MB/cpu-s")
			}
		})
	}
}
