// Package cli defines the command lines of bloomd and bloomctl on
// urfave/cli/v2, one command per file. The mains in cmd/ only call
// CtlApp or DaemonApp and Run.
//
// Every flag can also be set from a BLOOM_* environment variable, and every
// command that prints data takes --output table|json.
//
//	app := cli.CtlApp()
//	err := app.Run(os.Args)
//
// It may import api, daemon, trainer, ckpt, collective (and its benchmark
// harness, collective/collbench) and npu; it holds no
// logic of its own beyond parsing, validation and printing.
package cli
