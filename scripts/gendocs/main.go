package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	out := flag.String("out", "docs", "write the generated files into `DIR`")
	flag.Parse()
	for name, text := range files() {
		path := filepath.Join(*out, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "gendocs:", err)
			os.Exit(1)
		}
		fmt.Println("wrote", path)
	}
}

// files is each generated file's name in docs/ and its content.
func files() map[string]string {
	return map[string]string{"jobspec.md": jobspecMarkdown(), "environment.md": environmentMarkdown()}
}
