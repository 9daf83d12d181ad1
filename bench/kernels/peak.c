/* Peaks of this CPU measured for bench/kernels/run.py (not part of any
 * model.so): the rate of AVX-512 VNNI byte dot products (VPDPBUSD), of
 * 512-bit AND + VPOPCNTQ + add on independent accumulators (the bit-plane
 * kernel's inner step), and a STREAM-like copy (a[i] = b[i] over buffers far
 * larger than the caches). Prints "vnni_macs_per_s", "popcount_bit_macs_per_s"
 * and "copy_bytes_per_s" (bytes read + written), best of 5. */
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* Twelve independent accumulators (arrays the compiler keeps in registers),
 * summed at the end. */
#define ACCS 12
static __m512i sum64(const __m512i *c) {
  __m512i s = c[0];
  for (int k = 1; k < ACCS; ++k) s = _mm512_add_epi64(s, c[k]);
  return s;
}

__attribute__((noinline)) static __m512i vnni(long iters, __m512i a, __m512i b) {
  __m512i c[ACCS];
  for (int k = 0; k < ACCS; ++k) c[k] = k % 2 ? b : a;
  for (long i = 0; i < iters; ++i) {
#pragma clang loop unroll(full)
    for (int k = 0; k < ACCS; ++k) c[k] = _mm512_dpbusd_epi32(c[k], a, b);
    __asm__ volatile("" : "+v"(a), "+v"(b));
  }
  return sum64(c);
}

/* Twelve different weight words against one activation word, so that no
 * AND or population count repeats within a step (a compiler would compute a
 * repeated one once). */
__attribute__((noinline)) static __m512i pop(long iters, __m512i a, __m512i b) {
  __m512i c[ACCS], w[ACCS], x = _mm512_xor_si512(a, b);
  for (int k = 0; k < ACCS; ++k) {
    c[k] = k % 2 ? b : a;
    w[k] = _mm512_add_epi64(_mm512_slli_epi64(a, k), _mm512_srli_epi64(b, k));
  }
  for (long i = 0; i < iters; ++i) {
#pragma clang loop unroll(full)
    for (int k = 0; k < ACCS; ++k)
      c[k] = _mm512_add_epi64(c[k], _mm512_popcnt_epi64(_mm512_and_si512(w[k], x)));
    __asm__ volatile("" : "+v"(x));
  }
  return sum64(c);
}

int main(void) {
  __m512i a = _mm512_set1_epi32(0x01020304), b = _mm512_set1_epi32(0x05060708);
  long iters = 20000000;
  double best = 1e30, bestp = 1e30, bestc = 1e30;
  volatile long sink = 0;
  for (int r = 0; r < 5; ++r) {
    double t = now();
    __m512i v = vnni(iters, a, b);
    t = now() - t;
    sink += _mm512_reduce_add_epi64(v);
    if (t < best) best = t;
    t = now();
    v = pop(iters, a, b);
    t = now() - t;
    sink += _mm512_reduce_add_epi64(v);
    if (t < bestp) bestp = t;
  }
  size_t n = (size_t)64 << 20; /* 256 MB of floats per buffer */
  float *src = aligned_alloc(64, n * 4), *dst = aligned_alloc(64, n * 4);
  for (size_t i = 0; i < n; ++i) src[i] = (float)i, dst[i] = 0;
  /* Through a volatile pointer: the compiler cannot drop repeated copies. */
  void *(*volatile copy)(void *, const void *, size_t) = memcpy;
  for (int r = 0; r < 5; ++r) {
    double t = now();
    copy(dst, src, n * 4);
    t = now() - t;
    if (t < bestc) bestc = t;
  }
  sink += (long)dst[n / 2];
  printf("vnni_macs_per_s %.6e\n", iters * 12.0 * 64 / best);
  printf("popcount_bit_macs_per_s %.6e\n", iters * 12.0 * 512 / bestp);
  printf("copy_bytes_per_s %.6e\n", 2.0 * n * 4 / bestc);
  free(src);
  free(dst);
  return (int)(sink & 0);
}
