package trainer

import "testing"

func TestLayoutMegatronOrder(t *testing.T) {
	// rank = pp·DP·TP + dp·TP + tp for TP=2, DP=2, PP=2.
	l := Layout{TP: 2, PP: 2, DP: 2}
	want := []Coords{{0, 0, 0}, {1, 0, 0}, {0, 1, 0}, {1, 1, 0}, {0, 0, 1}, {1, 0, 1}, {0, 1, 1}, {1, 1, 1}}
	for r, w := range want {
		if got := l.Coords(r); got != w {
			t.Errorf("rank %d: %+v, want %+v", r, got, w)
		}
	}
}

func TestLayoutCoordsInvert(t *testing.T) {
	for _, l := range []Layout{{1, 1, 1}, {2, 3, 1}, {4, 1, 3}, {2, 2, 2}, {1, 4, 2}, {8, 12, 1}} {
		seen := map[Coords]bool{}
		for r := range l.World() {
			c := l.Coords(r)
			if c.TP >= l.TP || c.DP >= l.DP || c.PP >= l.PP || seen[c] || l.Rank(c) != r {
				t.Errorf("%+v: rank %d at %+v (rank back %d)", l, r, c, l.Rank(c))
			}
			seen[c] = true
		}
	}
}
