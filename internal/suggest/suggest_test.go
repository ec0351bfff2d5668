package suggest

import "testing"

func TestNearest(t *testing.T) {
	names := []string{"output", "threads", "micro-batch-size", "seq-length"}
	for _, c := range []struct{ in, want string }{
		{"ouptut", "output"}, {"micro-batch", "micro-batch-size"}, {"seq-lenght", "seq-length"}, {"zzzzzz", ""}, {"x", ""},
	} {
		if got := Nearest(c.in, names); got != c.want {
			t.Errorf("Nearest(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if d := Distance("kitten", "sitting"); d != 3 {
		t.Errorf("Distance(kitten, sitting) = %d", d)
	}
	if d := Distance("jbo", "job"); d != 1 { // a swap of neighbours is one edit
		t.Errorf("Distance(jbo, job) = %d", d)
	}
}
