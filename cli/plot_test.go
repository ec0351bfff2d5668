package cli

import (
	"encoding/xml"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlot: two train --local runs' TensorBoard directories drawn as a
// PNG (Go's own PNG decoder reads it: 8×4 inches) and as the seed's
// comparison figure in SVG (an XML reader reads it: both curves' legend
// and the relative-error panel).
func TestPlot(t *testing.T) {
	dir := t.TempDir()
	var runs []string
	for _, seed := range []string{"1", "2"} {
		tb := filepath.Join(dir, "run"+seed)
		if _, err := run(t, "train", "--local", "--model-preset", "bloom-tiny", "--train-iters", "6", "--seq-length", "16",
			"--micro-batch-size", "2", "--global-batch-size", "2", "--seed", seed, "--tensorboard-dir", tb); err != nil {
			t.Fatal(err)
		}
		runs = append(runs, tb)
	}
	pngFile := filepath.Join(dir, "loss.png")
	if out, err := run(t, append([]string{"plot", "--out", pngFile}, runs...)...); err != nil || !strings.Contains(out, "wrote") {
		t.Fatalf("%v: %s", err, out)
	}
	f, err := os.Open(pngFile)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil || img.Bounds().Dx() != 2*img.Bounds().Dy() {
		t.Fatalf("PNG: %v %v", err, img)
	}
	svgFile := filepath.Join(dir, "compare.svg")
	if _, err := run(t, append([]string{"plot", "--compare", "--out", svgFile}, runs...)...); err != nil {
		t.Fatal(err)
	}
	f, err = os.Open(svgFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := xml.NewDecoder(f)
	var text strings.Builder
	root := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG: %v", err)
		}
		switch x := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = x.Name.Local
			}
		case xml.CharData:
			text.Write(x)
		}
	}
	for _, want := range []string{runs[0], runs[1], "relative error"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("the SVG's text lacks %q", want)
		}
	}
	if root != "svg" {
		t.Errorf("SVG root element %q", root)
	}
	if _, err := run(t, "plot", "--compare", "--out", svgFile, runs[0]); err == nil {
		t.Error("--compare with one source")
	}
}
