package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"bloom/ckpt"
	"bloom/daemon/coord"
)

// handleCheckpointFile streams one file of a committed checkpoint from
// this node's copy: a shard Raft lists for (job, step), or the step's
// manifest. Any other name is refused, so the endpoint reads nothing but
// the checkpoint's own files under the job's checkpoint root as this node
// resolves it. The client checks size and SHA-256 against the record
// (bloomctl checkpoints fetch).
func (d *Daemon) handleCheckpointFile(w http.ResponseWriter, r *http.Request) {
	id, name := r.PathValue("id"), r.PathValue("name")
	step, err := strconv.ParseInt(r.PathValue("step"), 10, 64)
	if err != nil || step < 0 {
		writeError(w, http.StatusBadRequest, fmt.Errorf("step %q is not a step number", r.PathValue("step")))
		return
	}
	path, code, err := d.checkpointFilePath(id, step, name)
	if err != nil {
		writeError(w, code, err)
		return
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		writeError(w, http.StatusNotFound, fmt.Errorf("node %s holds no copy of %s of job %s step %d: ask a node that holds it (bloomctl checkpoints %s)", d.cfg.Name, name, id, step, id))
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		writeError(w, http.StatusInternalServerError, fmt.Errorf("%s is not a readable file: %v", path, err))
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, name, fi.ModTime(), f)
}

// checkpointFilePath is where this node keeps file name of job id's
// committed checkpoint at step, with the HTTP status of the error when the
// name is not one of that checkpoint's files.
func (d *Daemon) checkpointFilePath(id string, step int64, name string) (string, int, error) {
	job, ok := d.State().Jobs[id]
	if !ok {
		return "", http.StatusNotFound, fmt.Errorf("no job %q", id)
	}
	i := slices.IndexFunc(job.Checkpoints, func(c coord.Checkpoint) bool { return c.Step == step })
	if i < 0 {
		return "", http.StatusNotFound, fmt.Errorf("job %s has no committed checkpoint at step %d (bloomctl checkpoints %s lists them)", id, step, id)
	}
	known := name == ckpt.ManifestName || slices.ContainsFunc(job.Checkpoints[i].Files, func(f coord.CheckpointFile) bool { return f.Name == name })
	if !known || name != filepath.Base(name) {
		return "", http.StatusNotFound, fmt.Errorf("%q is not a file of job %s's checkpoint at step %d", name, id, step)
	}
	root := d.jobRoot(job)
	if root == "" {
		return "", http.StatusInternalServerError, fmt.Errorf("job %s's spec gives no checkpoint root on %s", id, d.cfg.Name)
	}
	return filepath.Join(stepIn(root, step), name), 0, nil
}
