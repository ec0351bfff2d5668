package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	ucli "github.com/urfave/cli/v2"

	"bloom/daemon/jobspec"
	"bloom/trainer/memplan"
)

func planCommand() *ucli.Command {
	flags := []ucli.Flag{
		&ucli.StringFlag{Name: "config", Usage: "a BLOOM config.json `FILE` for the model's shape (instead of --model-preset)"},
		&ucli.IntFlag{Name: "devices-per-node", Value: 8, Usage: "devices (ranks) per node, for the total per node"},
		&ucli.StringFlag{Name: "device-memory", Usage: "one device's memory, e.g. 64GiB: stages whose ranks need more are marked, and the command fails"},
		&ucli.StringFlag{Name: "device-kind", Value: "cpu", Usage: "the devices the ranks run on, cpu or npu (as bloomd --devices names them): an inference rank on cpu also keeps its matrices packed for its products (not with --no-pack-weights), on npu once"},
	}
	return &ucli.Command{
		Name:      "plan",
		Args:      true,
		Usage:     "the memory each rank of a job needs, before it runs (no cluster needed)",
		UsageText: "bloomctl plan [--devices-per-node 8] [--device-memory 64GiB] [Megatron flags of submit pretrain...] [job.yaml]",
		Description: `Takes a job as bloomctl submit does, a job file or the flags of submit pretrain
(flags given before a file override it; with flags alone the run's length may be
left out, as it changes nothing here), and prints per pipeline stage what one
rank of it holds: its layers and parameters, then in GiB its weights, gradients,
AdamW state, activations and the total. Every tensor-parallel rank of a stage and every data-parallel replica
needs the same. Below come the total of each node (--devices-per-node ranks,
tensor-parallel ranks innermost, as the cluster places them) and a summary;
--output json gives the whole plan in bytes.

The numbers are estimates (trainer/memplan's package doc has the formulas):
parameters exactly as bloom lays them out (embedding on the first stage, ln_f and
the tied head's copy on the last, every tensor cut to its tensor-parallel piece);
4 bytes each for the weights (fp32 master weights at every precision; an inference
job on --device-kind cpu adds the copy of its matrices packed for its products, in
the products' type, unless --no-pack-weights) and the
gradients, 8 for AdamW's moments, for the parameters that train (under LoRA the
adapters only); activations from Megatron's formulas (Korthikanti et al. 2022:
s·b·h·(10 + 24/t + 5·a·s/(h·t)) a layer, 2·s·b·h with --checkpoint-activations)
stored in fp32 as bloom stores them, kept for PP−i micro-batches on stage i
(1F1B), plus the fp32 logits on the last stage. Scratch memory, the runtime's
own and the device's reserve are not counted: leave room for them.`,
		Flags: append(flags, specFlags(nil)...),
		Action: func(c *ucli.Context) error {
			spec, err := planSpec(c)
			if err != nil {
				return err
			}
			p, err := spec.MemoryPlanOn(c.String("device-kind"))
			if err != nil {
				return err
			}
			return printPlan(c, &spec, p)
		},
	}
}

// planSpec is the job of plan's arguments: a job file and the flags over
// it, checked as submit checks it but for the run's length, which changes
// nothing here.
func planSpec(c *ucli.Context) (jobspec.Spec, error) {
	jf := jobspec.File{Spec: jobspec.Default()}
	switch c.NArg() {
	case 0:
	case 1:
		var err error
		if jf, err = jobspec.LoadFile(c.Args().First()); err != nil {
			return jf.Spec, err
		}
	default:
		return jf.Spec, fmt.Errorf("give at most one job file, got %v; every other setting is a --flag", c.Args().Slice())
	}
	if p := c.String("config"); p != "" {
		if err := jf.Spec.SetConfigFile(p); err != nil {
			return jf.Spec, err
		}
	}
	if err := setSpec(c, &jf.Spec); err != nil {
		return jf.Spec, err
	}
	check := jf.Spec
	if !check.Inference() && check.TrainIters == 0 && check.TrainSamples == 0 {
		check.TrainIters = 1
	}
	return jf.Spec, check.Validate()
}

// planOutput is plan's --output json: the plan with the node totals.
type planOutput struct {
	memplan.Plan
	DevicesPerNode int         `json:"devices_per_node"`
	Nodes          []nodeTotal `json:"nodes"`
	DeviceMemory   int64       `json:"device_memory,omitempty"`
	TooBig         []int       `json:"stages_over_device_memory,omitempty"`
}

// nodeTotal is one node's ranks [FirstRank, LastRank] and their bytes.
type nodeTotal struct {
	Node      int   `json:"node"`
	FirstRank int   `json:"first_rank"`
	LastRank  int   `json:"last_rank"`
	Stages    []int `json:"stages"`
	Total     int64 `json:"total"`
}

// nodeTotals adds up each node's ranks, perNode consecutive ranks a node.
func nodeTotals(p memplan.Plan, perNode int) []nodeTotal {
	var nodes []nodeTotal
	for first := 0; first < p.Ranks(); first += perNode {
		n := nodeTotal{Node: len(nodes), FirstRank: first, LastRank: min(first+perNode, p.Ranks()) - 1}
		for r := n.FirstRank; r <= n.LastRank; r++ {
			n.Total += p.PerRank(r).Total
			if st := r / (p.DP * p.TP); len(n.Stages) == 0 || n.Stages[len(n.Stages)-1] != st {
				n.Stages = append(n.Stages, st)
			}
		}
		nodes = append(nodes, n)
	}
	return nodes
}

func printPlan(c *ucli.Context, s *jobspec.Spec, p memplan.Plan) error {
	out := planOutput{Plan: p, DevicesPerNode: c.Int("devices-per-node")}
	if out.DevicesPerNode < 1 {
		return fmt.Errorf("--devices-per-node %d: want at least 1", out.DevicesPerNode)
	}
	if m := c.String("device-memory"); m != "" {
		v, err := parseByteSize(m, 1<<50)
		if err != nil || v == 0 {
			return fmt.Errorf("--device-memory: %q is not a memory size: want e.g. 64GiB", m)
		}
		out.DeviceMemory = v
	}
	out.Nodes = nodeTotals(p, out.DevicesPerNode)
	for _, st := range p.Stages {
		if out.DeviceMemory > 0 && st.Rank.Total > out.DeviceMemory {
			out.TooBig = append(out.TooBig, st.Stage)
		}
	}
	asJSON, err := outputJSON(c)
	if err != nil {
		return err
	}
	if asJSON {
		err = writeJSON(c.App.Writer, out)
	} else {
		err = planTable(c.App.Writer, s, out)
	}
	if err != nil || len(out.TooBig) == 0 {
		return err
	}
	return fmt.Errorf("the ranks of stage %s need more than --device-memory (%s GiB): raise --tensor-model-parallel-size or "+
		"--pipeline-model-parallel-size, lower --micro-batch-size, or add --checkpoint-activations", ints(out.TooBig), gib(out.DeviceMemory))
}

func planTable(w io.Writer, s *jobspec.Spec, out planOutput) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	head := "stage\tlayers\tparams\tweights\tgrads\toptimizer\tactivations\ttotal GiB\t"
	if out.DeviceMemory > 0 {
		head += "fits " + gib(out.DeviceMemory) + " GiB\t"
	}
	fmt.Fprintln(tw, head)
	for _, st := range out.Stages {
		b := st.Rank
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t", st.Stage, st.Layers, count(st.Params),
			gib(b.Weights), gib(b.Grads), gib(b.Optimizer), gib(b.Activations), gib(b.Total))
		switch {
		case out.DeviceMemory == 0:
		case b.Total > out.DeviceMemory:
			fmt.Fprint(tw, "NO\t")
		default:
			fmt.Fprint(tw, "yes\t")
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "node\tranks\tstages\ttotal GiB\t")
	for _, n := range out.Nodes {
		fmt.Fprintf(tw, "%d\t%d-%d\t%s\t%s\t\n", n.Node, n.FirstRank, n.LastRank, ints(n.Stages), gib(n.Total))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	big := out.Max()
	model := s.ModelPreset
	if model == "" {
		model = "the model"
	}
	fmt.Fprintf(w, "%s, TP %d × PP %d × DP %d = %d ranks on %s of %d devices, %s%s: the largest rank (stage %d) needs %s GiB; estimates from Megatron's formulas (bloomctl plan --help)\n",
		model, out.TP, out.PP, out.DP, out.Ranks(), plural(len(out.Nodes), "node"), out.DevicesPerNode, precisionName(s), recomputeName(s),
		big.Stage, gib(big.Rank.Total))
	return nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func gib(b int64) string { return fmt.Sprintf("%.2f", float64(b)/(1<<30)) }

// count writes a parameter count briefly: 884.3M, 2.30B.
func count(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	}
	return fmt.Sprint(n)
}

func ints(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ",")
}

func precisionName(s *jobspec.Spec) string {
	switch {
	case s.FP16:
		return "fp16"
	case s.BF16:
		return "bf16"
	}
	return "fp32"
}

func recomputeName(s *jobspec.Spec) string {
	if s.CheckpointActivations {
		return ", recomputation"
	}
	return ""
}
