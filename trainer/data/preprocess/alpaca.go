package preprocess

import (
	"strings"

	"bloom/trainer/data"
)

// Instruction data in AscendSpeed's GeneralInstructionHandler format
// (ascendspeed/data/data_handler.py, prompter.py AlpacaTemplate): each record
// (instruction, input, output) becomes one sequence in each of three int32
// datasets, {prefix}_packed_{input_ids,attention_mask,labels}_document:
//
//	prompt = "\n" + AlpacaSystem + "\n" +
//	         "### Instruction:\n" + instruction + "\n" + input + "\n" +
//	         "### Response:\n" + output + "\n"
//	input_ids      = tokenize(prompt) [+ EOD with --append-eod]
//	attention_mask = 1 for every token
//	labels         = input_ids, with the first len(tokenize(user)) set to −100,
//	                 user = prompt up to the last "### Response:", plus "### Response:\n"
//
// The user part is tokenized on its own, as AscendSpeed does, so the mask
// covers exactly what AscendSpeed masks even where BPE merges across the
// boundary. "Packed" is AscendSpeed's name: one record is one sequence; the
// trainer's collator pads or packs. Where the user part has more tokens than
// the whole prompt (it cannot, for BLOOM's tokenizer) every label is masked
// rather than lengthening labels past input_ids as Python's slice would.

// AlpacaSystem is AlpacaTemplate.system.
const AlpacaSystem = "Below is an instruction that describes a task, paired with an input that provides further context. " +
	"Write a response that appropriately completes the request. " +
	"Please note that you need to think through your response logically and step by step."

// AlpacaKeys are the record keys an instruction record needs.
var AlpacaKeys = []string{"instruction", "input", "output"}

// AlpacaOutputs are the three datasets' keys, in output order.
var AlpacaOutputs = []string{"input_ids", "attention_mask", "labels"}

const alpacaResponse = "### Response:"

// AlpacaPrompt is the full training prompt of one record.
func AlpacaPrompt(instruction, input, output string) string {
	return "\n" + AlpacaSystem + "\n" +
		"### Instruction:\n" + instruction + "\n" + input + "\n" +
		alpacaResponse + "\n" + output + "\n"
}

// alpacaUserPrompt is the part of prompt whose labels are masked.
func alpacaUserPrompt(prompt string) string {
	i := strings.LastIndex(prompt, alpacaResponse)
	return prompt[:i] + alpacaResponse + "\n"
}

// AlpacaSequences tokenizes one record into its input ids, attention mask
// and labels.
func AlpacaSequences(enc TextEncoder, instruction, input, output string, appendEOD bool, eod int32) (ids, mask, labels []int32) {
	prompt := AlpacaPrompt(instruction, input, output)
	ids = enc.AppendIDs(nil, prompt)
	if appendEOD {
		ids = append(ids, eod)
	}
	user := len(enc.AppendIDs(nil, alpacaUserPrompt(prompt)))
	mask = make([]int32, len(ids))
	labels = make([]int32, len(ids))
	for i, id := range ids {
		mask[i] = 1
		labels[i] = id
		if i < user {
			labels[i] = data.IgnoreLabel
		}
	}
	return ids, mask, labels
}
