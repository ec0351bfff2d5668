package supervisor

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"

	"bloom/api"
	"bloom/ckpt"
)

// Committing a checkpoint (DESIGN.md §9): the scheduler (daemon/sched)
// merges the ranks' views of a step's manifest and orders every node
// holding shards to write it; the supervisor writes it here and acks in its
// next report.

// writeManifest makes an order durable on this node: the manifest's bytes,
// checked against their hash, written atomically into the checkpoint dir,
// and read back as a valid manifest (else removed: not committed).
func writeManifest(o api.ManifestOrder) error {
	sum := sha256.Sum256(o.Manifest)
	if hex.EncodeToString(sum[:]) != o.SHA256 {
		return errors.New("supervisor: manifest does not match its checksum")
	}
	path := filepath.Join(o.Dir, ckpt.ManifestName)
	err := ckpt.WriteAtomic(path, func(w io.Writer) error {
		_, err := w.Write(o.Manifest)
		return err
	})
	if err != nil {
		return err
	}
	if _, err := ckpt.ReadManifest(o.Dir); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}
