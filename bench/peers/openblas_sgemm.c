/*
 * OpenBLAS sgemm peer: GFLOP/s of cblas_sgemm (row-major, f32) at the shapes given, for
 * comparison with hydranet's cpu GEMM. Compiled by bench/peers.ts at bench time into a temp
 * folder (cc -O2 openblas_sgemm.c -lopenblas); never linked into hydranet.
 *
 * usage: openblas_sgemm WINDOWS MIN_SECONDS WARMUP_SECONDS m,n,k,transA,transB,beta ...
 * Prints one JSON object per line: the library's config, then per shape
 * {"m":..,"n":..,"k":..,"transA":..,"transB":..,"median":..,"min":..,"max":..,"windows":..,"cpu":..}
 * with GFLOP/s = 2mnk / seconds per call, over windows of >= MIN_SECONDS (and >= 1 call)
 * after WARMUP_SECONDS of warm-up; "cpu" is the rate per CPU-second of the process over all the
 * windows (flops / CPU time), which on a loaded machine still says how close the kernel gets
 * to the cores' peak (bench/gemm-dev/cpu-gemm.ts reads it).
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double clock_s(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double now(void) { return clock_s(CLOCK_MONOTONIC); }

static int cmp_double(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

static float* random_matrix(size_t n, unsigned* state) {
  float* p = (float*)malloc(n * sizeof(float));
  if (!p) return NULL;
  for (size_t i = 0; i < n; i++) {
    *state = *state * 1664525u + 1013904223u;
    p[i] = (float)((*state >> 8) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
  }
  return p;
}

int main(int argc, char** argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s WINDOWS MIN_SECONDS WARMUP_SECONDS m,n,k,transA,transB,beta ...\n", argv[0]);
    return 2;
  }
  int windows = atoi(argv[1]);
  double min_seconds = atof(argv[2]);
  double warmup_seconds = atof(argv[3]);
  if (windows < 1 || windows > 1000) windows = 7;

  printf("{\"config\":\"%s\",\"core\":\"%s\",\"threads\":%d}\n", openblas_get_config(), openblas_get_corename(),
         openblas_get_num_threads());
  fflush(stdout);

  unsigned state = 12345u;
  for (int s = 4; s < argc; s++) {
    int m, n, k, ta, tb;
    float beta;
    if (sscanf(argv[s], "%d,%d,%d,%d,%d,%f", &m, &n, &k, &ta, &tb, &beta) != 6 || m < 1 || n < 1 || k < 1) {
      fprintf(stderr, "bad shape %s\n", argv[s]);
      return 2;
    }
    float* a = random_matrix((size_t)m * k, &state);
    float* b = random_matrix((size_t)k * n, &state);
    float* c = (float*)calloc((size_t)m * n, sizeof(float));
    if (!a || !b || !c) {
      fprintf(stderr, "out of memory for %s\n", argv[s]);
      return 1;
    }
    /* Row-major: A is [m,k] ([k,m] when transposed), B is [k,n] ([n,k] when transposed). */
    int lda = ta ? m : k, ldb = tb ? k : n, ldc = n;
    enum CBLAS_TRANSPOSE opa = ta ? CblasTrans : CblasNoTrans, opb = tb ? CblasTrans : CblasNoTrans;
#define CALL() cblas_sgemm(CblasRowMajor, opa, opb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc)

    double t0 = now(), per = 0, last = t0;
    int done = 0;
    while (done < 2 || now() - t0 < warmup_seconds) {
      CALL();
      double t = now();
      per = t - last;
      last = t;
      done++;
    }
    long chunk = per > 0 ? (long)(0.1 * min_seconds / per) : 1;
    if (chunk < 1) chunk = 1;
    double* rates = (double*)malloc(sizeof(double) * windows);
    double flops = 2.0 * m * n * k, all_calls = 0;
    const double cpu0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    for (int w = 0; w < windows; w++) {
      long calls = 0;
      double start = now(), el;
      do {
        for (long i = 0; i < chunk; i++) CALL();
        calls += chunk;
        el = now() - start;
      } while (el < min_seconds);
      rates[w] = flops * calls / el / 1e9;
      all_calls += (double)calls;
    }
    const double cpu_rate = flops * all_calls / (clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu0) / 1e9;
    qsort(rates, windows, sizeof(double), cmp_double);
    double median = windows % 2 ? rates[windows / 2] : 0.5 * (rates[windows / 2 - 1] + rates[windows / 2]);
    printf("{\"m\":%d,\"n\":%d,\"k\":%d,\"transA\":%s,\"transB\":%s,\"median\":%.3f,\"min\":%.3f,\"max\":%.3f,\"windows\":%d,\"cpu\":%.3f,\"check\":%g}\n",
           m, n, k, ta ? "true" : "false", tb ? "true" : "false", median, rates[0], rates[windows - 1], windows,
           cpu_rate, (double)c[(size_t)m * n / 2]);
    fflush(stdout);
    free(rates);
    free(a);
    free(b);
    free(c);
  }
  return 0;
}
