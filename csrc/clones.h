/* Target clones for the C extension's hot loops (internal to fastdl._cext): GCC on
 * x86-64 Linux compiles a function marked FASTDL_CLONES for the baseline, AVX2 and
 * AVX-512F, and glibc's ifunc resolver picks one at load time. Elsewhere (or with
 * -DFASTDL_NO_CLONES) it is one baseline function. */
#ifndef FASTDL_CLONES_H
#define FASTDL_CLONES_H

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) \
    && defined(__GLIBC__) && !defined(FASTDL_NO_CLONES)
#define FASTDL_CLONES __attribute__((target_clones("default", "avx2", "avx512f")))
#else
#define FASTDL_CLONES
#endif

#endif
