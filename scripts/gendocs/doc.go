// Command gendocs writes the generated parts of docs/: the job spec
// reference (docs/jobspec.md) from daemon/jobspec's settings table, and
// the environment variables (docs/environment.md) from the flags of
// bloomctl and bloomd. `make docs` runs it; its test fails when a file in
// docs/ differs from what it would write, so the docs follow the code.
//
//	go run ./scripts/gendocs -out docs
//
// It imports cli and cli/bloomd (for the command definitions) and
// daemon/jobspec; nothing imports it.
package main
