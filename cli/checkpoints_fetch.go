package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"bloom/api"
	"bloom/ckpt"
)

func checkpointsFetchCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "fetch",
		Args:      true,
		Usage:     "download every file of a committed checkpoint from the nodes holding them into one directory",
		UsageText: "bloomctl checkpoints fetch ID [--step N] --out DIR",
		Description: `Each node keeps only the shards its ranks wrote and the copies it took, so a
pipeline- or tensor-parallel job's checkpoint is spread over the cluster. fetch
asks Raft's record which nodes hold each shard, downloads each from the first
one that answers (over the API, with the token or the secret), checks its size
and SHA-256 against the record, and writes the manifest last: DIR is then a
native checkpoint step directory that convert, generate, score and evaluate read
(--model DIR), and a --load for a new job. Files already in DIR that match are
kept; a download goes to a temporary name and is renamed once it checks out.
Progress goes to standard error.
  bloomctl checkpoints fetch job-1 --out step --step 200
  bloomctl convert --model step --out bloom-tuned`,
		Flags: []ucli.Flag{
			&ucli.Int64Flag{Name: "step", Usage: "the committed step `N` to fetch (0: the latest)"},
			&ucli.StringFlag{Name: "out", Usage: "the `DIR` to write the step's files to (created)"},
		},
		Action: func(c *ucli.Context) error {
			id, err := jobArg(c)
			if err != nil {
				return err
			}
			asJSON, err := outputJSON(c)
			if err != nil {
				return err
			}
			if c.String("out") == "" {
				return errors.New("--out DIR is required: where to write the checkpoint's files")
			}
			sum, err := fetchCheckpoint(c, id, c.Int64("step"), c.String("out"))
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(c.App.Writer, sum)
			}
			_, err = fmt.Fprintf(c.App.Writer, "fetched step %d of job %s into %s: %d files, %d bytes (bloomctl convert --model %s --out HF_DIR makes a Hugging Face model of it)\n",
				sum.Step, sum.Job, sum.Out, len(sum.Files), sum.Bytes, sum.Out)
			return err
		},
	}
}

// fetchSummary is what `checkpoints fetch -o json` prints.
type fetchSummary struct {
	Job   string        `json:"job"`
	Step  int64         `json:"step"`
	Out   string        `json:"out"`
	Bytes int64         `json:"bytes"`
	Files []fetchedFile `json:"files"`
}

type fetchedFile struct {
	Name   string `json:"name"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
	From   string `json:"from"` // the node it came from, or "" when DIR had it already
}

// fetchCheckpoint downloads step (0: the latest) of job id into out.
func fetchCheckpoint(c *ucli.Context, id string, step int64, out string) (*fetchSummary, error) {
	cl, err := ctlClient(c)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(c.Context, queryTimeout)
	list, err := cl.Checkpoints(ctx, id)
	var members *api.MembersResponse
	if err == nil {
		members, err = cl.Members(ctx)
	}
	cancel()
	if err != nil {
		return nil, err
	}
	k, err := pickCheckpoint(list, step)
	if err != nil {
		return nil, err
	}
	files, err := fetchList(id, k)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("--out: %w", err)
	}
	f := &fetcher{c: c, job: id, step: k.Step, out: out, apis: map[string]string{}, clients: map[string]*api.Client{}}
	defer f.close()
	for _, m := range members.Members {
		if m.State == api.StateAlive && m.API != "" {
			f.apis[m.Name] = m.API
		}
	}
	sum := &fetchSummary{Job: id, Step: k.Step, Out: out}
	for _, file := range files {
		got, err := f.fetch(file)
		if err != nil {
			return nil, err
		}
		sum.Files = append(sum.Files, got)
		sum.Bytes += got.Bytes
	}
	return sum, nil
}

// pickCheckpoint is the checkpoint at step, or the latest when step is 0.
func pickCheckpoint(list *api.CheckpointList, step int64) (api.Checkpoint, error) {
	if len(list.Checkpoints) == 0 {
		return api.Checkpoint{}, fmt.Errorf("job %s has no committed checkpoint", list.Job)
	}
	if step == 0 {
		return slices.MaxFunc(list.Checkpoints, func(a, b api.Checkpoint) int { return int(a.Step - b.Step) }), nil
	}
	var have []string
	for _, k := range list.Checkpoints {
		if k.Step == step {
			return k, nil
		}
		have = append(have, fmt.Sprint(k.Step))
	}
	return api.Checkpoint{}, fmt.Errorf("job %s has no committed checkpoint at step %d: --step one of %s", list.Job, step, strings.Join(have, ", "))
}

// fetchList is the checkpoint's files in the order to fetch them: the
// shards, then the manifest (its presence marks the directory committed),
// which every holder of a shard has (Bytes -1: the record gives no size).
func fetchList(id string, k api.Checkpoint) ([]api.CheckpointFile, error) {
	var holders []string
	for _, f := range k.Files {
		if len(f.Nodes) == 0 {
			break
		}
		for _, n := range f.Nodes {
			if !slices.Contains(holders, n) {
				holders = append(holders, n)
			}
		}
	}
	if len(k.Files) == 0 || len(holders) == 0 || slices.ContainsFunc(k.Files, func(f api.CheckpointFile) bool { return len(f.Nodes) == 0 }) {
		return nil, fmt.Errorf("job %s's checkpoint at step %d was committed without recording where its files are: copy %s from the nodes that ran the job", id, k.Step, k.Dir)
	}
	return append(slices.Clone(k.Files), api.CheckpointFile{Name: ckpt.ManifestName, SHA256: k.Manifest, Bytes: -1, Nodes: holders}), nil
}

// fetcher downloads a checkpoint's files into out, one client per node.
type fetcher struct {
	c       *ucli.Context
	job     string
	step    int64
	out     string
	apis    map[string]string // alive node → API address
	clients map[string]*api.Client
}

func (f *fetcher) close() {
	for _, cl := range f.clients {
		cl.Close()
	}
}

// fetch brings file into out from the first of its holders that serves a
// copy matching the record, unless out has one already.
func (f *fetcher) fetch(file api.CheckpointFile) (fetchedFile, error) {
	dst := filepath.Join(f.out, file.Name)
	if file.Name != filepath.Base(file.Name) || file.Name == "." || file.Name == ".." {
		return fetchedFile{}, fmt.Errorf("the record names %q, which is not a file name", file.Name)
	}
	if n, err := checkFile(dst, file); err == nil {
		fmt.Fprintf(f.c.App.ErrWriter, "%s: %d bytes, already in %s\n", file.Name, n, f.out)
		return fetchedFile{Name: file.Name, Bytes: n, SHA256: file.SHA256}, nil
	}
	var why []string
	for _, node := range file.Nodes {
		n, err := f.fetchFrom(node, file, dst)
		if err == nil {
			return fetchedFile{Name: file.Name, Bytes: n, SHA256: file.SHA256, From: node}, nil
		}
		if err := f.c.Context.Err(); err != nil {
			return fetchedFile{}, err
		}
		why = append(why, fmt.Sprintf("%s: %v", node, err))
	}
	return fetchedFile{}, fmt.Errorf("no node gave a good copy of %s (held by %s): %s", file.Name, strings.Join(file.Nodes, ", "), strings.Join(why, "; "))
}

// fetchFrom downloads file from node to a temporary name beside dst,
// checks it and renames it to dst; it returns the size.
func (f *fetcher) fetchFrom(node string, file api.CheckpointFile, dst string) (int64, error) {
	addr := f.apis[node]
	if addr == "" {
		return 0, errors.New("not an alive member with an API address")
	}
	cl := f.clients[node]
	if cl == nil {
		var err error
		if cl, err = ctlClientAt(f.c, addr); err != nil {
			return 0, err
		}
		f.clients[node] = cl
	}
	body, err := cl.CheckpointFile(f.c.Context, f.job, f.step, file.Name)
	if err != nil {
		return 0, err
	}
	defer body.Close()
	tmp, err := os.CreateTemp(f.out, "."+file.Name+".fetch-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	h := sha256.New()
	p := &progress{w: f.c.App.ErrWriter, name: file.Name, node: node, total: file.Bytes}
	n, err := io.Copy(io.MultiWriter(tmp, h, p), body)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	if file.Bytes >= 0 && n != file.Bytes {
		return 0, fmt.Errorf("sent %d bytes of %s, the record says %d", n, file.Name, file.Bytes)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != file.SHA256 {
		return 0, fmt.Errorf("its copy of %s has SHA-256 %.12s, the record says %.12s", file.Name, got, file.SHA256)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return 0, err
	}
	p.done()
	return n, nil
}

// checkFile reports the size of path when its size and SHA-256 match
// file's record.
func checkFile(path string, file api.CheckpointFile) (int64, error) {
	fd, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer fd.Close()
	h := sha256.New()
	n, err := io.Copy(h, fd)
	if err != nil {
		return 0, err
	}
	if (file.Bytes >= 0 && n != file.Bytes) || hex.EncodeToString(h.Sum(nil)) != file.SHA256 {
		return 0, errors.New("differs from the record")
	}
	return n, nil
}

// progress prints a download's bytes as they arrive: a line at every
// tenth of a file of 64 MiB or more, and one when it is done.
type progress struct {
	w          io.Writer
	name, node string
	total, n   int64
	next       int64
}

func (p *progress) Write(b []byte) (int, error) {
	p.n += int64(len(b))
	if p.total >= 64<<20 && p.n < p.total && p.n >= p.next {
		fmt.Fprintf(p.w, "%s: %d of %d bytes from %s\n", p.name, p.n, p.total, p.node)
		p.next = p.n + max(p.total/10, 1)
	}
	return len(b), nil
}

func (p *progress) done() {
	fmt.Fprintf(p.w, "%s: %d bytes from %s, SHA-256 checked\n", p.name, p.n, p.node)
}
