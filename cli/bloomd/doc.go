// Package bloomd is bloomd's command line: join (run the daemon), keygen
// (the cluster secret), devices, and the hidden worker (one rank in its own
// process). It is the only command-line package that links the daemon, and
// with it Raft, raft-boltdb and memberlist; bloomctl's commands live in
// package cli, which never imports the daemon, so bloomctl links none of
// them.
//
// It owns App and bloomd's flags (BLOOMD_* environment variables). It
// imports cli (the build's Version), daemon, daemon/identity, daemon/worker
// (the worker process's entry, worker.Run) and npu; cli must never import
// it.
//
// Tests that run bloomctl's cluster commands against a live bloomd are
// here too: only this package may start one.
//
//	err := bloomd.App().Run(os.Args)
package bloomd
