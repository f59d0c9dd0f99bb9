//! The one module with `unsafe` code: CPU-state housekeeping around foreign SIMD kernels.
//! Every block says why it is sound; `docs/decisions.md` has the benchmark that justifies it.

/// Clears the upper halves of the AVX registers (`vzeroupper`) after a foreign kernel that
/// may leave them dirty (faer's generated AVX-512 GEMM micro-kernels). With dirty upper
/// state, every later non-VEX SSE instruction (all of our code, built for baseline x86-64)
/// pays a false dependency on the full register: on the AVX-512 EPYC guest we measured the
/// batch-norm kernels 2-5× slower after each GEMM without this.
#[inline]
pub(crate) fn clear_upper_vector_state() {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: `vzeroupper` needs only AVX, which the CPU has (checked just above). It
        // zeroes bits 128.. of the vector registers; this function is compiled without AVX,
        // so no value of ours lives in those bits across the call.
        unsafe { std::arch::x86_64::_mm256_zeroupper() }
    }
}
