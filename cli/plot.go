package cli

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	ucli "github.com/urfave/cli/v2"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	_ "gonum.org/v1/plot/vg/vgimg" // PNG
	_ "gonum.org/v1/plot/vg/vgsvg" // SVG

	"bloom/trainer/tensorboard"
)

func plotCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "plot",
		Args:  true,
		Usage: "draw loss curves of jobs or TensorBoard runs to PNG or SVG; --compare draws the seed's figure: two runs step by step and their relative error",
		UsageText: "bloomctl plot [--out loss.png] [--tag TAG] SOURCE...\n" +
			"   bloomctl plot --compare --out compare.svg JOB_OR_DIR JOB_OR_DIR\n" +
			"   SOURCE: a job id (its history, from the cluster), or a TensorBoard directory or event file",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "out", Value: "loss.png", Usage: "the image `FILE`: .png or .svg"},
			&ucli.StringFlag{Name: "tag", Value: tensorboard.TagLMLoss, Usage: "the TensorBoard scalar to draw (a job's history draws its lm loss)"},
			&ucli.BoolFlag{Name: "compare", Usage: "two sources: their curves, and below them |a−b|/|b| at each step both have (the seed's comparison figure)"},
			&ucli.StringFlag{Name: "title", Usage: "the figure's title (default: the sources)"},
		},
		Action: func(c *ucli.Context) error {
			srcs := c.Args().Slice()
			if len(srcs) == 0 {
				return fmt.Errorf("give one or more jobs or TensorBoard directories to plot (bloomctl plot --help)")
			}
			if c.Bool("compare") && len(srcs) != 2 {
				return fmt.Errorf("--compare takes two sources, got %d", len(srcs))
			}
			out := c.String("out")
			format := strings.TrimPrefix(strings.ToLower(filepath.Ext(out)), ".")
			if format != "png" && format != "svg" {
				return fmt.Errorf("--out %s: write a .png or an .svg", out)
			}
			var curves []curve
			for _, s := range srcs {
				cv, err := loadCurve(c, s, c.String("tag"))
				if err != nil {
					return err
				}
				curves = append(curves, cv)
			}
			title := c.String("title")
			if title == "" {
				title = strings.Join(srcs, " vs ")
			}
			if err := drawCurves(out, format, title, curves, c.Bool("compare")); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "wrote %s\n", out)
			return nil
		},
	}
}

// curve is one run's scalar by step.
type curve struct {
	name  string
	steps []int64
	vals  []float64
}

// loadCurve reads src: a TensorBoard directory or event file when it is a
// path, else a job's history from the cluster (the last attempt's value of
// a step wins: a resumed run redoes steps).
func loadCurve(c *ucli.Context, src, tag string) (curve, error) {
	by := map[int64]float64{}
	if st, err := os.Stat(src); err == nil {
		files := []string{src}
		if st.IsDir() {
			files, _ = filepath.Glob(filepath.Join(src, "events.out.tfevents.*"))
			sort.Strings(files) // the names start with the time they were created
		}
		if len(files) == 0 {
			return curve{}, fmt.Errorf("%s has no TensorBoard event files", src)
		}
		for _, f := range files {
			scalars, err := tensorboard.ReadScalars(f)
			if err != nil && !errors.Is(err, tensorboard.ErrTruncated) { // a live run's last record may be half written
				return curve{}, fmt.Errorf("%s: %w", f, err)
			}
			for _, s := range scalars {
				if s.Tag == tag {
					by[s.Step] = float64(s.Value)
				}
			}
		}
	} else {
		h, err := fetchHistory(c, src)
		if err != nil {
			return curve{}, fmt.Errorf("%s is neither a file nor a job the cluster knows: %w", src, err)
		}
		for _, p := range h.Points {
			by[p.Step] = p.Loss
		}
	}
	if len(by) == 0 {
		return curve{}, fmt.Errorf("%s has no %q points", src, tag)
	}
	cv := curve{name: src}
	for s := range by {
		cv.steps = append(cv.steps, s)
	}
	sort.Slice(cv.steps, func(i, j int) bool { return cv.steps[i] < cv.steps[j] })
	for _, s := range cv.steps {
		cv.vals = append(cv.vals, by[s])
	}
	return cv, nil
}

// drawCurves writes the curves to file in format; with compare, a second
// panel below shows their relative error at the steps both have.
func drawCurves(file, format, title string, curves []curve, compare bool) error {
	top := plot.New()
	top.Title.Text = title
	top.X.Label.Text, top.Y.Label.Text = "step", "lm loss"
	top.Legend.Top = true
	for i, cv := range curves {
		l, err := plotter.NewLine(xys(cv.steps, cv.vals))
		if err != nil {
			return err
		}
		l.Color, l.Dashes = plotutil.Color(i), plotutil.Dashes(i)
		l.Width = vg.Points(1.2)
		top.Add(l)
		top.Legend.Add(cv.name, l)
	}
	top.Add(plotter.NewGrid())
	rows := [][]*plot.Plot{{top}}
	height := 4 * vg.Inch
	if compare {
		a, b := curves[0], curves[1]
		at := map[int64]float64{}
		for i, s := range b.steps {
			at[s] = b.vals[i]
		}
		var steps []int64
		var rel []float64
		for i, s := range a.steps {
			if bv, ok := at[s]; ok && bv != 0 {
				steps, rel = append(steps, s), append(rel, math.Abs(a.vals[i]-bv)/math.Abs(bv))
			}
		}
		if len(steps) == 0 {
			return fmt.Errorf("%s and %s have no step in common", a.name, b.name)
		}
		bottom := plot.New()
		bottom.X.Label.Text, bottom.Y.Label.Text = "step", "relative error |a−b|/|b|"
		l, err := plotter.NewLine(xys(steps, rel))
		if err != nil {
			return err
		}
		l.Color = plotutil.Color(2)
		bottom.Add(l, plotter.NewGrid())
		rows = append(rows, []*plot.Plot{bottom})
		height = 6 * vg.Inch
	}
	cw, err := draw.NewFormattedCanvas(8*vg.Inch, height, format)
	if err != nil {
		return err
	}
	tiles := draw.Tiles{Rows: len(rows), Cols: 1, PadY: vg.Points(8)}
	canvases := plot.Align(rows, tiles, draw.New(cw))
	for i, r := range rows {
		r[0].Draw(canvases[i][0])
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := cw.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func xys(steps []int64, vals []float64) plotter.XYs {
	pts := make(plotter.XYs, len(steps))
	for i := range steps {
		pts[i].X, pts[i].Y = float64(steps[i]), vals[i]
	}
	return pts
}
