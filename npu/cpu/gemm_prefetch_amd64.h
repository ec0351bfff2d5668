// The AVX-512 float32 kernels prefetch B PFK k-steps (rows of B) ahead of
// the row they load, where B may come from beyond L2: the 14-row kernel in
// its first tile (later tiles read the panel again from L1 or L2; a
// prefetch in every tile cost large GEMMs 3-7%), the row kernels always.
// Weights packed once for decoding (PackB) stream from L3 or memory once
// per step, and the hardware prefetcher alone keeps too few lines in flight
// for a kernel that spends 14 cycles on each row: at 32 rows (4 KiB of a
// packed panel) a 17 MiB stream through the 14-row kernel ran at 15-18 GB/s
// instead of 7 on a 2.8 GHz Ice Lake Xeon (32 rows of a panel of half values,
// read in place by their kernels, are 2 KiB). The lines past a panel's end
// are the next panel's, which is read next.

#define PFK 32

// PFSTART points DX at the B row PFK k-steps past BX (R10 = ldb in bytes).
#define PFSTART \
	MOVQ  R10, DX; \
	IMULQ $PFK, DX; \
	ADDQ  BX, DX
