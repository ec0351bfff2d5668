// Package tensorboard writes and reads TensorBoard event files holding
// scalar summaries, byte for byte as TensorBoard's own writer
// (tensorboard/summary/writer, which PyTorch's SummaryWriter and so
// Megatron-DeepSpeed use) writes them, so that TensorBoard, and any tool
// that reads its files, plots a bloom run next to a Megatron one.
//
// It owns three things:
//
//   - the file: TFRecord framing (a little-endian length, its masked
//     CRC-32C, the data, the data's masked CRC-32C) of Event protocol
//     buffers, encoded here by hand (a scalar needs five fields), starting
//     with the file_version "brain.Event:2" record, named
//     events.out.tfevents.<seconds>.<host>.<pid>.<n> as TensorBoard names
//     it (Writer);
//   - a reader of such files that checks both CRCs (ReadScalars), for the
//     tests and for plotting a run;
//   - Megatron-DeepSpeed's tag names (AscendSpeed's training.py, and
//     BigScience's, which trained BLOOM) and the scalars they write for one
//     iteration and one evaluation (Iteration.Points, Validation.Points).
//
// Scalars are stored as simple_value (a float32), as PyTorch's
// SummaryWriter.add_scalar writes them by default; TensorBoard reads that
// form and the newer rank-0 tensor form alike. The reader skips the tensor
// form and every other summary kind.
//
// The package is pure Go and imports nothing of the project: only the
// standard library. It does no I/O but through the Writer's file and
// ReadScalars.
//
//	w, err := tensorboard.Create(dir, time.Now())
//	if err != nil { ... }
//	defer w.Close()
//	it := tensorboard.Iteration{Step: 1, Samples: 192, Tokens: 192 * 2048, LR: 6e-5, LMLoss: 11.2, ...}
//	err = w.Points(it.Points(tensorboard.BLOOMFlags()), time.Now())
//	err = w.Flush() // after every step, if a crash must lose nothing
//
// The Python scripts in scripts/tensorboard read these files with Google's
// protobuf library (an independent check) and generate testdata/golden.tfevents.
package tensorboard
