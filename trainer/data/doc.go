// Package data turns text into training samples, compatible both ways with
// Megatron/AscendSpeed datasets (the tokenizer is trainer/tokenizer's):
//
//   - Megatron's MMIDIDX indexed datasets (CreateIndexed, OpenIndexed), both
//     token dtypes, memory-mapped.
//
//   - Megatron's GPTDataset sample order: SplitRanges, BuildGPTIndex with
//     numpy's RandomState reproduced bit for bit, GPTDataset with the .npy
//     index maps cached beside the data, Sample as a trainer source, and
//     MicroBatch (Megatron's pretraining sampler).
//
//   - Preprocess: parquet (trainer/data/parquet), JSON lines or JSON arrays in;
//     ordered multi-worker tokenizing; Megatron datasets or AscendSpeed's
//     alpaca instruction format out.
//
//   - Instruction data for fine-tuning (InstructionDataset): the packed
//     alpaca datasets a record per sample, right-padded, with the prompt's
//     labels ignored in its Targets.
//
//   - A byte-level corpus (the embedded demo text or any file) with a seeded,
//     resumable order, for the demo.
//
//     s, _ := data.OpenGPTSplits("enwiki-100k_text_document", data.GPTSplitConfig{
//     Split: "969,30,1", NumSamples: [3]int64{n, v, t}, SeqLength: 2048, Seed: 42})
//     defer s.Close()
//     s.Train.Sample(i, dst) // Megatron's sample i: 2049 tokens
//
// It imports trainer/data/parquet only. Every parser of outside bytes
// (.idx, .npy, JSON lines) returns errors naming the file
// and the record, never panics, and is fuzzed.
package data
