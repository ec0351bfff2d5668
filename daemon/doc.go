// Package daemon is bloomd's composition root: it wires gossip
// (membership), Raft (hashicorp/raft on raft-boltdb/v2 and file snapshots
// in the data dir, the state machine of daemon/coord), the cluster's TLS
// identities, and the HTTPS API of package api into one Daemon.
//
// It owns:
//   - the node's identity, from package daemon/identity (the gossip key,
//     the cluster CA derived from the secret, the bearer token);
//   - the data dir (node.json records the node name, the secret's
//     fingerprint and the cluster id; a flock keeps a second bloomd out);
//   - one TLS port for the API and Raft, told apart by ALPN (mux.go);
//   - bootstrap once when --bootstrap-expect servers agree (bootstrap.go);
//   - the leader's autopilot: add non-voters, promote healthy ones up to
//     five voters, replace dead voters (autopilot.go); a new leader calls
//     Barrier before acting; leadership is handed over before a leader stops;
//   - /metrics in the Prometheus text format, written by hand;
//   - jobs: specs (package daemon/jobspec) checked against the devices
//     gossip reports at submission (job_api.go); the coordinator's adapter
//     (job_coord.go), which feeds the scheduler of package daemon/sched the
//     nodes' reports, the committed state, gossip's view and the time, and
//     applies through Raft and logs what it decides (placement, restarts,
//     shrink and grow back, drain, checkpoint commits);
//   - the transfer service of package daemon/xfer, which serves this node's
//     checkpoint files to the others (transfer.go); a checkpoint is named
//     by (job, step), and this node resolves the step's directory under its
//     own root (job.go: jobPaths), where its logs live too;
//   - the API's side of the workers: their logs (job_logs.go) and the
//     rendezvous lookups of other nodes (job_api.go), read from the
//     supervisor;
//   - copies of the rank logs: each node sends the new bytes of its ranks'
//     logs to the next live node by name (logship.go), which keeps them
//     bounded beside its own (logcopy.go), so the logs endpoint can answer
//     for a node that is gone (logcopy_http.go);
//   - checkpoint retention: the entries that retire checkpoints in Raft are
//     seen by the state machine's hook, and this node deletes the step
//     directories it holds (retention.go); a committed step's files are
//     served to bloomctl checkpoints fetch (ckpt_files.go);
//   - the Raft log store's health: its appends' outcome is kept and put in
//     gossip, and status names a node whose log refuses appends (raftlog.go);
//   - what the user token may reach: node-only endpoints take a cluster
//     certificate (apiserver.go: nodeOnly), a job's paths stay under the
//     node's --job-roots, and a job must fit the memory the nodes offer one
//     device (job_api.go: admit, fits).
//
// The supervisor (package daemon/supervisor: one `bloomd worker` child
// process per assigned device, its progress, logs and failure, the
// manifests it writes, checkpoint replication) and the coordinator hold
// no pointer to the Daemon or to each other: each gets plain values and
// function values for what it asks of the node (supervisor.Env, newJobs);
// the Daemon wires them (job.go).
//
// It imports its own parts (daemon/coord, identity, jobspec, sched,
// supervisor, xfer), membership, api and ckpt; never cli or cmd, and not
// daemon/worker, the trainer, the devices or the collective, which only the
// supervisor's protocol and the worker process use.
//
// Usage:
//
//	cfg := daemon.DefaultConfig()
//	cfg.Name, cfg.DataDir, cfg.Secret = "n1", "/var/lib/bloomd", secret
//	cfg.Bind, cfg.API, cfg.BootstrapExpect = "10.0.0.1:7946", "10.0.0.1:7950", 3
//	cfg.Peers = []string{"10.0.0.2:7946"}
//	d, err := daemon.Start(cfg)
//	defer d.Stop() // leadership transfer, gossip leave, shutdown
package daemon
