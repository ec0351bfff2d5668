// Package cli defines bloomctl's command line on urfave/cli/v2, one command
// per file, and the pieces bloomd's command line (package cli/bloomd)
// shares with it: Version and the version, completion and man commands. The main in cmd/bloomctl only calls CtlApp and
// Run.
//
// The global options (and some flags) can also be set from BLOOM_*
// environment variables (docs/environment.md lists them), and every
// command that prints data takes --output table|json.
//
//	app := cli.CtlApp()
//	err := app.Run(os.Args)
//
// It may import api, the job specs (daemon/jobspec), the cluster identity
// (daemon/identity), trainer, ckpt, collective (and its benchmark harness,
// collective/collbench) and npu; never the daemon
// itself, so that bloomctl links no Raft, raft-boltdb or memberlist
// (layering_test.go checks it). It holds no logic of its own beyond
// parsing, validation and printing.
package cli
