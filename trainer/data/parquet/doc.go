// Package parquet reads string columns of Apache Parquet files, the format
// of Hugging Face dataset downloads, with no parquet library: the thrift
// compact footer, data pages v1 and v2, PLAIN, dictionary and delta
// encodings, the RLE/bit-packed hybrid, and UNCOMPRESSED, SNAPPY, GZIP and
// ZSTD pages. It reads flat BYTE_ARRAY columns (text), which is what
// preprocessing needs, and refuses the rest with an error that says so.
//
//	f, err := parquet.Open("train-00000-of-00002.parquet")
//	if err != nil {
//		return err
//	}
//	defer f.Close()
//	for rg := 0; rg < f.NumRowGroups(); rg++ {
//		texts, null, err := f.ReadStrings(rg, "text")
//		...
//	}
//
// It imports nothing of the project (its one outside dependency is
// klauspost/compress for snappy and zstd); trainer/data/preprocess is its
// user. A parquet file is outside bytes: every error names the file (and
// the row group and column where there is one), a file this reader cannot
// read wraps ErrFormat, reading never panics, and it is fuzzed.
package parquet
