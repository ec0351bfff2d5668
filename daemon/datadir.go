package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"bloom/daemon/identity"
)

// Sentinels for a data dir that cannot be used.
var (
	ErrForeignDataDir = errors.New("daemon: data dir belongs to another cluster")
	ErrDataDirInUse   = errors.New("daemon: data dir in use")
	ErrCorruptStore   = errors.New("daemon: raft store unreadable")
)

// nodeFile is DataDir/node.json: who this data dir belongs to.
type nodeFile struct {
	Name string `json:"name"`
	// Secret is the cluster secret's fingerprint.
	Secret string `json:"secret"`
	// Cluster is the cluster id, once known.
	Cluster string `json:"cluster,omitempty"`
}

// dataDir is an opened, locked data dir.
type dataDir struct {
	path   string
	unlock func() error
	node   nodeFile
}

func (d *dataDir) raftDB() string  { return filepath.Join(d.path, "raft", "raft.db") }
func (d *dataDir) snapDir() string { return filepath.Join(d.path, "raft") }

// openDataDir creates or opens the data dir, locks it against a second
// bloomd, and checks it belongs to this node name and cluster secret.
func openDataDir(path, name string, s identity.Secret) (*dataDir, error) {
	if err := os.MkdirAll(filepath.Join(path, "raft"), 0o700); err != nil {
		return nil, fmt.Errorf("daemon: data dir: %w", err)
	}
	unlock, err := lockFile(filepath.Join(path, "LOCK"))
	if err != nil {
		return nil, fmt.Errorf("%w: %s is locked by another bloomd (%v): give each node its own --data-dir", ErrDataDirInUse, path, err)
	}
	d := &dataDir{path: path, unlock: unlock}
	if err := d.check(name, s); err != nil {
		unlock()
		return nil, err
	}
	return d, nil
}

func (d *dataDir) check(name string, s identity.Secret) error {
	b, err := os.ReadFile(filepath.Join(d.path, "node.json"))
	switch {
	case errors.Is(err, os.ErrNotExist):
		if _, err := os.Stat(d.raftDB()); err == nil {
			return fmt.Errorf("%w: %s has a raft store but no node.json: it was not made by bloomd, or node.json was lost; use a fresh --data-dir", ErrForeignDataDir, d.path)
		}
		d.node = nodeFile{Name: name, Secret: s.Fingerprint()}
		return d.save()
	case err != nil:
		return fmt.Errorf("daemon: data dir: %w", err)
	}
	if err := json.Unmarshal(b, &d.node); err != nil {
		return fmt.Errorf("%w: %s/node.json: %v", ErrCorruptStore, d.path, err)
	}
	if d.node.Secret != s.Fingerprint() {
		return fmt.Errorf("%w: %s was made with another cluster secret (cluster %q): use that cluster's secret file, or a fresh --data-dir to join this cluster",
			ErrForeignDataDir, d.path, d.node.Cluster)
	}
	if d.node.Name != name {
		return fmt.Errorf("%w: %s belongs to node %q, not %q: restart with --name %s, or use a fresh --data-dir",
			ErrForeignDataDir, d.path, d.node.Name, name, d.node.Name)
	}
	return nil
}

// setCluster records the cluster id, once.
func (d *dataDir) setCluster(id string) error {
	if d.node.Cluster == id {
		return nil
	}
	if d.node.Cluster != "" {
		return fmt.Errorf("%w: %s belongs to cluster %s, not %s", ErrForeignDataDir, d.path, d.node.Cluster, id)
	}
	d.node.Cluster = id
	return d.save()
}

// save writes node.json atomically.
func (d *dataDir) save() error {
	b, err := json.MarshalIndent(d.node, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(d.path, "node.json.tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("daemon: write node.json: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(d.path, "node.json"))
	}
	if err != nil {
		return fmt.Errorf("daemon: write node.json: %w", err)
	}
	return nil
}

func (d *dataDir) close() error { return d.unlock() }

// peersFile is DataDir/peers.json: the gossip addresses of the other
// nodes, last seen alive, so a restarted bloomd rejoins gossip even when it
// was started without --peers (Consul's rejoin from its serf snapshot).
func (d *dataDir) peersFile() string { return filepath.Join(d.path, "peers.json") }

// savePeers records addrs, atomically.
func (d *dataDir) savePeers(addrs []string) error {
	b, err := json.Marshal(addrs)
	if err != nil {
		return err
	}
	tmp := d.peersFile() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, d.peersFile())
}

// loadPeers returns the recorded addresses (none when there is no record).
func (d *dataDir) loadPeers() []string {
	var addrs []string
	if b, err := os.ReadFile(d.peersFile()); err == nil {
		json.Unmarshal(b, &addrs)
	}
	return addrs
}
