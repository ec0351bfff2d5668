// Package identity is a bloom cluster's identity, all of it derived from one
// 32-byte cluster secret (Secret; `bloomd keygen` writes one):
//
//   - the gossip encryption key (Secret.GossipKey);
//   - a cluster CA whose Ed25519 key is derived from the secret, so every
//     node issues its own certificate under it (New): anyone with the
//     secret is in, anyone without is refused, and no CA file is shipped;
//   - mutual-TLS configurations for the API, Raft (told apart by ALPN on one
//     port: ALPNRaft, ALPNHTTP) and checkpoint transfer (Identity.ServerTLS,
//     ClientTLS);
//   - the bearer token bloomctl may present instead of a certificate
//     (Secret.Token, TokenClientTLS pins the cluster CA it names;
//     TokenEqual compares in constant time);
//   - the secret's fingerprint, recorded in a node's data dir.
//
// It is pure crypto and parsing: it must not import anything of the
// project, nor do network I/O; it reads only a secret file (LoadSecret).
//
// Usage:
//
//	s, err := identity.LoadSecret("cluster.secret")
//	id, err := identity.New(s, "n1")
//	ln := tls.NewListener(raw, id.ServerTLS())
//	conf := id.ClientTLS(identity.ALPNHTTP)
package identity
