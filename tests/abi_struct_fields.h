/* Every field of every public struct with a leading struct_size, in declaration order: the
 * list tests/abi_structs_golden.txt is checked against (test_abi). A field appended to a
 * struct is appended here and there in the same commit; nothing else here ever changes. */
#ifndef VKS_TEST_ABI_STRUCT_FIELDS_H
#define VKS_TEST_ABI_STRUCT_FIELDS_H

#define VKS_ABI_STRUCTS(X) \
    X(vks_device_info) \
    X(vks_vulkan_device) \
    X(vks_context_options) \
    X(vks_tuning) \
    X(vks_context_stats) \
    X(vks_gemm_desc) \
    X(vks_device_peaks) \
    X(vks_blockdiag_desc) \
    X(vks_blockdiag_backward_desc) \
    X(vks_monarch_desc) \
    X(vks_monarch_backward_desc) \
    X(vks_monarch_project_desc) \
    X(vks_monarch_project_result) \
    X(vks_lora_desc) \
    X(vks_lora_adapters) \
    X(vks_lora_multi_desc) \
    X(vks_randlora_desc) \
    X(vks_eigh_options) \
    X(vks_cholesky_options) \
    X(vks_newton_schulz_options) \
    X(vks_auon_options) \
    X(vks_cholqr_options) \
    X(vks_kernel_desc) \
    X(vks_kron_eigh_desc) \
    X(vks_kron_solve_desc) \
    X(vks_kron_cholesky_desc) \
    X(vks_kron_pde_desc) \
    X(vks_kron_pde_learn_desc)

#define VKS_ABI_STRUCT_FIELDS(X) \
    X(vks_device_info, struct_size) \
    X(vks_device_info, index) \
    X(vks_device_info, name) \
    X(vks_device_info, type) \
    X(vks_device_info, vendor_id) \
    X(vks_device_info, device_id) \
    X(vks_device_info, api_version) \
    X(vks_device_info, driver_version) \
    X(vks_device_info, driver_name) \
    X(vks_device_info, driver_info) \
    X(vks_device_info, pipeline_cache_uuid) \
    X(vks_device_info, features) \
    X(vks_device_info, usable) \
    X(vks_device_info, unusable_reason) \
    X(vks_device_info, subgroup_size) \
    X(vks_device_info, min_subgroup_size) \
    X(vks_device_info, max_subgroup_size) \
    X(vks_device_info, max_shared_memory_bytes) \
    X(vks_device_info, max_workgroup_invocations) \
    X(vks_device_info, max_workgroup_size) \
    X(vks_device_info, max_workgroup_count) \
    X(vks_device_info, max_push_constants_bytes) \
    X(vks_device_info, max_storage_buffer_range) \
    X(vks_device_info, max_memory_allocation_bytes) \
    X(vks_device_info, max_buffer_bytes) \
    X(vks_device_info, device_local_bytes) \
    X(vks_device_info, timestamp_period_ns) \
    X(vks_vulkan_device, struct_size) \
    X(vks_vulkan_device, instance) \
    X(vks_vulkan_device, physical_device) \
    X(vks_vulkan_device, device) \
    X(vks_vulkan_device, queue) \
    X(vks_vulkan_device, queue_family_index) \
    X(vks_vulkan_device, enabled_features) \
    X(vks_vulkan_device, get_instance_proc_addr) \
    X(vks_context_options, struct_size) \
    X(vks_context_options, device_index) \
    X(vks_context_options, device_name) \
    X(vks_context_options, flags) \
    X(vks_context_options, cache_dir) \
    X(vks_context_options, message_callback) \
    X(vks_context_options, message_user) \
    X(vks_context_options, vulkan) \
    X(vks_context_options, tuning) \
    X(vks_tuning, struct_size) \
    X(vks_tuning, flags) \
    X(vks_tuning, kernels) \
    X(vks_tuning, monarch_coopmat) \
    X(vks_tuning, monarch_grouped) \
    X(vks_tuning, gemm_tiled) \
    X(vks_tuning, lowrank_splitk) \
    X(vks_tuning, lowrank_splitk_slices) \
    X(vks_tuning, lowrank_splitk_tile) \
    X(vks_tuning, eigh_reduction) \
    X(vks_context_stats, struct_size) \
    X(vks_context_stats, device_bytes_in_use) \
    X(vks_context_stats, device_bytes_reserved) \
    X(vks_context_stats, memory_blocks) \
    X(vks_context_stats, live_buffers) \
    X(vks_context_stats, pipelines) \
    X(vks_context_stats, pipeline_cache_loaded_bytes) \
    X(vks_context_stats, submits) \
    X(vks_context_stats, validation_messages) \
    X(vks_gemm_desc, struct_size) \
    X(vks_gemm_desc, trans_a) \
    X(vks_gemm_desc, trans_b) \
    X(vks_gemm_desc, alpha) \
    X(vks_gemm_desc, beta) \
    X(vks_gemm_desc, a) \
    X(vks_gemm_desc, b) \
    X(vks_gemm_desc, c) \
    X(vks_gemm_desc, bias) \
    X(vks_gemm_desc, activation) \
    X(vks_device_peaks, struct_size) \
    X(vks_device_peaks, copy_gbps) \
    X(vks_device_peaks, fma_gflops_f32) \
    X(vks_device_peaks, fma_gflops_f16) \
    X(vks_device_peaks, fma_gflops_f64) \
    X(vks_device_peaks, mma_gflops_f16) \
    X(vks_blockdiag_desc, struct_size) \
    X(vks_blockdiag_desc, x) \
    X(vks_blockdiag_desc, w) \
    X(vks_blockdiag_desc, bias) \
    X(vks_blockdiag_desc, y) \
    X(vks_blockdiag_desc, activation) \
    X(vks_blockdiag_backward_desc, struct_size) \
    X(vks_blockdiag_backward_desc, x) \
    X(vks_blockdiag_backward_desc, w) \
    X(vks_blockdiag_backward_desc, dy) \
    X(vks_blockdiag_backward_desc, dx) \
    X(vks_blockdiag_backward_desc, dw) \
    X(vks_blockdiag_backward_desc, dbias) \
    X(vks_monarch_desc, struct_size) \
    X(vks_monarch_desc, x) \
    X(vks_monarch_desc, w1) \
    X(vks_monarch_desc, w2) \
    X(vks_monarch_desc, bias) \
    X(vks_monarch_desc, y) \
    X(vks_monarch_desc, activation) \
    X(vks_monarch_desc, path) \
    X(vks_monarch_desc, padded) \
    X(vks_monarch_backward_desc, struct_size) \
    X(vks_monarch_backward_desc, x) \
    X(vks_monarch_backward_desc, w1) \
    X(vks_monarch_backward_desc, w2) \
    X(vks_monarch_backward_desc, dy) \
    X(vks_monarch_backward_desc, dx) \
    X(vks_monarch_backward_desc, dw1) \
    X(vks_monarch_backward_desc, dw2) \
    X(vks_monarch_backward_desc, dbias) \
    X(vks_monarch_backward_desc, padded) \
    X(vks_monarch_project_desc, struct_size) \
    X(vks_monarch_project_desc, m) \
    X(vks_monarch_project_desc, w1) \
    X(vks_monarch_project_desc, w2) \
    X(vks_monarch_project_desc, max_iterations) \
    X(vks_monarch_project_desc, tolerance) \
    X(vks_monarch_project_desc, padded) \
    X(vks_monarch_project_result, struct_size) \
    X(vks_monarch_project_result, relative_error) \
    X(vks_monarch_project_result, iterations) \
    X(vks_monarch_project_result, unconverged) \
    X(vks_monarch_project_result, max_rank) \
    X(vks_monarch_project_result, blocks) \
    X(vks_lora_desc, struct_size) \
    X(vks_lora_desc, x) \
    X(vks_lora_desc, w) \
    X(vks_lora_desc, a) \
    X(vks_lora_desc, b) \
    X(vks_lora_desc, bias) \
    X(vks_lora_desc, y) \
    X(vks_lora_desc, scale) \
    X(vks_lora_desc, beta) \
    X(vks_lora_adapters, struct_size) \
    X(vks_lora_adapters, count) \
    X(vks_lora_adapters, ranks) \
    X(vks_lora_adapters, scales) \
    X(vks_lora_adapters, a_offsets) \
    X(vks_lora_adapters, b_offsets) \
    X(vks_lora_adapters, a) \
    X(vks_lora_adapters, b) \
    X(vks_lora_multi_desc, struct_size) \
    X(vks_lora_multi_desc, x) \
    X(vks_lora_multi_desc, w) \
    X(vks_lora_multi_desc, bias) \
    X(vks_lora_multi_desc, y) \
    X(vks_lora_multi_desc, beta) \
    X(vks_lora_multi_desc, adapters) \
    X(vks_lora_multi_desc, layout) \
    X(vks_lora_multi_desc, indices) \
    X(vks_lora_multi_desc, num_segments) \
    X(vks_lora_multi_desc, seg_starts) \
    X(vks_lora_multi_desc, seg_adapters) \
    X(vks_lora_multi_desc, indices_dev) \
    X(vks_lora_multi_desc, seg_starts_dev) \
    X(vks_lora_multi_desc, seg_adapters_dev) \
    X(vks_lora_multi_desc, status) \
    X(vks_randlora_desc, struct_size) \
    X(vks_randlora_desc, x) \
    X(vks_randlora_desc, w) \
    X(vks_randlora_desc, bias) \
    X(vks_randlora_desc, y) \
    X(vks_randlora_desc, basis_a) \
    X(vks_randlora_desc, basis_b) \
    X(vks_randlora_desc, lambda) \
    X(vks_randlora_desc, gamma) \
    X(vks_randlora_desc, scale) \
    X(vks_randlora_desc, beta) \
    X(vks_eigh_options, struct_size) \
    X(vks_eigh_options, flags) \
    X(vks_eigh_options, fixed_sweeps) \
    X(vks_eigh_options, max_sweeps) \
    X(vks_eigh_options, info) \
    X(vks_eigh_options, method) \
    X(vks_cholesky_options, struct_size) \
    X(vks_cholesky_options, info) \
    X(vks_newton_schulz_options, struct_size) \
    X(vks_newton_schulz_options, schedule) \
    X(vks_newton_schulz_options, steps) \
    X(vks_newton_schulz_options, coefficients) \
    X(vks_newton_schulz_options, norm_factor) \
    X(vks_newton_schulz_options, eps) \
    X(vks_newton_schulz_options, gram) \
    X(vks_newton_schulz_options, gram_restart) \
    X(vks_newton_schulz_options, status) \
    X(vks_newton_schulz_options, flags) \
    X(vks_auon_options, struct_size) \
    X(vks_auon_options, variant) \
    X(vks_auon_options, gamma) \
    X(vks_auon_options, eps) \
    X(vks_auon_options, ns_steps) \
    X(vks_auon_options, status) \
    X(vks_cholqr_options, struct_size) \
    X(vks_cholqr_options, mode) \
    X(vks_cholqr_options, flags) \
    X(vks_cholqr_options, orth_error) \
    X(vks_cholqr_options, shifted) \
    X(vks_cholqr_options, info) \
    X(vks_kernel_desc, struct_size) \
    X(vks_kernel_desc, kind) \
    X(vks_kernel_desc, lengthscale) \
    X(vks_kernel_desc, outputscale) \
    X(vks_kernel_desc, sm_base) \
    X(vks_kernel_desc, num_mixtures) \
    X(vks_kernel_desc, sm_weights) \
    X(vks_kernel_desc, sm_rhos) \
    X(vks_kernel_desc, sm_freqs) \
    X(vks_kernel_desc, dx1) \
    X(vks_kernel_desc, dx2) \
    X(vks_kron_eigh_desc, struct_size) \
    X(vks_kron_eigh_desc, d) \
    X(vks_kron_eigh_desc, factors) \
    X(vks_kron_eigh_desc, noise_scales) \
    X(vks_kron_eigh_desc, jitter) \
    X(vks_kron_eigh_desc, eigvecs) \
    X(vks_kron_eigh_desc, eigvals) \
    X(vks_kron_solve_desc, struct_size) \
    X(vks_kron_solve_desc, d) \
    X(vks_kron_solve_desc, eigvecs) \
    X(vks_kron_solve_desc, eigvals) \
    X(vks_kron_solve_desc, noise_scales) \
    X(vks_kron_solve_desc, noise) \
    X(vks_kron_solve_desc, eig_floor) \
    X(vks_kron_solve_desc, y) \
    X(vks_kron_solve_desc, alpha) \
    X(vks_kron_solve_desc, mean) \
    X(vks_kron_solve_desc, logdet) \
    X(vks_kron_solve_desc, mll) \
    X(vks_kron_solve_desc, flags) \
    X(vks_kron_cholesky_desc, struct_size) \
    X(vks_kron_cholesky_desc, d) \
    X(vks_kron_cholesky_desc, factors) \
    X(vks_kron_cholesky_desc, jitter) \
    X(vks_kron_cholesky_desc, jitter_retries) \
    X(vks_kron_cholesky_desc, jitter_used) \
    X(vks_kron_cholesky_desc, y) \
    X(vks_kron_cholesky_desc, alpha) \
    X(vks_kron_cholesky_desc, logdet) \
    X(vks_kron_cholesky_desc, mll) \
    X(vks_kron_cholesky_desc, inverses) \
    X(vks_kron_pde_desc, struct_size) \
    X(vks_kron_pde_desc, d) \
    X(vks_kron_pde_desc, n) \
    X(vks_kron_pde_desc, lo) \
    X(vks_kron_pde_desc, hi) \
    X(vks_kron_pde_desc, kernels) \
    X(vks_kron_pde_desc, jitter) \
    X(vks_kron_pde_desc, coef_xx) \
    X(vks_kron_pde_desc, coef_u) \
    X(vks_kron_pde_desc, f) \
    X(vks_kron_pde_desc, boundary) \
    X(vks_kron_pde_desc, u) \
    X(vks_kron_pde_desc, alpha) \
    X(vks_kron_pde_desc, max_iterations) \
    X(vks_kron_pde_desc, tolerance) \
    X(vks_kron_pde_desc, iterations) \
    X(vks_kron_pde_desc, residual) \
    X(vks_kron_pde_desc, weight_boundary) \
    X(vks_kron_pde_desc, weight_residual) \
    X(vks_kron_pde_desc, objective) \
    X(vks_kron_pde_learn_desc, struct_size) \
    X(vks_kron_pde_learn_desc, num_mixtures) \
    X(vks_kron_pde_learn_desc, base) \
    X(vks_kron_pde_learn_desc, envelope) \
    X(vks_kron_pde_learn_desc, relative_jitter) \
    X(vks_kron_pde_learn_desc, rounds) \
    X(vks_kron_pde_learn_desc, steps) \
    X(vks_kron_pde_learn_desc, learning_rate) \
    X(vks_kron_pde_learn_desc, weights) \
    X(vks_kron_pde_learn_desc, rhos) \
    X(vks_kron_pde_learn_desc, freqs) \
    X(vks_kron_pde_learn_desc, objective)

#endif
