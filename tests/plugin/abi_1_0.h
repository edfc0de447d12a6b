/* The plugin table as ABI 1.0 laid it out, spelled out field by field (not expanded from
 * the current header's lists): what a host compiled against the 1.0 header has. Never edit. */
#ifndef VKS_TEST_ABI_1_0_H
#define VKS_TEST_ABI_1_0_H

#include <vkstruct/plugin.h>

typedef struct host_api_1_0 {
    uint32_t struct_size;
    uint32_t abi_major;
    uint32_t abi_minor;
    const char *name;
    const char *version;
    vks_probe_fn *vks_probe;
    vks_status_string_fn *vks_status_string;
    vks_last_error_fn *vks_last_error;
    vks_enumerate_devices_fn *vks_enumerate_devices;
    vks_context_create_fn *vks_context_create;
    vks_context_destroy_fn *vks_context_destroy;
    vks_context_get_device_info_fn *vks_context_get_device_info;
    vks_context_get_stats_fn *vks_context_get_stats;
    vks_context_save_pipeline_cache_fn *vks_context_save_pipeline_cache;
    vks_synchronize_fn *vks_synchronize;
    vks_begin_external_recording_fn *vks_begin_external_recording;
    vks_end_external_recording_fn *vks_end_external_recording;
    vks_buffer_create_fn *vks_buffer_create;
    vks_buffer_wrap_fn *vks_buffer_wrap;
    vks_buffer_destroy_fn *vks_buffer_destroy;
    vks_buffer_get_size_fn *vks_buffer_get_size;
    vks_buffer_get_vulkan_fn *vks_buffer_get_vulkan;
    vks_buffer_write_fn *vks_buffer_write;
    vks_buffer_read_fn *vks_buffer_read;
    vks_buffer_copy_fn *vks_buffer_copy;
    vks_buffer_fill_fn *vks_buffer_fill;
    vks_dtype_size_fn *vks_dtype_size;
    vks_tensor_from_dlpack_fn *vks_tensor_from_dlpack;
    vks_profile_get_fn *vks_profile_get;
    vks_profile_clear_fn *vks_profile_clear;
    vks_gemm_fn *vks_gemm;
    vks_gemm_ex_fn *vks_gemm_ex;
    vks_measure_peaks_fn *vks_measure_peaks;
    vks_blockdiag_linear_fn *vks_blockdiag_linear;
    vks_blockdiag_backward_fn *vks_blockdiag_backward;
    vks_monarch_forward_fn *vks_monarch_forward;
    vks_monarch_linear_shapes_fn *vks_monarch_linear_shapes;
    vks_monarch_linear_fn *vks_monarch_linear;
    vks_monarch_fusable_fn *vks_monarch_fusable;
    vks_monarch_backward_fn *vks_monarch_backward;
    vks_monarch_project_fn *vks_monarch_project;
    vks_lora_forward_fn *vks_lora_forward;
    vks_factorized_linear_fn *vks_factorized_linear;
    vks_lora_pack_offsets_fn *vks_lora_pack_offsets;
    vks_lora_multi_forward_fn *vks_lora_multi_forward;
    vks_lora_multi_shrink_fn *vks_lora_multi_shrink;
    vks_lora_multi_expand_fn *vks_lora_multi_expand;
    vks_randlora_forward_fn *vks_randlora_forward;
    vks_lora_merge_fn *vks_lora_merge;
    vks_lora_unmerge_fn *vks_lora_unmerge;
    vks_galore_project_fn *vks_galore_project;
    vks_galore_project_back_fn *vks_galore_project_back;
    vks_eigh_fn *vks_eigh;
    vks_cholesky_fn *vks_cholesky;
    vks_trsm_fn *vks_trsm;
    vks_eigh_ex_fn *vks_eigh_ex;
    vks_cholesky_ex_fn *vks_cholesky_ex;
    vks_newton_schulz_fn *vks_newton_schulz;
    vks_newton_schulz_grouped_fn *vks_newton_schulz_grouped;
    vks_newton_schulz_coefficients_fn *vks_newton_schulz_coefficients;
    vks_auon_fn *vks_auon;
    vks_auon_grouped_fn *vks_auon_grouped;
    vks_syrk_fn *vks_syrk;
    vks_cholqr_fn *vks_cholqr;
    vks_svd_fn *vks_svd;
    vks_kron_matmul_fn *vks_kron_matmul;
    vks_kron_kernel_matrix_fn *vks_kron_kernel_matrix;
    vks_kron_eigh_fn *vks_kron_eigh;
    vks_kron_solve_fn *vks_kron_solve;
    vks_kron_cholesky_solve_fn *vks_kron_cholesky_solve;
    vks_kron_predict_fn *vks_kron_predict;
    vks_get_proc_address_fn *vks_get_proc_address;
    vks_shutdown_fn *vks_shutdown;
} host_api_1_0;

/* The current table starts with the 1.0 table: 1.1 begins exactly where 1.0 ended. */
_Static_assert(sizeof(host_api_1_0) == offsetof(vks_plugin_api, vks_struct_init), "ABI 1.0 prefix changed");

#endif
