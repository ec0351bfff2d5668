package daemon

import "testing"

// TestPromLabel: label values escape only what Prometheus' text format
// escapes — backslash, double quote, newline — and keep tabs, non-ASCII
// and control characters as they are (Go's %q had written \t, \u00a0 and
// \x01, which Prometheus' parser refuses); invalid UTF-8 becomes U+FFFD.
func TestPromLabel(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                "plain",
		"tab\there":            "tab\there",
		"nb\u00a0sp zw\u200bj": "nb\u00a0sp zw\u200bj",
		"ctl\x01x":             "ctl\x01x",
		`a"b\c`:                `a\"b\\c`,
		"two\nlines":           `two\nlines`,
		"bad\xffbyte":          "bad\uFFFDbyte",
	} {
		if got := promLabel(in); got != want {
			t.Errorf("promLabel(%q) = %q, want %q", in, got, want)
		}
	}
}
