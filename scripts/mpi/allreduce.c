/* allreduce: Open MPI's MPI_Allreduce timed as bloomctl bench allreduce
 * times its own (the peer for DESIGN.md §13). fp32 sum; per size: warm-up,
 * an iteration count picked by rank 0 from the second warm-up, a barrier,
 * the timed loop; the time is the slowest rank's mean; #wrong counts
 * elements that differ from the closed form (rank r, element i holds
 * (r+1) + i%7, so the sum is n(n+1)/2 + n·(i%7)).
 *
 * Build: mpicc -O2 -o allreduce allreduce.c
 * Run:   mpirun --allow-run-as-root --oversubscribe -np 4 ./allreduce 1K 64K 1M 16M 64M
 * Prints one JSON object per size, like bloomctl's --output json.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long parse_size(const char *s) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*end == 'K' || *end == 'k') v <<= 10;
    else if (*end == 'M' || *end == 'm') v <<= 20;
    else if (*end == 'G' || *end == 'g') v <<= 30;
    return v;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, n;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    double min_time = getenv("MIN_TIME") ? atof(getenv("MIN_TIME")) : 0.2;
    long max_size = 0;
    for (int a = 1; a < argc; a++)
        if (parse_size(argv[a]) > max_size) max_size = parse_size(argv[a]);
    float *send = malloc(max_size + 64), *recv = malloc(max_size + 64);
    memset(send, 1, max_size + 64); /* touch every page before timing */
    memset(recv, 1, max_size + 64);
    for (int a = 1; a < argc; a++) {
        long size = parse_size(argv[a]);
        int count = (int)(size / sizeof(float));
        for (int i = 0; i < count; i++) send[i] = (float)(rank + 1) + (float)(i % 7);
        MPI_Allreduce(send, recv, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        long wrong = 0, total_wrong = 0;
        for (int i = 0; i < count; i++)
            if (recv[i] != (float)(n * (n + 1) / 2) + (float)(n * (i % 7))) wrong++;
        double t0 = MPI_Wtime();
        MPI_Allreduce(send, recv, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        double once = MPI_Wtime() - t0;
        int iters = (int)(min_time / (once > 1e-7 ? once : 1e-7));
        if (iters < 1) iters = 1;
        if (iters > 1000) iters = 1000;
        MPI_Bcast(&iters, 1, MPI_INT, 0, MPI_COMM_WORLD);
        MPI_Barrier(MPI_COMM_WORLD);
        t0 = MPI_Wtime();
        for (int it = 0; it < iters; it++)
            MPI_Allreduce(send, recv, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        double t = (MPI_Wtime() - t0) / iters, tmax;
        MPI_Reduce(&t, &tmax, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
        MPI_Reduce(&wrong, &total_wrong, 1, MPI_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
        if (rank == 0) {
            double algbw = (double)count * sizeof(float) / tmax / 1e9;
            printf("{\"peer\":\"openmpi\",\"collective\":\"allreduce\",\"ranks\":%d,\"size\":%ld,\"count\":%d,"
                   "\"type\":\"fp32\",\"op\":\"sum\",\"time_us\":%.1f,\"algbw\":%.4f,\"busbw\":%.4f,\"wrong\":%ld}\n",
                   n, size, count, tmax * 1e6, algbw, algbw * 2.0 * (n - 1) / n, total_wrong);
            fflush(stdout);
        }
    }
    free(send);
    free(recv);
    MPI_Finalize();
    return 0;
}
