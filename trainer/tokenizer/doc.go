// Package tokenizer reads and writes Hugging Face tokenizer.json files with
// a BPE model and encodes text with them, id for id with the tokenizers
// library:
//
//   - Load and Parse build a Tokenizer from a tokenizer.json: added tokens,
//     normalizers, pre-tokenizers (Split with the library's regex dialect
//     and Unicode tables, ByteLevel, and friends), the BPE model,
//     post-processors and the decoder. Encode, EncodeWith, AppendIDs and
//     Decode give what the library gives.
//
//   - NewBPETrainer trains a byte-level BPE vocabulary with BLOOM's
//     pipeline, merge for merge as the library's BpeTrainer, and writes it
//     as a tokenizer.json.
//
// For example:
//
//	tok, err := tokenizer.Load("bloom/tokenizer.json")
//	if err != nil {
//		return err
//	}
//	ids := tok.AppendIDs(nil, "Hello, world")
//	text := tok.Decode(ids, true)
//
// It owns tokenization only: the datasets the ids go into are trainer/data's
// and preprocessing (text files to datasets) is trainer/data/preprocess's,
// which takes a tokenizer through an interface of its own. It imports
// nothing of the project. A tokenizer.json is outside bytes: every error
// about one wraps ErrFormat and names the file, parsing never panics, and
// it is fuzzed.
package tokenizer
