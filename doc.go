// Package bloom is the module root of the bloom cluster runtime. It holds no
// code; its tests state the repository's policies: the package layering of
// DESIGN.md §3 (layering_test.go) and that every package documents itself
// (pkgdoc_test.go).
//
// The binaries are cmd/bloomd (the node daemon) and cmd/bloomctl (the user's
// tool); see README.md.
package bloom
