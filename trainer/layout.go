package trainer

// Layout is a parallel job's shape, TP·PP·DP ranks, numbered as Megatron
// and torchrun number them: rank = pp·(DP·TP) + dp·TP + tp. Tensor
// parallelism is innermost (a tensor-parallel group is TP consecutive
// ranks, kept inside a node), data-parallel replicas next, pipeline stages
// outermost. It is the one home of that arithmetic: the trainer's groups
// and links, the daemon's placement and the CLI's job view all use it.
type Layout struct {
	TP int // --tensor-model-parallel-size
	PP int // --pipeline-model-parallel-size
	DP int // data-parallel replicas: world size / (TP·PP)
}

// Coords is a rank's place in a Layout: its tensor-parallel rank,
// data-parallel replica and pipeline stage.
type Coords struct{ TP, DP, PP int }

// World is the number of ranks: TP·PP·DP.
func (l Layout) World() int { return l.TP * l.PP * l.DP }

// Coords is the place of rank. The sizes must be at least 1.
func (l Layout) Coords(rank int) Coords {
	return Coords{TP: rank % l.TP, DP: rank / l.TP % l.DP, PP: rank / (l.DP * l.TP)}
}

// Rank is the rank at c, the inverse of Coords.
func (l Layout) Rank(c Coords) int { return c.PP*l.DP*l.TP + c.DP*l.TP + c.TP }
