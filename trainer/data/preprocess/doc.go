// Package preprocess turns text files into Megatron/AscendSpeed datasets,
// as Megatron's tools/preprocess_data.py does: parquet (trainer/data/parquet),
// JSON lines or JSON arrays in; ordered multi-worker tokenizing; MMIDIDX
// .bin/.idx pairs out (trainer/data's writer), byte-identical for any number
// of workers. Two formats:
//
//   - FormatPretrain: one dataset per JSON key, {prefix}_{key}_document, a
//     document per record, empty documents skipped, EOD appended on request.
//
//   - FormatAlpaca: AscendSpeed's GeneralInstructionHandler (alpaca.go):
//     instruction, input and output in the alpaca prompt, three int32
//     datasets {prefix}_packed_{input_ids,attention_mask,labels}_document
//     with the prompt's labels masked; trainer/data's InstructionDataset
//     reads them back.
//
// For example:
//
//	inputs, err := preprocess.ListInputs("enwiki/")
//	if err != nil {
//		return err
//	}
//	st, err := preprocess.Run(ctx, tok, preprocess.Config{Inputs: inputs,
//		OutputPrefix: "data/enwiki", AppendEOD: true, EOD: 2})
//
// The tokenizer comes in through TextEncoder, which trainer/tokenizer's
// Tokenizer implements; this package imports trainer/data and
// trainer/data/parquet only, and nothing imports it but the command line.
// A bad record is an error wrapping ErrBadInput that names the file and the
// record; nothing appears under the output names unless every input was
// read and every dataset written.
package preprocess
