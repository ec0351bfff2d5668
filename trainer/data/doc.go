// Package data serves training samples from Megatron/AscendSpeed datasets,
// compatible both ways with Megatron's files:
//
//   - Megatron's MMIDIDX indexed datasets (CreateIndexed, OpenIndexed), both
//     token dtypes, memory-mapped.
//
//   - Megatron's GPTDataset sample order: SplitRanges, BuildGPTIndex with
//     numpy's RandomState reproduced bit for bit, GPTDataset with the .npy
//     index maps cached beside the data, Sample as a trainer source, and
//     MicroBatch (Megatron's pretraining sampler).
//
//   - Instruction data for fine-tuning (InstructionDataset): the packed
//     alpaca datasets a record per sample, right-padded, with the prompt's
//     labels ignored (IgnoreLabel) in its Targets.
//
//   - A byte-level corpus (the embedded demo text or any file) with a seeded,
//     resumable order, for the demo.
//
//     s, _ := data.OpenGPTSplits("enwiki-100k_text_document", data.GPTSplitConfig{
//     Split: "969,30,1", NumSamples: [3]int64{n, v, t}, SeqLength: 2048, Seed: 42})
//     defer s.Close()
//     s.Train.Sample(i, dst) // Megatron's sample i: 2049 tokens
//
// The datasets are written by trainer/data/preprocess (text files in, with
// a tokenizer from trainer/tokenizer), which imports this package; this
// package imports nothing of the project. Every parser of outside bytes
// (.idx, .npy) returns errors naming the file, never panics, and is fuzzed.
package data
