/*
 * vkstruct: structured linear algebra (Monarch, low-rank, orthogonalization, Kronecker
 * GP) on any Vulkan 1.2 device.
 *
 * Conventions of the whole API
 *  - Every function returns a vks_status (0 = VKS_OK, negative = error), except
 *    vks_status_string() and vks_last_error(), which return strings.
 *  - Nothing aborts, exits or prints: a failure returns a status and leaves a message
 *    naming the argument, its value and what was expected in vks_last_error().
 *  - Handles are opaque. Structs that may grow start with `size_t struct_size`. Fill one
 *    with vks_struct_init() (or, in C, its *_INIT macro, which holds the same defaults):
 *    a zero-filled struct is NOT the defaults (zero means e.g. device_index 0, LoRA scale 0,
 *    eig_floor 0) and its struct_size of 0 is refused. Every entry point applies one rule to
 *    struct_size (see vks_struct_init below).
 *  - Tensors are described by value (vks_tensor): buffer + byte offset + dtype + shape +
 *    strides in elements, row-major unless the strides say otherwise.
 *  - Ops are recorded into the context's command stream and run at vks_synchronize()
 *    or at the next read-back; record many ops, then synchronize once.
 *  - A context may be used from several threads; calls on one context are serialised.
 *
 * Environment variables read by vks_context_create():
 *   VKS_DEVICE=<index|name substring>  pick a device (e.g. "llvmpipe", "NVIDIA", "1")
 *   VKS_VALIDATION=1                   enable VK_LAYER_KHRONOS_validation
 *   VKS_PROFILE=1                      time every op; print a per-op table at synchronize
 *   VKS_CACHE_DIR=<dir>                pipeline cache directory ("" disables the cache)
 *   VKS_KERNELS, VKS_MONARCH_*, VKS_GEMM_TILED, VKS_LOWRANK_SPLITK*: kernel choices, read
 *                                      into the context's tuning (see vks_tuning)
 */
#ifndef VKSTRUCT_VKSTRUCT_H
#define VKSTRUCT_VKSTRUCT_H

#include <stddef.h>
#include <stdint.h>

#include <dlpack/dlpack.h>

#include "vkstruct/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* VKS_API marks the public functions, the only global symbols of both libraries.
 * Windows (as libuv): dllexport while building the DLL (VKS_BUILDING_DLL, set by the
 * build), nothing for the static library (VKS_STATIC: the vkstruct::vkstruct_static target
 * and `pkg-config --static` define it for its users), dllimport for users of the DLL.
 * Elsewhere: default visibility, the library being built with -fvisibility=hidden. */
#if defined(_WIN32)
#if defined(VKS_BUILDING_DLL)
#define VKS_API __declspec(dllexport)
#elif defined(VKS_STATIC)
#define VKS_API
#else
#define VKS_API __declspec(dllimport)
#endif
#else
#define VKS_API __attribute__((visibility("default")))
#endif

/* ---- status ------------------------------------------------------------------------ */

/* X(name, value, description): the one list that makes the enum and its strings. */
#define VKS_STATUS_LIST(X)                                                              \
    X(VKS_OK, 0, "success")                                                             \
    X(VKS_ERROR_INVALID_ARGUMENT, -1, "invalid argument")                               \
    X(VKS_ERROR_SHAPE_MISMATCH, -2, "shapes do not agree")                              \
    X(VKS_ERROR_DTYPE_MISMATCH, -3, "dtypes do not agree")                              \
    X(VKS_ERROR_UNSUPPORTED, -4, "not supported by this device or op")                  \
    X(VKS_ERROR_OUT_OF_RANGE, -5, "value outside the allowed range")                    \
    X(VKS_ERROR_OUT_OF_HOST_MEMORY, -6, "out of host memory")                           \
    X(VKS_ERROR_OUT_OF_DEVICE_MEMORY, -7, "out of device memory")                       \
    X(VKS_ERROR_NO_DEVICE, -8, "no usable Vulkan device")                               \
    X(VKS_ERROR_VULKAN, -9, "a Vulkan call failed")                                     \
    X(VKS_ERROR_DEVICE_LOST, -10, "the device was lost")                                \
    X(VKS_ERROR_NOT_POSITIVE_DEFINITE, -11, "matrix is not positive definite")          \
    X(VKS_ERROR_NON_FINITE, -12, "input holds NaN or Inf")                              \
    X(VKS_ERROR_NOT_CONVERGED, -13, "iteration did not converge")                       \
    X(VKS_ERROR_IO, -14, "file input/output failed")

typedef enum vks_status {
#define VKS_STATUS_ENUM_(name, value, text) name = value,
    VKS_STATUS_LIST(VKS_STATUS_ENUM_)
#undef VKS_STATUS_ENUM_
} vks_status;

/* ---- handles and small types ------------------------------------------------------- */

typedef struct vks_context vks_context;
typedef struct vks_buffer vks_buffer;

typedef enum vks_dtype {
    VKS_DTYPE_F32 = 0,
    VKS_DTYPE_F16 = 1,  /* IEEE half storage; ops accumulate in f32 */
    VKS_DTYPE_F64 = 2,  /* needs shaderFloat64 */
    VKS_DTYPE_BF16 = 3, /* bfloat16 storage; ops accumulate in f32 */
    VKS_DTYPE_I32 = 4,
    VKS_DTYPE_I64 = 5,
    VKS_DTYPE_COUNT_
} vks_dtype;

typedef enum vks_device_type {
    VKS_DEVICE_OTHER = 0,
    VKS_DEVICE_INTEGRATED_GPU = 1,
    VKS_DEVICE_DISCRETE_GPU = 2,
    VKS_DEVICE_VIRTUAL_GPU = 3,
    VKS_DEVICE_CPU = 4
} vks_device_type;

/* Device capabilities vkstruct probes (vks_device_info.features). */
typedef enum vks_feature {
    VKS_FEATURE_FLOAT16 = 1u << 0,          /* shaderFloat16 arithmetic */
    VKS_FEATURE_STORAGE16 = 1u << 1,        /* 16-bit storage buffer access: f16/bf16 tensors */
    VKS_FEATURE_INT8 = 1u << 2,             /* shaderInt8 */
    VKS_FEATURE_STORAGE8 = 1u << 3,         /* 8-bit storage buffer access */
    VKS_FEATURE_FLOAT64 = 1u << 4,          /* shaderFloat64: f64 tensors */
    VKS_FEATURE_INT64 = 1u << 5,            /* shaderInt64 (required) */
    VKS_FEATURE_BUFFER_ADDRESS = 1u << 6,   /* bufferDeviceAddress (required) */
    VKS_FEATURE_SUBGROUP_CONTROL = 1u << 7, /* subgroupSizeControl + computeFullSubgroups */
    VKS_FEATURE_COOPMAT_KHR = 1u << 8,      /* VK_KHR_cooperative_matrix */
    VKS_FEATURE_COOPMAT_NV = 1u << 9,       /* VK_NV_cooperative_matrix */
    VKS_FEATURE_TIMESTAMPS = 1u << 10,      /* timestamp queries on the compute queue */
    VKS_FEATURE_HOST_QUERY_RESET = 1u << 11 /* hostQueryReset (profiling) */
} vks_feature;

/* What vkstruct needs of every device; a device without these is listed as unusable. */
#define VKS_REQUIRED_FEATURES (VKS_FEATURE_INT64 | VKS_FEATURE_BUFFER_ADDRESS)

typedef struct vks_device_info {
    size_t struct_size; /* sizeof(vks_device_info) */
    uint32_t index;     /* position in vks_enumerate_devices() order */
    char name[256];
    vks_device_type type;
    uint32_t vendor_id;
    uint32_t device_id;
    uint32_t api_version;    /* VK_MAKE_API_VERSION encoding */
    uint32_t driver_version; /* vendor-specific encoding */
    char driver_name[256];
    char driver_info[256];
    uint8_t pipeline_cache_uuid[16];
    uint32_t features; /* vks_feature bits */
    int32_t usable;    /* 1 when the device has VKS_REQUIRED_FEATURES and Vulkan >= 1.2 */
    char unusable_reason[128];
    uint32_t subgroup_size;
    uint32_t min_subgroup_size;
    uint32_t max_subgroup_size;
    uint32_t max_shared_memory_bytes; /* per workgroup */
    uint32_t max_workgroup_invocations;
    uint32_t max_workgroup_size[3];
    uint32_t max_workgroup_count[3];
    uint32_t max_push_constants_bytes;
    uint64_t max_storage_buffer_range; /* bytes; vkstruct's buffers are not limited by it */
    uint64_t max_memory_allocation_bytes;
    uint64_t max_buffer_bytes;
    uint64_t device_local_bytes; /* largest device-local heap */
    double timestamp_period_ns;
} vks_device_info;

/* Output structs: the macros only set struct_size (designated initializers; C++ < 20 uses
 * vks_struct_init). */
#define VKS_DEVICE_INFO_INIT {.struct_size = sizeof(vks_device_info)}

/* ---- struct defaults and the struct_size rule ------------------------------------ */

/* One value per public struct with a leading struct_size. Values are ABI: append only. */
typedef enum vks_struct_type {
    VKS_STRUCT_CONTEXT_OPTIONS = 1,        /* vks_context_options */
    VKS_STRUCT_TUNING = 2,                 /* vks_tuning */
    VKS_STRUCT_GEMM_DESC = 3,              /* vks_gemm_desc */
    VKS_STRUCT_VULKAN_DEVICE = 4,          /* vks_vulkan_device */
    VKS_STRUCT_DEVICE_INFO = 5,            /* vks_device_info (output) */
    VKS_STRUCT_CONTEXT_STATS = 6,          /* vks_context_stats (output) */
    VKS_STRUCT_DEVICE_PEAKS = 7,           /* vks_device_peaks (output) */
    VKS_STRUCT_BLOCKDIAG_DESC = 8,         /* vks_blockdiag_desc */
    VKS_STRUCT_BLOCKDIAG_BACKWARD_DESC = 9, /* vks_blockdiag_backward_desc */
    VKS_STRUCT_MONARCH_DESC = 10,          /* vks_monarch_desc */
    VKS_STRUCT_MONARCH_BACKWARD_DESC = 11, /* vks_monarch_backward_desc */
    VKS_STRUCT_MONARCH_PROJECT_DESC = 12,  /* vks_monarch_project_desc */
    VKS_STRUCT_MONARCH_PROJECT_RESULT = 13, /* vks_monarch_project_result (output) */
    VKS_STRUCT_LORA_DESC = 14,             /* vks_lora_desc */
    VKS_STRUCT_LORA_ADAPTERS = 15,         /* vks_lora_adapters */
    VKS_STRUCT_LORA_MULTI_DESC = 16,       /* vks_lora_multi_desc */
    VKS_STRUCT_RANDLORA_DESC = 17,         /* vks_randlora_desc */
    VKS_STRUCT_EIGH_OPTIONS = 18,          /* vks_eigh_options */
    VKS_STRUCT_CHOLESKY_OPTIONS = 19,      /* vks_cholesky_options */
    VKS_STRUCT_NEWTON_SCHULZ_OPTIONS = 20, /* vks_newton_schulz_options */
    VKS_STRUCT_AUON_OPTIONS = 21,          /* vks_auon_options */
    VKS_STRUCT_CHOLQR_OPTIONS = 22,        /* vks_cholqr_options */
    VKS_STRUCT_KERNEL_DESC = 23,           /* vks_kernel_desc */
    VKS_STRUCT_KRON_EIGH_DESC = 24,        /* vks_kron_eigh_desc */
    VKS_STRUCT_KRON_SOLVE_DESC = 25,       /* vks_kron_solve_desc */
    VKS_STRUCT_KRON_CHOLESKY_DESC = 26,    /* vks_kron_cholesky_desc */
    VKS_STRUCT_KRON_PDE_DESC = 27,         /* vks_kron_pde_desc */
    VKS_STRUCT_KRON_PDE_LEARN_DESC = 28    /* vks_kron_pde_learn_desc */
} vks_struct_type;

typedef vks_status vks_struct_init_fn(vks_struct_type type, void *s, size_t struct_size);
/* Writes the library's defaults for `type` into the first struct_size bytes of s (the
 * caller's sizeof; the bytes past the library's own size are left as they were) and sets
 * s->struct_size to the number of bytes written, min(struct_size, the library's size).
 * Output structs get zeros. Bindings use this instead of copying the _INIT macros.
 *
 * The struct_size rule, the same at every entry point:
 *  - any struct_size from the struct's first released size up is accepted;
 *  - input structs: the fields past the caller's struct_size take their defaults, and the
 *    bytes past the library's size (a newer caller) are ignored;
 *  - output structs are written up to min(struct_size, the library's size) bytes and no
 *    further; their struct_size is set to that count;
 *  - a struct_size below the first released size (0 from a zero-filled struct included)
 *    is VKS_ERROR_INVALID_ARGUMENT naming the function, the argument, its struct_size and
 *    the minimum. */
VKS_API vks_struct_init_fn vks_struct_init;

/* ---- errors --------------------------------------------------------------------------- */

typedef const char *vks_status_string_fn(vks_status status);
/* The name of a status, e.g. "VKS_ERROR_SHAPE_MISMATCH: shapes do not agree". */
VKS_API vks_status_string_fn vks_status_string;

typedef const char *vks_last_error_fn(const vks_context *ctx);
/* The message of the calling thread's last failed call ("" when none). Messages are kept
 * per thread, not per context; ctx may be NULL (e.g. after vks_context_create failed). */
VKS_API vks_last_error_fn vks_last_error;

/* ---- devices -------------------------------------------------------------------------- */

typedef vks_status vks_probe_fn(uint32_t *usable_devices);
/* Counts the usable devices without creating a context (0 is not an error). */
VKS_API vks_probe_fn vks_probe;

typedef vks_status vks_enumerate_devices_fn(vks_device_info *infos, uint32_t capacity,
                                            uint32_t *count);
/* Fills up to `capacity` infos (each with struct_size set by the caller; infos may be
 * NULL when capacity is 0) and sets *count to the number of devices. */
VKS_API vks_enumerate_devices_fn vks_enumerate_devices;

/* ---- contexts ------------------------------------------------------------------------- */

typedef enum vks_message_severity {
    VKS_MESSAGE_INFO = 0,
    VKS_MESSAGE_WARNING = 1,
    VKS_MESSAGE_ERROR = 2
} vks_message_severity;

typedef enum vks_message_source {
    VKS_SOURCE_VALIDATION = 0, /* VK_LAYER_KHRONOS_validation (VKS_CONTEXT_VALIDATION) */
    VKS_SOURCE_LIBRARY = 1     /* vkstruct itself: pipeline-cache notices, the VKS_PROFILE table */
} vks_message_source;

/* Receives validation-layer messages and vkstruct's own notices. Called from whichever
 * thread caused the message; must not call back into the context. */
typedef void (*vks_message_fn)(void *user, vks_message_source source, vks_message_severity severity,
                               const char *message);

enum {
    VKS_CONTEXT_VALIDATION = 1u << 0,       /* enable VK_LAYER_KHRONOS_validation */
    VKS_CONTEXT_PROFILING = 1u << 1,        /* timestamp every op (vks_profile_get) */
    VKS_CONTEXT_NO_PIPELINE_CACHE = 1u << 2, /* neither load nor save the pipeline cache */
    /* Choose kernels as for a GPU even on a CPU device: lets lavapipe (CI) check the
     * kernels that GPUs run. Slower there; results are the same to rounding. An alias of
     * vks_tuning.kernels = VKS_KERNELS_GPU (see below). */
    VKS_CONTEXT_GPU_KERNELS = 1u << 3
};

/* ---- per-context tuning ------------------------------------------------------------------
 * The kernel choices a context makes, fixed when it is created: every op reads them from
 * its context, none from the environment, so two contexts of one process can be tuned
 * differently. Every field's zero value (AUTO / 0) is the library's own choice, the one
 * the measurements made (docs/bench/h100-notes.md): hosts leave them there; the other
 * values are for tests, comparisons and tuning on new hardware.
 *
 * Where the values come from, for each field, first match wins:
 *   1. options->tuning, a field the caller set to something other than its zero value;
 *   2. options->flags: VKS_CONTEXT_GPU_KERNELS means kernels = VKS_KERNELS_GPU;
 *   3. the environment at vks_context_create (unless options->tuning->flags has
 *      VKS_TUNING_NO_ENVIRONMENT), one variable per field, with the syntax of the table:
 *        VKS_KERNELS=auto|cpu|gpu                 kernels (VKS_MONARCH_KERNELS: the old
 *                                                 name, read when VKS_KERNELS is unset)
 *        VKS_MONARCH_COOPMAT=0|1|emulate          monarch_coopmat = OFF / ON / EMULATE
 *        VKS_MONARCH_GROUPED=0|1                  monarch_grouped = OFF / ON
 *        VKS_GEMM_TILED=bm,bn,bk,tm,tn,nbuf,col4  gemm_tiled
 *        VKS_LOWRANK_SPLITK=0|emulate|fma|<n>     lowrank_splitk = OFF / EMULATE / FMA, or
 *                                                 lowrank_splitk_slices = n (n >= 1)
 *        VKS_LOWRANK_SPLITK_TILE=nw,fn,u,kstage   lowrank_splitk_tile
 *        VKS_EIGH_REDUCTION=auto|host|device      eigh_reduction
 *      A value that does not parse, or a tile the kernel cannot take, is ignored (with a
 *      VKS_MESSAGE_WARNING to the context's message callback);
 *   4. the zero value: the library's choice.
 * vks_context_get_tuning reads back the result. Values the caller sets are checked:
 * an unknown enum value or a tile the kernel cannot take is VKS_ERROR_INVALID_ARGUMENT.
 * Tiles that are well formed but do not fit the device (shared memory, workgroup size)
 * are ignored where they do not fit, op by op. */

enum {
    /* Read nothing from the environment: fields left at zero take the library's choice. */
    VKS_TUNING_NO_ENVIRONMENT = 1u << 0
};

/* Which kernel family every op family runs (GEMM, Monarch, low-rank, orthogonal, Kronecker). */
typedef enum vks_kernel_family {
    VKS_KERNELS_AUTO = 0, /* by device type: CPU kernels on CPU devices (lavapipe), GPU kernels elsewhere */
    VKS_KERNELS_CPU = 1,  /* the CPU kernels (subgroup-shuffle register tiles) on any device */
    VKS_KERNELS_GPU = 2   /* the GPU kernels (shared-memory tiles) on any device; lavapipe runs them in CI */
} vks_kernel_family;

/* Monarch's f16 block-diagonal products on tensor cores (VK_NV_cooperative_matrix). */
typedef enum vks_coopmat_mode {
    VKS_COOPMAT_AUTO = 0,   /* where it measured faster: products of at most 256 rows per block */
    VKS_COOPMAT_OFF = 1,    /* never */
    VKS_COOPMAT_ON = 2,     /* every f16 product, where the device has tensor cores */
    VKS_COOPMAT_EMULATE = 3 /* the same tiles with emulated fragments on any f16 device (tests) */
} vks_coopmat_mode;

/* An opt-in kernel: AUTO is the library's choice (today: off). */
typedef enum vks_tuning_switch {
    VKS_TUNING_AUTO = 0,
    VKS_TUNING_OFF = 1,
    VKS_TUNING_ON = 2
} vks_tuning_switch;

/* The split-K LoRA decode path (docs/lowrank.md). */
typedef enum vks_splitk_mode {
    VKS_SPLITK_AUTO = 0,    /* on tensor cores, f16, one adapter, up to 64 rows */
    VKS_SPLITK_OFF = 1,     /* never: the general kernels take every call */
    VKS_SPLITK_EMULATE = 2, /* with emulated fragments on any f16 device (tests) */
    VKS_SPLITK_FMA = 3      /* the split pass on FMA units, f32 and f16, any device */
} vks_splitk_mode;

/* A tile of the GPU GEMM kernel (shaders/gemm_tiled.comp): bm x bn per workgroup, tm x tn
 * per invocation, bk terms a step, nbuf shared buffers (1 or 2), col4: an invocation's
 * columns in runs of 4 (0 or 1). All zero: the library's tiles. */
typedef struct vks_gemm_tile {
    uint32_t bm, bn, bk, tm, tn, nbuf, col4;
} vks_gemm_tile;

/* A tile of the split-K LoRA pass: nw subgroups per workgroup, fn 16-column fragments per
 * subgroup, u k steps of 16 per batch of W, kstage values of k per shared stage of x.
 * All zero: the library's tile. */
typedef struct vks_splitk_tile {
    uint32_t nw, fn, u, kstage;
} vks_splitk_tile;

/* Where vks_eigh's tridiagonal method reduces the matrix to tridiagonal form. */
typedef enum vks_eigh_reduction {
    VKS_EIGH_REDUCTION_AUTO = 0,  /* the library's choice: today the host (measured faster on lavapipe;
                                     not yet measured on a GPU) */
    VKS_EIGH_REDUCTION_HOST = 1,  /* LAPACK's dsytrd on the host */
    VKS_EIGH_REDUCTION_DEVICE = 2 /* the blocked reduction on the device (GEMM trailing updates) */
} vks_eigh_reduction;

typedef struct vks_tuning {
    size_t struct_size;                 /* sizeof(vks_tuning) */
    uint32_t flags;                     /* VKS_TUNING_NO_ENVIRONMENT */
    vks_kernel_family kernels;          /* $VKS_KERNELS; VKS_CONTEXT_GPU_KERNELS */
    vks_coopmat_mode monarch_coopmat;   /* $VKS_MONARCH_COOPMAT */
    vks_tuning_switch monarch_grouped;  /* $VKS_MONARCH_GROUPED: the grouped block-batched kernel
                                           for every product of the GPU kernels (docs/monarch.md) */
    vks_gemm_tile gemm_tiled;           /* $VKS_GEMM_TILED; used on the GPU kernels' f32/f16/f64 path */
    vks_splitk_mode lowrank_splitk;     /* $VKS_LOWRANK_SPLITK */
    uint32_t lowrank_splitk_slices;     /* $VKS_LOWRANK_SPLITK=<n>: k slices; 0: chosen per shape */
    vks_splitk_tile lowrank_splitk_tile; /* $VKS_LOWRANK_SPLITK_TILE */
    vks_eigh_reduction eigh_reduction;  /* $VKS_EIGH_REDUCTION: where the tridiagonal eigensolver's
                                           Householder reduction runs (docs/orthogonal.md) */
} vks_tuning;

#define VKS_TUNING_INIT                                                                               \
    {sizeof(vks_tuning), 0u, VKS_KERNELS_AUTO, VKS_COOPMAT_AUTO, VKS_TUNING_AUTO, {0u, 0u, 0u, 0u, 0u, 0u, 0u}, \
     VKS_SPLITK_AUTO, 0u, {0u, 0u, 0u, 0u}, VKS_EIGH_REDUCTION_AUTO}

/* A host's own Vulkan objects, for a context that creates no instance or device of its
 * own and destroys nothing it did not create. Handles are passed without <vulkan.h>:
 * dispatchable ones as pointers, VkBuffer as uint64_t. The host must have enabled on
 * `device`: Vulkan 1.2's bufferDeviceAddress and shaderInt64, plus whatever optional
 * vks_feature bits it lists in `enabled_features` (e.g. VKS_FEATURE_STORAGE16 for f16).
 * The host must not use `queue` concurrently with vkstruct calls on this context. */
typedef struct vks_vulkan_device {
    size_t struct_size;
    void *instance;        /* VkInstance */
    void *physical_device; /* VkPhysicalDevice */
    void *device;          /* VkDevice */
    void *queue;           /* VkQueue with compute support */
    uint32_t queue_family_index;
    uint32_t enabled_features; /* vks_feature bits enabled on `device` */
    /* PFN_vkGetInstanceProcAddr of the host's loader; NULL = libvulkan.so.1's. */
    void (*(*get_instance_proc_addr)(void *instance, const char *name))(void);
} vks_vulkan_device;

#define VKS_VULKAN_DEVICE_INIT {sizeof(vks_vulkan_device), NULL, NULL, NULL, NULL, 0u, 0u, NULL}

typedef struct vks_context_options {
    size_t struct_size;         /* sizeof(vks_context_options) */
    int32_t device_index;       /* >= 0: this device; -1: not set */
    const char *device_name;    /* case-insensitive substring; NULL: not set */
    uint32_t flags;             /* VKS_CONTEXT_* */
    const char *cache_dir;      /* NULL: $VKS_CACHE_DIR, else $XDG_CACHE_HOME/vkstruct */
    vks_message_fn message_callback;
    void *message_user;
    const vks_vulkan_device *vulkan; /* non-NULL: use the host's device (see above) */
    const vks_tuning *tuning;        /* kernel choices; NULL: the environment's, else the library's (vks_tuning) */
} vks_context_options;

#define VKS_CONTEXT_OPTIONS_INIT {sizeof(vks_context_options), -1, NULL, 0u, NULL, NULL, NULL, NULL, NULL}

typedef vks_status vks_context_create_fn(const vks_context_options *options, vks_context **out);
/* Creates a context on one device. Device choice: options->device_index >
 * options->device_name > $VKS_DEVICE > best type (discrete > integrated > virtual > cpu).
 * options may be NULL (all defaults). */
VKS_API vks_context_create_fn vks_context_create;

typedef vks_status vks_context_destroy_fn(vks_context *ctx);
/* Waits for pending work, saves the pipeline cache, destroys every buffer still alive
 * and everything the context created. NULL is a no-op. Calls on other threads that are
 * already inside a function of this context (or waiting for it) finish first; a call
 * that starts after the destroy has returned uses freed memory, and a destroy from inside
 * one of the context's own callbacks would wait for itself (do not). */
VKS_API vks_context_destroy_fn vks_context_destroy;

typedef vks_status vks_context_get_device_info_fn(const vks_context *ctx, vks_device_info *info);
VKS_API vks_context_get_device_info_fn vks_context_get_device_info;

typedef vks_status vks_context_get_tuning_fn(const vks_context *ctx, vks_tuning *tuning);
/* The context's tuning, as vks_context_create settled it (caller, flags, environment; fields
 * still at AUTO / 0 are the library's choice, made per device and op). An output struct
 * under the struct_size rule (vks_struct_init): written up to min(tuning->struct_size,
 * sizeof(vks_tuning)) bytes and no further. */
VKS_API vks_context_get_tuning_fn vks_context_get_tuning;

typedef struct vks_context_stats {
    size_t struct_size;
    uint64_t device_bytes_in_use;   /* sub-allocated to live buffers */
    uint64_t device_bytes_reserved; /* in VkDeviceMemory blocks */
    uint32_t memory_blocks;
    uint32_t live_buffers;
    uint32_t pipelines;                  /* created so far */
    uint64_t pipeline_cache_loaded_bytes; /* 0 when no valid cache file was found */
    uint64_t submits;
    uint64_t validation_messages; /* warnings and errors from the validation layer */
} vks_context_stats;

#define VKS_CONTEXT_STATS_INIT {.struct_size = sizeof(vks_context_stats)}

typedef vks_status vks_context_get_stats_fn(const vks_context *ctx, vks_context_stats *stats);
VKS_API vks_context_get_stats_fn vks_context_get_stats;

typedef vks_status vks_context_save_pipeline_cache_fn(vks_context *ctx);
/* Writes the pipeline cache now (atomically); destroy does this too. */
VKS_API vks_context_save_pipeline_cache_fn vks_context_save_pipeline_cache;

typedef vks_status vks_synchronize_fn(vks_context *ctx);
/* Submits everything recorded and waits for it. */
VKS_API vks_synchronize_fn vks_synchronize;

typedef vks_status vks_begin_external_recording_fn(vks_context *ctx, void *command_buffer);
/* From now on ops are appended to the host's VkCommandBuffer (in the recording state),
 * with the barriers they need before and after; the host submits it. Buffer reads and
 * writes still go through the context's own queue and are not ordered with it. */
VKS_API vks_begin_external_recording_fn vks_begin_external_recording;

typedef vks_status vks_end_external_recording_fn(vks_context *ctx);
VKS_API vks_end_external_recording_fn vks_end_external_recording;

/* ---- buffers -------------------------------------------------------------------------- */

typedef vks_status vks_buffer_create_fn(vks_context *ctx, uint64_t size_bytes, vks_buffer **out);
/* Device memory, sub-allocated from large blocks; any size up to the device's
 * maxMemoryAllocationSize, also beyond maxStorageBufferRange. Contents undefined. */
VKS_API vks_buffer_create_fn vks_buffer_create;

typedef vks_status vks_buffer_wrap_fn(vks_context *ctx, uint64_t vk_buffer, uint64_t size_bytes,
                                      vks_buffer **out);
/* Uses a host's VkBuffer (created with STORAGE_BUFFER | SHADER_DEVICE_ADDRESS usage, and
 * TRANSFER_SRC/DST for reads and writes) in place; destroying the wrapper leaves it. */
VKS_API vks_buffer_wrap_fn vks_buffer_wrap;

typedef vks_status vks_buffer_destroy_fn(vks_buffer *buf);
/* Waits for pending work that may use it. NULL is a no-op. */
VKS_API vks_buffer_destroy_fn vks_buffer_destroy;

typedef vks_status vks_buffer_get_size_fn(const vks_buffer *buf, uint64_t *size_bytes);
VKS_API vks_buffer_get_size_fn vks_buffer_get_size;

typedef vks_status vks_buffer_get_vulkan_fn(const vks_buffer *buf, uint64_t *vk_buffer,
                                            uint64_t *device_address);
/* The VkBuffer and its device address, for hosts that use it in their own pipelines. */
VKS_API vks_buffer_get_vulkan_fn vks_buffer_get_vulkan;

typedef vks_status vks_buffer_write_fn(vks_buffer *dst, uint64_t offset, const void *src,
                                       uint64_t size_bytes);
/* Copies host memory into the buffer, ordered with recorded ops; `src` may be reused as
 * soon as the call returns (it is staged through a reusable ring). */
VKS_API vks_buffer_write_fn vks_buffer_write;

typedef vks_status vks_buffer_read_fn(vks_buffer *src, uint64_t offset, void *dst,
                                      uint64_t size_bytes);
/* Runs everything recorded so far, then copies the bytes to host memory. */
VKS_API vks_buffer_read_fn vks_buffer_read;

typedef vks_status vks_buffer_copy_fn(vks_buffer *src, uint64_t src_offset, vks_buffer *dst,
                                      uint64_t dst_offset, uint64_t size_bytes);
/* Records a device copy (regions may be in the same buffer but must not overlap). */
VKS_API vks_buffer_copy_fn vks_buffer_copy;

typedef vks_status vks_buffer_fill_fn(vks_buffer *dst, uint64_t offset, uint64_t size_bytes,
                                      uint32_t pattern);
/* Records a fill with a repeated 32-bit pattern; offset and size multiples of 4. */
VKS_API vks_buffer_fill_fn vks_buffer_fill;

/* ---- tensors -------------------------------------------------------------------------- */

#define VKS_MAX_DIMS 4

/* The fields of DLPack's DLTensor, by value: shape[i] elements along dim i, strides[i]
 * elements between neighbours along it (stride 0 broadcasts). Dims past ndim ignored. */
typedef struct vks_tensor {
    vks_buffer *buffer;
    uint64_t byte_offset;
    vks_dtype dtype;
    int32_t ndim;
    int64_t shape[VKS_MAX_DIMS];
    int64_t strides[VKS_MAX_DIMS];
} vks_tensor;

/* A compact row-major tensor (no validation here; ops validate). */
static inline vks_tensor vks_tensor_make(vks_buffer *buffer, uint64_t byte_offset, vks_dtype dtype,
                                         int32_t ndim, const int64_t *shape) {
    vks_tensor t = {buffer, byte_offset, dtype, ndim, {0, 0, 0, 0}, {0, 0, 0, 0}};
    int64_t stride = 1;
    for (int32_t i = (ndim > VKS_MAX_DIMS ? VKS_MAX_DIMS : ndim) - 1; i >= 0; --i) {
        t.shape[i] = shape[i];
        t.strides[i] = stride;
        stride *= shape[i];
    }
    return t;
}

static inline vks_tensor vks_tensor_1d(vks_buffer *b, vks_dtype dt, int64_t n) {
    return vks_tensor_make(b, 0, dt, 1, &n);
}
static inline vks_tensor vks_tensor_2d(vks_buffer *b, vks_dtype dt, int64_t rows, int64_t cols) {
    int64_t s[2] = {rows, cols};
    return vks_tensor_make(b, 0, dt, 2, s);
}
static inline vks_tensor vks_tensor_3d(vks_buffer *b, vks_dtype dt, int64_t d0, int64_t d1,
                                       int64_t d2) {
    int64_t s[3] = {d0, d1, d2};
    return vks_tensor_make(b, 0, dt, 3, s);
}

typedef vks_status vks_dtype_size_fn(vks_dtype dtype, size_t *bytes);
VKS_API vks_dtype_size_fn vks_dtype_size;

typedef vks_status vks_tensor_from_dlpack_fn(vks_context *ctx, const DLTensor *src, vks_tensor *out,
                                             vks_buffer **owned);
/* kDLCPU: uploads the tensor's bytes into a new buffer returned in *owned (destroy it
 * when done). kDLVulkan: `data` must be a vks_buffer* of this context, used in place
 * (*owned = NULL). Supported: float16/32/64, bfloat16, int32/64; lanes 1; ndim <= 4. */
VKS_API vks_tensor_from_dlpack_fn vks_tensor_from_dlpack;

typedef vks_status vks_tensor_to_dlpack_fn(const vks_tensor *t, DLManagedTensor **out);
/* Exports t as a DLManagedTensor in the convention vks_tensor_from_dlpack imports in place:
 * device {kDLVulkan, the device's vks_enumerate_devices index (0 for a host's device)},
 * data = t->buffer (the vks_buffer*), byte_offset, dtype, shape and strides (elements) copied
 * into the managed tensor, which owns that memory. Call its deleter exactly once when done.
 * Lifetime: the export holds a reference on the buffer. vks_buffer_destroy while exports
 * are alive only drops the creator's reference (a second call is INVALID_ARGUMENT): the
 * buffer stays usable through the exports and is destroyed by the last deleter (after the
 * work recorded on it). vks_context_destroy (and vks_shutdown) destroy every buffer anyway
 * and detach the exports: their data is then dangling and must not be used, and their
 * deleters only free the export's own memory. Deleters may run on any thread, but not after
 * the library is dlclose()d. The installed dlpack.h (0.x) has no DLManagedTensorVersioned. */
VKS_API vks_tensor_to_dlpack_fn vks_tensor_to_dlpack;

/* ---- profiling ------------------------------------------------------------------------ */

typedef struct vks_profile_entry {
    const char *op;   /* static string, e.g. "gemm", "monarch_forward" */
    uint64_t sequence; /* order in which ops were recorded on this context */
    double gpu_ms;    /* from timestamp queries: end of previous work to end of this op */
    uint32_t dispatches;
} vks_profile_entry;

typedef vks_status vks_profile_get_fn(vks_context *ctx, vks_profile_entry *entries,
                                      size_t capacity, size_t *count);
/* With VKS_CONTEXT_PROFILING (or VKS_PROFILE=1): the timed ops of every synchronize since
 * the last vks_profile_clear, oldest first. *count = how many there are. */
VKS_API vks_profile_get_fn vks_profile_get;

typedef vks_status vks_profile_clear_fn(vks_context *ctx);
VKS_API vks_profile_clear_fn vks_profile_clear;

/* ---- dense GEMM ----------------------------------------------------------------------- */

typedef enum vks_transpose { VKS_NO_TRANS = 0, VKS_TRANS = 1 } vks_transpose;

typedef enum vks_activation {
    VKS_ACT_NONE = 0,
    VKS_ACT_RELU = 1,
    VKS_ACT_GELU_TANH = 2, /* 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))) */
    VKS_ACT_GELU_ERF = 3   /* 0.5x(1 + erf(x/sqrt(2))), torch's default GELU */
} vks_activation;

typedef vks_status vks_gemm_fn(vks_context *ctx, vks_transpose trans_a, vks_transpose trans_b,
                               double alpha, const vks_tensor *a, const vks_tensor *b, double beta,
                               const vks_tensor *c);
/* C = alpha * op(A) * op(B) + beta * C. Rank-2 tensors, or rank-3 for a strided batch
 * (dim 0 is the batch; a batch stride of 0 broadcasts). A tensor whose rows are
 * contiguous (strides {1, ld}) is read as the transpose of its shape. With beta == 0, C
 * is not read (NaN in C does not propagate). dtypes: all f32, all f16 (f32 accumulate;
 * needs VKS_FEATURE_STORAGE16) or all f64 (needs VKS_FEATURE_FLOAT64). */
VKS_API vks_gemm_fn vks_gemm;

typedef struct vks_gemm_desc {
    size_t struct_size; /* sizeof(vks_gemm_desc) */
    vks_transpose trans_a;
    vks_transpose trans_b;
    double alpha;
    double beta;
    const vks_tensor *a;
    const vks_tensor *b;
    const vks_tensor *c;
    const vks_tensor *bias; /* optional, N values added to every row, same dtype as C */
    vks_activation activation;
} vks_gemm_desc;

#define VKS_GEMM_DESC_INIT {sizeof(vks_gemm_desc), VKS_NO_TRANS, VKS_NO_TRANS, 1.0, 0.0, NULL, NULL, NULL, NULL, VKS_ACT_NONE}

typedef vks_status vks_gemm_ex_fn(vks_context *ctx, const vks_gemm_desc *desc);
/* C = act(alpha * op(A) * op(B) + beta * C + bias), in one pass over C. */
VKS_API vks_gemm_ex_fn vks_gemm_ex;

/* ---- device peaks (for benchmarks) ------------------------------------------------- */

typedef struct vks_device_peaks {
    size_t struct_size;
    double copy_gbps;      /* device-to-device copy kernel, bytes read + written per second */
    double fma_gflops_f32; /* dependent-chain-free FMA kernel, 2 flops per FMA */
    double fma_gflops_f16; /* 0 when f16 arithmetic is unavailable */
    double fma_gflops_f64; /* 0 when f64 is unavailable */
    double mma_gflops_f16; /* f16 x f16 + f32 on matrix units (cooperative matrices); 0: none */
} vks_device_peaks;

#define VKS_DEVICE_PEAKS_INIT {.struct_size = sizeof(vks_device_peaks)}

typedef vks_status vks_measure_peaks_fn(vks_context *ctx, vks_device_peaks *peaks);
/* Measures the device's copy bandwidth, FMA rates and (where vkstruct uses them) matrix-unit
 * rate with timestamp queries (~1 s). Public on purpose: these are the denominators of
 * vks-bench's efficiency figures, and a host can size its own roofline with them. */
VKS_API vks_measure_peaks_fn vks_measure_peaks;

/* ---- the list of every public function, for the plugin table ----------------------- */

/* The core functions (membership only: the plugin table's order is VKS_PLUGIN_FUNCTIONS in
 * plugin.h, where a new function is appended too). */
#define VKS_CORE_FUNCTIONS(X)                                                            \
    X(vks_probe)                                                                         \
    X(vks_status_string)                                                                 \
    X(vks_last_error)                                                                    \
    X(vks_enumerate_devices)                                                             \
    X(vks_context_create)                                                                \
    X(vks_context_destroy)                                                               \
    X(vks_context_get_device_info)                                                       \
    X(vks_context_get_stats)                                                             \
    X(vks_context_save_pipeline_cache)                                                   \
    X(vks_synchronize)                                                                   \
    X(vks_begin_external_recording)                                                      \
    X(vks_end_external_recording)                                                        \
    X(vks_buffer_create)                                                                 \
    X(vks_buffer_wrap)                                                                   \
    X(vks_buffer_destroy)                                                                \
    X(vks_buffer_get_size)                                                               \
    X(vks_buffer_get_vulkan)                                                             \
    X(vks_buffer_write)                                                                  \
    X(vks_buffer_read)                                                                   \
    X(vks_buffer_copy)                                                                   \
    X(vks_buffer_fill)                                                                   \
    X(vks_dtype_size)                                                                    \
    X(vks_tensor_from_dlpack)                                                            \
    X(vks_tensor_to_dlpack)                                                              \
    X(vks_profile_get)                                                                   \
    X(vks_profile_clear)                                                                 \
    X(vks_gemm)                                                                          \
    X(vks_gemm_ex)                                                                       \
    X(vks_measure_peaks)                                                                 \
    X(vks_get_proc_address)                                                              \
    X(vks_shutdown)                                                                      \
    X(vks_struct_init)                                                                   \
    X(vks_context_get_tuning)

typedef void (*vks_proc)(void);
typedef vks_proc vks_get_proc_address_fn(const char *name);
/* Any public function by name ("vks_gemm"), NULL when unknown. */
VKS_API vks_get_proc_address_fn vks_get_proc_address;

typedef vks_status vks_shutdown_fn(void);
/* Destroys every context still alive and releases all global state (the Vulkan loader
 * library included), after which the library can be dlclose()d. Safe to call twice;
 * a later vks_context_create() starts afresh. */
VKS_API vks_shutdown_fn vks_shutdown;

#ifdef __cplusplus
}
#endif

/* The op families. Each header lists its functions in VKS_<FAMILY>_FUNCTIONS(X). */
#include "vkstruct/monarch.h"
#include "vkstruct/lowrank.h"
#include "vkstruct/orthogonal.h"
#include "vkstruct/kron.h"

#endif /* VKSTRUCT_VKSTRUCT_H */
