package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"bloom/trainer"
	"bloom/trainer/tokenizer"
)

// shipTokenizer writes dir/tokenizer.json for a model directory: tok is a
// tokenizer.json path, trainer.ByteTokenizer (the byte-level tokenizer of
// the embedded corpus), or "" for none. It returns what it wrote, "" for
// nothing. A path that is not readable here is reported, not fatal: the
// model itself is written.
func shipTokenizer(w io.Writer, dir, tok string) string {
	dst := filepath.Join(dir, "tokenizer.json")
	var err error
	switch tok {
	case "":
		return ""
	case trainer.ByteTokenizer:
		err = tokenizer.ByteLevel().WriteFile(dst)
	default:
		var b []byte
		if b, err = os.ReadFile(tok); err == nil {
			if _, err = tokenizer.Parse(tok, b); err == nil {
				err = os.WriteFile(dst, b, 0o644)
			}
		}
	}
	if err != nil {
		fmt.Fprintf(w, "note: no tokenizer.json in %s: %v\n", dir, err)
		return ""
	}
	return dst
}

// modelTokenizer is the tokenizer a model directory carries or its
// checkpoint records: dir/tokenizer.json of a Hugging Face directory, the
// native checkpoint's record, or "".
func modelTokenizer(dir string) string {
	if p := filepath.Join(dir, "tokenizer.json"); fileExists(p) {
		return p
	}
	return trainer.ModelTokenizer(dir)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
