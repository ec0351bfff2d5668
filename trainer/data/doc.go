// Package data turns text into training samples: for now a byte-level corpus
// (the embedded demo text or any file) with a seeded, resumable sample order.
// Hugging Face tokenizer.json BPE, Megatron's indexed datasets and Megatron's
// GPTDataset sample order belong here too.
//
//	src := data.NewByteCorpus(data.DemoText(), 128, 42)
//	src.Sample(i, dst) // sample i of the run: 129 tokens
//
// It imports nothing of the project.
package data
