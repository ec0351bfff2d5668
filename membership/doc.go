// Package membership is bloom's gossip layer: a thin wrapper over
// hashicorp/memberlist that says which nodes are alive, suspect, dead or
// left, and what each one advertises (NodeMeta: name, API/raft/QUIC
// addresses, devices, version, cluster id).
//
// It owns the memberlist configuration (timings tuned so a dead node among 12
// is declared within ~6 s on a LAN; see DefaultConfig for the arithmetic),
// the metadata encoding (≤ 512 bytes, memberlist's limit) and the list of
// members including the dead and left ones memberlist itself forgets.
// Gossip is encrypted (AES-256-GCM) with a key the caller derives from the
// cluster secret; a node without it can neither join nor be joined.
//
// It must not import anything of the project: the daemon wires it to Raft.
//
// Usage:
//
//	cfg := membership.DefaultConfig()
//	cfg.Name, cfg.BindAddr, cfg.BindPort, cfg.Key = "n1", "127.0.0.1", 7946, key
//	cfg.Meta = membership.NodeMeta{API: "127.0.0.1:8080", Devices: "cpu:4"}
//	m, err := membership.New(cfg)
//	n, err := m.Join([]string{"127.0.0.2:7946"})
//	for range m.Changed() { fmt.Println(m.Members()) }
//	m.Leave(time.Second); m.Shutdown()
package membership
