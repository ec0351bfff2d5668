// Package eval scores a BLOOM model on BoolQ and MMLU the way the seed's
// evaluation (AscendSpeed's tasks/evaluation) does, so its accuracies are
// comparable with the seed's published ones.
//
//   - BoolQ: JSON lines with passage, question and answer (a bool; or label
//     1/0, as the super_glue copy has it). The prompt is
//     "{passage}\nQuestion: {question}?\nAnswer:"; the prediction is True
//     when the next token's probability of "Yes" is at least that of "No"
//     (the last token of each word's encoding, without a leading space, as
//     the seed does; Config.AnswerPrefix changes that).
//   - MMLU: {subject}_test.csv files (no header: question, A, B, C, D,
//     answer). The prompt is a few-shot header, then
//     "\n\n{question}\nA. {A}\nB. {B}\nC. {C}\nD. {D}\nAnswer:"; the model
//     continues it greedily by two tokens, and the first character of that
//     text after spaces and newlines is the prediction. The few-shot header
//     comes from the seed's template file (subject → text) or is built from
//     {subject}_dev.csv as that template lays it out: "The following are
//     multiple choice questions (with answers) about  {subject words}." and
//     k solved examples, each after one newline (MMLU's reference code puts
//     a blank line between them).
//
// Prompts are encoded with the tokenizer's post-processor, as Hugging Face's
// tokenizer(text) does, and cut from the left to fit the sequence length.
// Accuracy is per MMLU subject and over all questions (micro-averaged).
//
//	qs, _ := eval.LoadMMLU("mmlu/data/test", eval.MMLUOptions{Shots: 5})
//	res, _ := eval.Run(eval.Config{Model: m, Tok: tok, Pad: 3, SeqLength: 1024}, qs)
//	fmt.Println(res.Accuracy)
//
// It reads files and runs the model; it imports trainer/bloom,
// trainer/tokenizer and trainer/data (ListFiles) only.
package eval
