package preprocess

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"bloom/trainer/data"
)

// TextEncoder is what preprocessing needs from a tokenizer; *Tokenizer
// implements it. AppendIDs must be safe for concurrent use.
type TextEncoder interface {
	// AppendIDs appends what the tokenizer gives for text (Hugging Face's
	// tokenizer(text)["input_ids"]) to dst.
	AppendIDs(dst []int32, text string) []int32
	// VocabSize is the vocabulary size, added tokens included.
	VocabSize() int
}

// The formats Run writes.
const (
	FormatPretrain = ""       // --json-keys documents, Megatron's preprocess_data.py
	FormatAlpaca   = "alpaca" // instruction records, AscendSpeed's GeneralInstructionHandler
)

// Config is one run of preprocessing.
type Config struct {
	Inputs       []string // files, in order (see ListInputs)
	Keys         []string // JSON keys / parquet columns of the text; default ["text"]
	OutputPrefix string   // outputs are {prefix}_{key}_document.bin/.idx
	Format       string   // FormatPretrain or FormatAlpaca
	AppendEOD    bool     // end every document with EOD
	EOD          int32    // the end-of-document id (BLOOM: </s> = 2)
	Workers      int      // tokenizing goroutines; 0 = GOMAXPROCS
	// DType of the pretraining outputs; 0 = BestDType(vocab), as Megatron.
	// Alpaca outputs are always int32 (labels hold −100).
	DType data.DType
	// Progress, when set, is called from the writing goroutine after every
	// record and once at the end with Done set.
	Progress func(Stats)
}

// Stats counts a run's progress.
type Stats struct {
	Records    int64 // records read (documents, or instruction records)
	Skipped    int64 // empty documents left out, per key, as Megatron does
	Tokens     int64 // tokens written, over every output
	TextBytes  int64 // UTF-8 bytes of text tokenized
	InputBytes int64 // input file bytes consumed so far
	InputTotal int64 // input file bytes in all; 0 if unknown
	Elapsed    time.Duration
	Done       bool
}

// OutputPrefixes are the datasets a run writes: {prefix}_{key}_document, or
// {prefix}_packed_{input_ids,attention_mask,labels}_document for alpaca.
func (cfg Config) OutputPrefixes() []string {
	keys, prefix := cfg.keys(), cfg.OutputPrefix
	if cfg.Format == FormatAlpaca {
		keys, prefix = AlpacaOutputs, prefix+"_packed"
	}
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = prefix + "_" + k + "_document"
	}
	return out
}

func (cfg Config) keys() []string {
	if len(cfg.Keys) == 0 {
		return []string{"text"}
	}
	return cfg.Keys
}

// validate checks the config before any file is touched.
func (cfg Config) validate() error {
	switch {
	case len(cfg.Inputs) == 0:
		return errors.New("preprocess: no input files")
	case cfg.OutputPrefix == "":
		return errors.New("preprocess: no output prefix")
	case cfg.Format != FormatPretrain && cfg.Format != FormatAlpaca:
		return fmt.Errorf("preprocess: unknown format %q (want alpaca or none)", cfg.Format)
	case cfg.Workers < 0:
		return fmt.Errorf("preprocess: %d workers", cfg.Workers)
	}
	seen := map[string]bool{}
	for _, k := range cfg.keys() {
		if k == "" || seen[k] {
			return fmt.Errorf("preprocess: json key %q is empty or repeated", k)
		}
		seen[k] = true
	}
	return nil
}

// Run tokenizes the inputs with cfg.Workers goroutines and writes the
// datasets in input order, so the output is byte-identical for any worker
// count. Nothing appears under the final names unless every input was read
// and every dataset written; on error or cancellation the temporary files
// are removed.
func Run(ctx context.Context, enc TextEncoder, cfg Config) (Stats, error) {
	if err := cfg.validate(); err != nil {
		return Stats{}, err
	}
	if cfg.Workers == 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	out, err := createOutputs(enc, cfg)
	if err != nil {
		return Stats{}, err
	}
	p := &pipeline{cfg: cfg, enc: enc, out: out, start: time.Now()}
	p.stats.InputTotal = totalBytes(cfg.Inputs)
	if err := p.run(ctx); err != nil {
		abortAll(out)
		return p.stats, err
	}
	if err := commitAll(out); err != nil {
		abortAll(out)
		return p.stats, err
	}
	p.stats.Done, p.stats.Elapsed = true, time.Since(p.start)
	if cfg.Progress != nil {
		cfg.Progress(p.stats)
	}
	return p.stats, nil
}

// createOutputs opens a writer per output dataset.
func createOutputs(enc TextEncoder, cfg Config) ([]*data.IndexedWriter, error) {
	d := cfg.DType
	if d == 0 {
		d = data.BestDType(enc.VocabSize())
	}
	if cfg.Format == FormatAlpaca {
		d = data.DTypeInt32
	}
	var out []*data.IndexedWriter
	for _, prefix := range cfg.OutputPrefixes() {
		w, err := data.CreateIndexed(prefix, d)
		if err != nil {
			abortAll(out)
			return nil, err
		}
		out = append(out, w)
	}
	return out, nil
}

// commitAll makes every output durable, then renames them all.
func commitAll(out []*data.IndexedWriter) error {
	for _, w := range out {
		if err := w.Finish(); err != nil {
			return err
		}
	}
	for _, w := range out {
		if err := w.Commit(); err != nil {
			return err
		}
	}
	return nil
}

func abortAll(out []*data.IndexedWriter) {
	for _, w := range out {
		w.Abort()
	}
}

// batch is a run of consecutive records and, once tokenized, their
// sequences: seqs[r][o] is record r's sequence for output o, nil if empty.
type batch struct {
	n       int64 // position in input order
	records []record
	seqs    [][][]int32
	err     error // a reading error: everything after it is lost
}

// pipeline is one Run: a reader goroutine batching records, the
// workers tokenizing batches, and the calling goroutine writing them in
// order. run owns every goroutine and returns only after they have ended.
type pipeline struct {
	cfg   Config
	enc   TextEncoder
	out   []*data.IndexedWriter
	stats Stats
	start time.Time
}

func (p *pipeline) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	inflight := make(chan struct{}, 2*p.cfg.Workers+2) // bounds memory
	jobs := make(chan *batch, p.cfg.Workers)
	done := make(chan *batch, p.cfg.Workers)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); defer close(jobs); p.read(ctx, jobs, inflight) }()
	var workers sync.WaitGroup
	for i := 0; i < p.cfg.Workers; i++ {
		workers.Add(1)
		go func() { defer workers.Done(); p.tokenize(ctx, jobs, done) }()
	}
	go func() { workers.Wait(); close(done) }()
	err := p.write(ctx, done, inflight)
	cancel()
	for range done { // let the workers finish
	}
	wg.Wait()
	return err
}

// keys are the record keys read: --json-keys, or the alpaca fields.
func (p *pipeline) keys() []string {
	if p.cfg.Format == FormatAlpaca {
		return AlpacaKeys
	}
	return p.cfg.keys()
}

// batchRecords and batchBytes bound a batch.
const (
	batchRecords = 256
	batchBytes   = 1 << 20
)

// read batches the input records and sends them to the workers.
func (p *pipeline) read(ctx context.Context, jobs chan<- *batch, inflight chan struct{}) {
	cur, size, n := &batch{}, 0, int64(0)
	send := func(b *batch) bool {
		b.n = n
		n++
		select {
		case inflight <- struct{}{}:
		case <-ctx.Done():
			return false
		}
		select {
		case jobs <- b:
			return true
		case <-ctx.Done():
			return false
		}
	}
	r := &inputReader{files: p.cfg.Inputs, keys: p.keys(), emit: func(rec record) error {
		cur.records = append(cur.records, rec)
		size += len(rec.raw)
		for _, f := range rec.fields {
			size += len(f)
		}
		if len(cur.records) >= batchRecords || size >= batchBytes {
			if !send(cur) {
				return context.Canceled
			}
			cur, size = &batch{}, 0
		}
		return nil
	}}
	err := r.run()
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return
	}
	cur.err = err
	if len(cur.records) > 0 || err != nil {
		send(cur)
	}
}

// tokenize turns batches of records into sequences. A record that does not
// decode ends its batch there, with the error.
func (p *pipeline) tokenize(ctx context.Context, jobs <-chan *batch, done chan<- *batch) {
	for b := range jobs {
		b.seqs = make([][][]int32, len(b.records))
		for i := range b.records {
			rec := &b.records[i]
			if err := rec.decode(p.keys()); err != nil {
				b.records, b.seqs, b.err = b.records[:i], b.seqs[:i], err
				break
			}
			if p.cfg.Format == FormatAlpaca {
				ids, mask, labels := AlpacaSequences(p.enc, rec.fields[0], rec.fields[1], rec.fields[2], p.cfg.AppendEOD, p.cfg.EOD)
				b.seqs[i] = [][]int32{ids, mask, labels}
				continue
			}
			b.seqs[i] = p.documents(*rec)
		}
		select {
		case done <- b:
		case <-ctx.Done():
			return
		}
	}
}

// documents tokenizes one pretraining record, one sequence per key: empty
// text gives no document (and no EOD), as Megatron's preprocess_data.py.
func (p *pipeline) documents(rec record) [][]int32 {
	out := make([][]int32, len(rec.fields))
	for k, text := range rec.fields {
		if text == "" {
			continue
		}
		ids := p.enc.AppendIDs(nil, text)
		if len(ids) > 0 && p.cfg.AppendEOD {
			ids = append(ids, p.cfg.EOD)
		}
		out[k] = ids
	}
	return out
}

// write receives tokenized batches, reorders them and writes them in input
// order; the first error in input order ends the run.
func (p *pipeline) write(ctx context.Context, done <-chan *batch, inflight <-chan struct{}) error {
	pending := map[int64]*batch{}
	next := int64(0)
	for {
		b, ok := <-done
		if !ok {
			return ctx.Err()
		}
		pending[b.n] = b
		for b := pending[next]; b != nil; b = pending[next] {
			delete(pending, next)
			next++
			<-inflight
			if err := p.writeBatch(b); err != nil {
				return err
			}
			if b.err != nil {
				return b.err
			}
		}
	}
}

// writeBatch appends a batch's sequences to the outputs.
func (p *pipeline) writeBatch(b *batch) error {
	for i, seqs := range b.seqs {
		for o, ids := range seqs {
			if len(ids) == 0 {
				p.stats.Skipped++
				continue
			}
			if err := p.out[o].AddItem(ids); err != nil {
				return err
			}
			p.out[o].EndDocument()
			p.stats.Tokens += int64(len(ids))
		}
		for _, f := range b.records[i].fields {
			p.stats.TextBytes += int64(len(f))
		}
		p.stats.Records++
		p.stats.InputBytes = b.records[i].pos
		if p.cfg.Progress != nil {
			p.stats.Elapsed = time.Since(p.start)
			p.cfg.Progress(p.stats)
		}
	}
	return nil
}
