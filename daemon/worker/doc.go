// Package worker is the worker process, `bloomd worker`: one rank of one
// attempt of a job, in a process of its own, started and supervised by its
// node's daemon (DESIGN.md §2). Run reads the rank's Assignment from the
// first line of stdin, opens its device, pulls what its node lacks of the
// checkpoint it resumes from (package daemon/xfer), joins the collective
// communicators through the daemons' rendezvous, and calls trainer.Run,
// reporting progress, checkpoint shards and errors on the control pipe.
//
// It owns both ends' vocabulary of the supervisor↔worker protocol
// (protocol.go): the Assignment, the Msg lines each way, and the Fetch list
// of where a checkpoint's files live. The node's supervisor (package
// daemon/supervisor) builds assignments and reads messages with these
// types; the worker's end of the link is here.
//
// It runs in another process than the daemon and must not import package
// daemon (the daemon imports it); it may import daemon/coord,
// daemon/identity, daemon/jobspec, daemon/xfer, api, trainer and its
// packages, npu, npu/cpu, collective and ckpt.
//
// Usage (cli's `bloomd worker`; the control pipe is file descriptor 3):
//
//	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
//	defer stop()
//	err := worker.Run(ctx, os.Stdin, os.NewFile(3, "control"), os.Stderr)
package worker
