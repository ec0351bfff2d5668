// Command soak runs real bloomd processes through failures and checks that
// training survives them bit for bit: the third test tier of DESIGN.md §12
// for the failure handling of §10.
//
// It owns a harness for a loopback cluster of real binaries (build them
// once, start N `bloomd join` on 127.0.0.x with port 0 and keep the chosen
// ports for a restart under the same name and data dir, SIGKILL a daemon
// with its workers as a machine crash would, SIGKILL one worker, SIGTERM a
// daemon for maintenance, run `bloomctl rollout`, cut one node off the
// network in a namespace of its own), the chaos actions, and
// the checks: the job succeeds, its final shards have the SHA-256s of an
// uninterrupted run, and every committed checkpoint is whole.
//
// It imports no project package: it drives bin/bloomd and bin/bloomctl
// and reads `bloomctl -o json` as a user's script would, so it tests the
// binaries and their JSON, not the code behind them.
//
//	make soak                                  (go run ./scripts/soak)
//	go run ./scripts/soak -nodes 12 -steps 400 -seed 7 -out /tmp/soak
//	go test ./scripts/soak -run TestChaos -v   (4 nodes, one crash; part of make test)
//	go test ./scripts/soak -run TestRollout -v (3 nodes, bloomctl rollout; part of make test)
//
// The soak trains the same job twice on the same cluster: first
// uninterrupted (the reference), then through the failures. As root with
// iproute2 it puts the last node in a network namespace of its own, joined
// by a veth pair whose root end carries the other nodes' addresses
// (10.213.K.1..N-1), so that downing the namespace end partitions that
// node; the pair and namespace go on exit and on Ctrl-C. Otherwise the
// nodes bind 127.0.0.1..N and partitions are skipped, with a message.
//
// A chaos action is one entry of the actions table (chaos.go); the soak
// draws its failures from the kinds named by -actions.
package main
