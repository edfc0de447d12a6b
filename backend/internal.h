/*
 * Private to the backend: the structs behind the opaque handles and the helpers every
 * backend file shares. Never installed.
 *
 * Locking: every public entry point that touches a context takes ctx->lock for its
 * whole duration (vks__lock/vks__unlock); functions named vks__*_locked expect it held.
 * The lock is recursive and op regions nest. Public op entry points go through one prologue,
 * vks__op_run (op.c). Ops compose through each other's internal recorders (vks__gemm_record,
 * vks__eigh_record, vks__cholesky_record, vks__trsm_record, ...), never by calling public
 * vks_* functions from inside an op.
 */
#ifndef VKS_INTERNAL_H
#define VKS_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <volk.h>

#include "vks_shaders.h"
#include "vkstruct/vkstruct.h"

#define VKS_COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))
#define VKS_MIN(a, b) ((a) < (b) ? (a) : (b))
#define VKS_MAX(a, b) ((a) > (b) ? (a) : (b))
#define VKS_CEIL_DIV(a, b) (((a) + (b)-1) / (b))

/* Every kernel gets its arguments as push constants: buffer device addresses plus
 * sizes. 128 bytes is the minimum every Vulkan device guarantees (lavapipe's limit). */
#define VKS_PUSH_CONSTANT_BYTES 128u
#define VKS_MAX_SPEC_CONSTANTS 16u

/* ---- host memory (alloc.c) -------------------------------------------------------------- */

/* Every host allocation of the backend goes through these, so a test can make the Nth one
 * fail (vks__alloc_fail_at) and check that each path returns a status and leaks nothing. */
void *vks__malloc(size_t size);
void *vks__calloc(size_t count, size_t size);
void *vks__realloc(void *ptr, size_t size);
void vks__free(void *ptr);
/* Test hook, never exported from the shared library (hidden like every vks__ name): the
 * n-th allocation from now fails (n >= 1), and with `repeat` every one after it too;
 * n = 0 disarms. Returns how many allocations failed since the previous call. */
long vks__alloc_fail_at(long n, bool repeat);

/* ---- errors (error.c) ----------------------------------------------------------------- */

/* Stores a formatted message for vks_last_error() and returns `status`. */
vks_status vks__error(vks_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A status from internal code, its message led by the public function `fn` when it does
 * not already start with a public name ("vks_..."): every message names its entry point. */
vks_status vks__error_in(const char *fn, vks_status status);
/* Maps a failed VkResult to a status with a message naming the call. */
vks_status vks__vk_error(VkResult result, const char *what);
const char *vks__vk_result_name(VkResult result);

#define VKS_TRY(expr)                                                                     \
    do {                                                                                  \
        vks_status vks_try_status_ = (expr);                                              \
        if (vks_try_status_ != VKS_OK) return vks_try_status_;                            \
    } while (0)

#define VKS_TRY_VK(call, what)                                                            \
    do {                                                                                  \
        VkResult vks_try_result_ = (call);                                                \
        if (vks_try_result_ != VK_SUCCESS) return vks__vk_error(vks_try_result_, what);  \
    } while (0)

/* ---- public structs: the struct_size rule (struct.c) ------------------------------------ */

/* The one struct_size rule (vkstruct.h, vks_struct_init) every entry point applies. Messages
 * name `fn`, the argument `arg` ("desc", "options", "infos[2]"), its struct_size and the
 * first released size.
 *   vks__struct_check:  user non-NULL and struct_size >= the first released size.
 *   vks__struct_in:     checks, then fills *copy (the library's full struct) with the defaults
 *                       and the caller's prefix over them; copy->struct_size = sizeof. Ops use
 *                       the copy, never the caller's struct, past this point.
 *   vks__struct_in_or_defaults: the same, but user == NULL gives the defaults.
 *   vks__struct_out:    checks, then writes the first min(struct_size, sizeof) bytes of the
 *                       library's *full into *user and sets user->struct_size to that count. */
vks_status vks__struct_check(const char *fn, const char *arg, vks_struct_type type, const void *user);
vks_status vks__struct_in(const char *fn, const char *arg, vks_struct_type type, const void *user, void *copy);
vks_status vks__struct_in_or_defaults(const char *fn, const char *arg, vks_struct_type type, const void *user,
                                      void *copy);
vks_status vks__struct_out(const char *fn, const char *arg, vks_struct_type type, void *user, const void *full);
/* The first released size and this library's size of a struct type (0 when unknown). */
size_t vks__struct_first_size(vks_struct_type type);
size_t vks__struct_size(vks_struct_type type);

/* ---- global state (loader.c) ------------------------------------------------------------ */

/* Loads libvulkan (once per process until vks_shutdown) and volk's global functions. */
vks_status vks__loader_acquire(PFN_vkGetInstanceProcAddr custom);
/* Registry of live contexts, so vks_shutdown can destroy the ones left behind. */
void vks__register_context(vks_context *ctx);
void vks__unregister_context(vks_context *ctx);

/* Instance-level functions, per instance: never through volk's globals, so several
 * contexts (and a host's own instance) do not race on them. */
typedef struct vks_instance_fns {
    PFN_vkDestroyInstance DestroyInstance;
    PFN_vkEnumeratePhysicalDevices EnumeratePhysicalDevices;
    PFN_vkGetPhysicalDeviceProperties2 GetPhysicalDeviceProperties2;
    PFN_vkGetPhysicalDeviceFeatures2 GetPhysicalDeviceFeatures2;
    PFN_vkGetPhysicalDeviceMemoryProperties GetPhysicalDeviceMemoryProperties;
    PFN_vkGetPhysicalDeviceQueueFamilyProperties GetPhysicalDeviceQueueFamilyProperties;
    PFN_vkEnumerateDeviceExtensionProperties EnumerateDeviceExtensionProperties;
    PFN_vkCreateDevice CreateDevice;
    PFN_vkGetDeviceProcAddr GetDeviceProcAddr;
    PFN_vkCreateDebugUtilsMessengerEXT CreateDebugUtilsMessengerEXT;
    PFN_vkDestroyDebugUtilsMessengerEXT DestroyDebugUtilsMessengerEXT;
    PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV GetPhysicalDeviceCooperativeMatrixPropertiesNV;
} vks_instance_fns;

void vks__load_instance_fns(VkInstance instance, PFN_vkGetInstanceProcAddr gipa,
                            vks_instance_fns *fns);

/* ---- devices (device.c) ------------------------------------------------------------------ */

/* What device.c learns about a physical device, beyond the public vks_device_info. */
typedef struct vks_device_probe {
    vks_device_info info;
    uint32_t compute_queue_family; /* UINT32_MAX: none */
    uint32_t timestamp_valid_bits;
    bool has_ext_subgroup_size_control; /* only needed below Vulkan 1.3 */
    bool has_ext_portability_subset;
    bool has_ext_coopmat_nv;
    bool has_ext_coopmat_khr;
    bool has_vulkan_memory_model; /* needed by shaders using memory scopes (cooperative matrices) */
    bool has_pipeline_stats;      /* VK_KHR_pipeline_executable_properties */
} vks_device_probe;

vks_status vks__probe_physical_device(const vks_instance_fns *fns, VkPhysicalDevice phys,
                                      uint32_t index, vks_device_probe *out);
/* Enumerates and probes every physical device of `instance` (*devs and *probes: the
 * caller frees them with vks__free, also after a failure). */
vks_status vks__probe_all(const vks_instance_fns *f, VkInstance instance, VkPhysicalDevice **devs,
                          vks_device_probe **probes, uint32_t *count);
/* Creates an instance for enumeration or for a context. */
vks_status vks__create_instance(bool validation, vks_context *ctx_for_messages, VkInstance *out,
                                bool *debug_utils);
/* Index into `probes` of the device the options/env choose. */
vks_status vks__choose_device(const vks_device_probe *probes, uint32_t count,
                              const vks_context_options *opts, uint32_t *chosen);
vks_status vks__create_logical_device(vks_context *ctx, const vks_device_probe *probe);
VKAPI_ATTR VkBool32 VKAPI_CALL vks__debug_callback(VkDebugUtilsMessageSeverityFlagBitsEXT sev,
                                                   VkDebugUtilsMessageTypeFlagsEXT types,
                                                   const VkDebugUtilsMessengerCallbackDataEXT *data,
                                                   void *user);

/* ---- memory (memory.c) ------------------------------------------------------------------- */

typedef struct vks_free_range {
    uint64_t offset, size;
    struct vks_free_range *next;
} vks_free_range;

typedef struct vks_mem_block {
    VkDeviceMemory memory;
    uint64_t size;
    uint64_t used;
    uint32_t type_index;
    bool dedicated;
    vks_free_range *free_list; /* sorted by offset, coalesced */
    struct vks_mem_block *next;
} vks_mem_block;

#define VKS_BUFFER_MAGIC 0x766b7362u /* "vksb": catches stale or foreign pointers */

struct vks_buffer {
    uint32_t magic;
    vks_context *ctx;
    VkBuffer buffer;
    VkDeviceAddress address;
    uint64_t size;
    vks_mem_block *block; /* NULL for wrapped host buffers */
    uint64_t block_offset, block_bytes;
    bool wrapped;
    bool internal;
    /* DLPack exports (dlpack.c) hold references: vks_buffer_destroy with references left
     * only marks the buffer released; the last export's deleter destroys it. */
    uint32_t export_refs;
    bool released;
    struct vks_buffer *prev, *next;
    struct vks_buffer *next_retired; /* internal buffers awaiting destruction */
};

vks_status vks__memory_init(vks_context *ctx);
void vks__memory_destroy(vks_context *ctx);
/* Checks that `buf` is a live buffer of `ctx` (or of any context when ctx is NULL). */
vks_status vks__check_buffer(const vks_context *ctx, const vks_buffer *buf, const char *fn,
                             const char *arg);
/* A device buffer; `internal` ones (scratch, parameters, temporaries of an op) are not
 * counted among the user's live buffers. */
vks_status vks__buffer_create_locked(vks_context *ctx, uint64_t size, bool internal, vks_buffer **out);
void vks__buffer_destroy_locked(vks_buffer *buf);
/* Destroys an internal buffer once no recorded work can use it any more: at once when
 * nothing is pending, else after the next flush outside every op (like outgrown scratch). */
void vks__buffer_retire_locked(vks_buffer *buf);
vks_status vks__buffer_write_locked(vks_buffer *dst, uint64_t offset, const void *src, uint64_t size);
vks_status vks__buffer_read_locked(vks_buffer *src, uint64_t offset, void *dst, uint64_t size);

/* Scratch device memory for the op being recorded: the one workspace rule.
 *  - Scratch is taken only inside an op region (the prologue's record step, or a recorder it
 *    calls), by the recorder that uses it, through vks__scratch, which refuses a call outside
 *    every region (an internal error naming the public function). Contents undefined.
 *  - It is a stack: a region taken lives until the op region it was taken in ends. A nested
 *    recorder (vks__gemm_record, vks__eigh_record, ... called by another op's recorder) takes
 *    its own scratch above everything its caller holds; callers never lend theirs out beyond
 *    the addresses they pass as arguments, and recorders never free.
 *  - A recorder called many times in one op whose scratch is dead after each call opens a
 *    nested op region (vks__op_begin/vks__op_end) around it, which gives that scratch back.
 *  - Consecutive top-level ops reuse the same memory (the barriers between commands make that
 *    safe). Grows on demand; an outgrown buffer lives until a flush outside every op region,
 *    so addresses handed out stay valid for the whole op even when it synchronizes midway. */
vks_status vks__scratch(vks_context *ctx, uint64_t bytes, VkDeviceAddress *out);
/* Small read-only parameters for the op being recorded (a table of coefficients, ranks,
 * offsets): written inline into the command buffer (vkCmdUpdateBuffer), so they are
 * ordered with the op's dispatches also when a host records. bytes <= 65536. */
vks_status vks__params(vks_context *ctx, const void *data, uint32_t bytes, VkDeviceAddress *out);

/* ---- pipelines (pipeline.c) ---------------------------------------------------------------- */

/* Specialization constants of one pipeline: constant_id i gets values[i]. Constant 0 is
 * the workgroup's x size by convention (local_size_x_id = 0). */
typedef struct vks_spec {
    uint32_t count;
    uint32_t values[VKS_MAX_SPEC_CONSTANTS];
    uint32_t required_subgroup_size; /* 0: driver's choice */
} vks_spec;

typedef struct vks_pipeline_entry {
    vks_shader_id shader;
    vks_spec spec;
    VkPipeline pipeline;
} vks_pipeline_entry;

/* INVALID_ARGUMENT when the pipeline cache directory `o` leads to is too long to hold. */
vks_status vks__cache_dir_check(const vks_context_options *o);
/* opts NULL: no persistent cache. */
vks_status vks__pipelines_init(vks_context *ctx, const vks_context_options *opts);
void vks__pipelines_destroy(vks_context *ctx);
vks_status vks__pipeline_get(vks_context *ctx, vks_shader_id shader, const vks_spec *spec,
                             VkPipeline *out);
vks_status vks__pipeline_cache_save_locked(vks_context *ctx);

/* ---- commands (command.c) ------------------------------------------------------------------- */

typedef struct vks_pending_op {
    const char *name;
    uint64_t sequence;
    uint32_t query_begin; /* UINT32_MAX: not timed */
    uint32_t dispatches;
} vks_pending_op;

vks_status vks__commands_init(vks_context *ctx);
void vks__commands_destroy(vks_context *ctx);
/* Opens an op region (starts its timing). Nested regions belong to the outermost one. */
vks_status vks__op_begin(vks_context *ctx, const char *name);
/* Records barrier + pipeline + push constants + dispatch. Group counts of 0 record nothing. */
vks_status vks__dispatch(vks_context *ctx, vks_shader_id shader, const vks_spec *spec,
                         const void *push, uint32_t push_bytes, uint32_t groups_x,
                         uint32_t groups_y, uint32_t groups_z);
/* Records vkCmdUpdateBuffer (params) into the op's command buffer. */
vks_status vks__record_update(vks_context *ctx, VkBuffer dst, uint64_t off, const void *data, uint32_t size);
/* Records a buffer-to-buffer copy or fill (with the same barrier discipline). */
vks_status vks__record_copy(vks_context *ctx, VkBuffer src, uint64_t src_off, VkBuffer dst,
                            uint64_t dst_off, uint64_t size);
vks_status vks__record_fill(vks_context *ctx, VkBuffer dst, uint64_t off, uint64_t size,
                            uint32_t value);
/* A copy for uploads/downloads: always into the context's own command buffer, even
 * while ops go to a host's (external recording). */
vks_status vks__record_staging_copy(vks_context *ctx, VkBuffer src, uint64_t src_off, VkBuffer dst,
                                    uint64_t dst_off, uint64_t size);
void vks__op_end(vks_context *ctx);

/* The op prologue every public op entry point goes through (op.c): ctx NULL check, the
 * descriptor through the one struct_size rule (vks__struct_in / _in_or_defaults, struct.c)
 * into desc_copy, lock, validate, and unless the
 * validator found nothing to compute (*empty), op_begin(name), record, op_end; unlock.
 * `call` is the entry point's own context struct (its arguments, then what validate derives
 * for record). record NULL: a query (vks_monarch_fusable), validate computes the answer.
 * name NULL with a record step: record opens its own op regions, for calls that read results
 * back between steps (the Kronecker decompositions), since a flush inside an op region leaves
 * that region untimed. */
typedef struct vks_op {
    const char *fn;   /* the public function: every message starts with it */
    const char *name; /* the op region's name in profiles (see above for NULL) */
    const void *desc; /* the descriptor argument (NULL when the function takes none, see desc_arg) */
    const char *desc_arg;      /* "desc", "options", ...; NULL: no descriptor to check */
    vks_struct_type desc_type; /* its struct type for the one struct_size rule (vks__struct_in) */
    void *desc_copy;      /* where the library's full-size copy goes (defaults past the caller's
                           * size); validate and record read the copy, never desc */
    bool desc_optional;   /* a NULL descriptor means the defaults */
    vks_status (*validate)(vks_context *ctx, void *call, bool *empty);
    vks_status (*record)(vks_context *ctx, void *call);
} vks_op;
vks_status vks__op_run(vks_context *ctx, const vks_op *op, void *call);
/* The public function whose op is being recorded, for messages of shared code (dispatch limits,
 * scratch, parameters) that must start with it. */
const char *vks__current_fn(const vks_context *ctx);
/* Benchmark support: a query-pool reset and a timestamp (after all earlier commands)
 * in the context's own command buffer. */
vks_status vks__record_query_reset(vks_context *ctx, VkQueryPool pool, uint32_t first, uint32_t count);
vks_status vks__record_timestamp(vks_context *ctx, VkQueryPool pool, uint32_t query);
/* Submits what is recorded in the context's own command buffer and waits. */
vks_status vks__flush_locked(vks_context *ctx);

/* ---- the context (context.c) -------------------------------------------------------------- */

struct vks_context {
    pthread_mutex_t lock;
    atomic_int calls_in_flight; /* public calls inside or waiting for `lock` (vks__lock) */
    struct vks_context *registry_next;

    /* Vulkan objects; owns_* say which ones the context created and must destroy. */
    vks_instance_fns ifn;
    VkInstance instance;
    VkPhysicalDevice physical_device;
    VkDevice device;
    VkQueue queue;
    uint32_t queue_family;
    bool owns_instance, owns_device;
    VkDebugUtilsMessengerEXT messenger;
    struct VolkDeviceTable vk;
    vks_device_probe probe;
    uint32_t enabled_features; /* vks_feature bits enabled on the device */

    vks_message_fn message_callback;
    void *message_user;
    uint64_t validation_messages;
    bool print_profile; /* VKS_PROFILE=1: table at synchronize */
    vks_tuning tuning;  /* kernel choices, settled at creation (tuning.c); ops read nothing else */
    bool pipeline_stats; /* VKS_PIPELINE_STATS=1: report each new pipeline's compiler statistics */

    /* Memory: blocks per memory type, live buffers, the staging ring. */
    VkPhysicalDeviceMemoryProperties memory_properties;
    uint32_t device_memory_type, host_memory_type;
    uint64_t block_size;
    vks_mem_block *blocks;
    vks_buffer *buffers;
    uint32_t live_buffers;
    uint64_t bytes_in_use;
    vks_buffer *scratch;         /* see vks__scratch */
    uint64_t scratch_top;        /* bytes of scratch reserved by the open op regions */
    uint64_t scratch_marks[16];  /* scratch_top when each open op region began */
    vks_buffer *retired_scratch; /* internal buffers awaiting a flush outside every op */
    vks_buffer *params;          /* see vks__params */
    uint64_t params_head;
    VkBuffer staging;
    VkDeviceMemory staging_memory;
    uint8_t *staging_map;
    uint64_t staging_size, staging_head;

    /* Pipelines: one layout (push constants only), a lazily filled table, the cache. */
    VkPipelineLayout pipeline_layout;
    VkPipelineCache pipeline_cache;
    char *pipeline_cache_path; /* NULL: not persisted */
    uint64_t pipeline_cache_loaded_bytes;
    uint64_t pipeline_cache_loaded_hash;
    vks_pipeline_entry *pipelines;
    size_t pipeline_count, pipeline_capacity;
    VkShaderModule modules[VKS_SHADER_COUNT];

    /* Commands: one command buffer being recorded (or a host's), fence for submits. */
    VkCommandPool command_pool;
    VkCommandBuffer cmd;
    VkFence fence;
    bool recording;          /* ctx->cmd is between begin and end */
    uint32_t commands;       /* recorded into the current command buffer */
    VkCommandBuffer host_cmd; /* non-NULL during external recording */
    bool host_cmd_dirty;
    uint64_t submits;
    uint64_t op_sequence;
    vks_pending_op current_op;
    const char *current_fn; /* the public function vks__op_run is running (NULL: none) */
    uint32_t op_depth; /* nesting of op regions; 0 outside any op */

    /* Profiling: timestamp pairs for the ops of the current command buffer. */
    bool profiling;
    VkQueryPool query_pool;
    uint32_t query_capacity, queries_used;
    vks_pending_op *pending_ops;
    size_t pending_count, pending_capacity;
    vks_profile_entry *profile;
    size_t profile_count, profile_capacity;

    /* Live DLPack exports of this context's buffers (dlpack.c), detached at destruction. */
    struct vks_dlpack_export *exports;
};

void vks__lock(vks_context *ctx);
void vks__unlock(vks_context *ctx);
void vks__message(vks_context *ctx, vks_message_severity sev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool vks__has_feature(const vks_context *ctx, uint32_t features);
/* True when the kernels for CPU devices (lavapipe) should be chosen: ctx->tuning.kernels
 * says CPU, or says AUTO on a CPU device. */
bool vks__cpu_kernels(const vks_context *ctx);
/* True when the f16 tensor-core kernels (*_coopmat.comp) can run: VK_NV_cooperative_matrix with
 * 16-bit arithmetic and storage, and 32-wide subgroups, which their fragment layouts assume. */
bool vks__tensor_cores(const vks_context *ctx);
/* Destroys a context whose lock is not held (also used by vks_shutdown). */
vks_status vks__context_destroy(vks_context *ctx);

/* ---- tuning (tuning.c) ---------------------------------------------------------------------- */

/* The library's defaults: every choice AUTO / 0 (also what vks_struct_init writes). */
void vks__tuning_defaults(vks_tuning *t);
/* Settles ctx->tuning at creation: the caller's struct (the struct_size rule, then its
 * values checked; NULL: none), the
 * VKS_CONTEXT_GPU_KERNELS flag, the environment, defaults (see vks_tuning in vkstruct.h).
 * Warnings for ignored environment values go to ctx's message callback. */
vks_status vks__tuning_settle(vks_context *ctx, const vks_tuning *caller, uint32_t context_flags, vks_tuning *out);
/* Whether a tile has the shape its kernel takes, device limits aside (gemm.c, lowrank_splitk.c). */
bool vks__gemm_tile_wellformed(const vks_gemm_tile *t);
bool vks__lr_splitk_tile_wellformed(const vks_splitk_tile *t);

/* ---- DLPack export (dlpack.c) ------------------------------------------------------------------ */

/* Detaches every export of ctx (their deleters then free only their own memory); called by
 * context destruction before the buffers go. Takes the export lock, then ctx->lock. */
void vks__dlpack_detach_context(vks_context *ctx);
/* Destroys a user buffer once recorded work that may use it has finished (flushes when work
 * is recorded): what vks_buffer_destroy and the last export's deleter do. */
vks_status vks__buffer_release_locked(vks_buffer *buf);

/* ---- tensors (tensor.c) --------------------------------------------------------------------- */

size_t vks__dtype_bytes(vks_dtype dt);
const char *vks__dtype_name(vks_dtype dt);

/* Validates a tensor argument: non-NULL, a live buffer of ctx, 1 <= ndim <= 4, shape >= 0,
 * strides >= 0, aligned offset, and every element inside the buffer. */
vks_status vks__check_tensor(const vks_context *ctx, const vks_tensor *t, const char *fn,
                             const char *arg);
vks_status vks__check_ndim(const vks_tensor *t, int32_t lo, int32_t hi, const char *fn,
                           const char *arg);
vks_status vks__check_dtype(const vks_tensor *t, vks_dtype want, const char *fn, const char *arg);
/* Sets of dtypes an op supports, for vks__check_dtype_in. */
#define VKS_DTYPES_F32 (1u << VKS_DTYPE_F32)
#define VKS_DTYPES_F16 (1u << VKS_DTYPE_F16)
#define VKS_DTYPES_F64 (1u << VKS_DTYPE_F64)
#define VKS_DTYPES_BF16 (1u << VKS_DTYPE_BF16)
/* dt is one of `allowed` (VKS_DTYPES_* bits) and the device can run it: f16 needs 16-bit
 * storage, f64 shaderFloat64. UNSUPPORTED naming arg, its dtype and the set otherwise. */
vks_status vks__check_dtype_in(const vks_context *ctx, vks_dtype dt, uint32_t allowed, const char *fn,
                               const char *arg);
/* f32, or f64 where the device has shaderFloat64 (the Kronecker and orthogonalization ops). */
vks_status vks__check_float_dtype(const vks_context *ctx, vks_dtype dt, const char *fn, const char *arg);
/* Device address of element 0. */
VkDeviceAddress vks__tensor_address(const vks_tensor *t);
/* Number of elements (product of the shape). */
int64_t vks__tensor_numel(const vks_tensor *t);
/* True when the tensor is compact row-major. */
bool vks__tensor_is_contiguous(const vks_tensor *t);

/* A matrix (optionally a strided batch of them) as kernels see it: element (i, j) of
 * batch b at base + b*batch_stride + i*row_stride + j*col_stride, one of the two inner
 * strides being 1. */
typedef struct vks_matrix {
    VkDeviceAddress address;
    vks_dtype dtype;
    int64_t batch, rows, cols;
    int64_t batch_stride, row_stride, col_stride;
} vks_matrix;

/* Reads a rank-2 (batch 1) or rank-3 (batched) tensor as a matrix, requiring one unit
 * inner stride. */
vks_status vks__matrix_view(const vks_context *ctx, const vks_tensor *t, const char *fn,
                            const char *arg, vks_matrix *m);

/* For a matrix an op writes: distinct (b, i, j) must be distinct elements as far as the
 * strides tell (rows that overlap, or a batch stride of 0 over several matrices, would have
 * invocations race on one element). */
vks_status vks__check_output_matrix(const vks_matrix *m, const char *fn, const char *arg);
/* Whether the n (<= 4) dimensions with these counts and element strides map distinct indices
 * to distinct elements (the test vks__check_output_matrix ends with). */
bool vks__strides_disjoint(const int64_t *counts, const int64_t *strides, int n);
/* For a batch of vectors an op writes (eigenvalues, singular values): distinct (b, i) must be
 * distinct elements. */
vks_status vks__check_output_vector(int64_t batch, int64_t n, int64_t batch_stride, int64_t stride, const char *fn,
                                    const char *arg);
/* Kernels index within one matrix with 32-bit integers: its last element's index must stay
 * below 2^32 - 1. */
vks_status vks__check_matrix_span(const vks_matrix *m, const char *fn, const char *arg);

/* A rank min_ndim..max_ndim tensor read as rows: the last dimension is the row (stride 1
 * unless it has one element), the leading ones collapse into `rows` rows `ld` elements apart
 * (size-1 dimensions' strides are ignored; a tensor with at most one row gets ld = cols).
 * Rows, columns and the row stride below 2^31, the whole span within 2^32 elements.
 * distinct_rows: refuse rows that overlap (ld < cols) also for a tensor the op only reads. */
typedef struct vks_rows {
    const vks_tensor *t;
    VkDeviceAddress address;
    vks_dtype dtype;
    int64_t rows, cols, ld;
} vks_rows;
vks_status vks__rows_view(const vks_context *ctx, const vks_tensor *t, int32_t min_ndim, int32_t max_ndim,
                          bool distinct_rows, const char *fn, const char *arg, vks_rows *out);
/* For rows an op writes: they must not overlap. */
vks_status vks__check_output_rows(const vks_rows *r, const char *fn, const char *arg);
/* A vector (a bias, a gradient of one): rank 1, n elements, unit stride, dtype dt; its address
 * goes to *address (may be NULL). */
vks_status vks__vector_view(const vks_context *ctx, const vks_tensor *t, vks_dtype dt, int64_t n, const char *fn,
                            const char *arg, VkDeviceAddress *address);

/* Aliasing. An empty tensor touches no memory and overlaps nothing; otherwise two tensors
 * overlap when the byte ranges between their first and last elements intersect. */
bool vks__tensors_overlap(const vks_tensor *a, const vks_tensor *b);
/* The same elements in the same order (strides of size-1 dimensions ignored). */
bool vks__same_view(const vks_tensor *a, const vks_tensor *b);
/* An argument for vks__check_no_alias: the tensor (NULL: absent), its name in messages, and
 * for an output that may be the very same view as one input (in-place use), that input's name. */
typedef struct vks_arg {
    const vks_tensor *t;
    const char *name;
    const char *in_place;
} vks_arg;
/* The one aliasing rule: no output overlaps another output or an input (except an output that
 * is exactly its in_place input). */
vks_status vks__check_no_alias(const vks_arg *outs, int n_outs, const vks_arg *ins, int n_ins, const char *fn);

/* ---- reusable recorders for ops (ops/gemm.c) -------------------------------------------------- */

/* One GEMM as the kernels take it: C[b] = act(alpha*op(A[b])*op(B[b]) + beta*C[b] + bias).
 * Element (i, k) of op(A) is at a + i*a_rs + k*a_cs (the view already accounts for the
 * transpose); likewise B (k, j) and C (i, j); one stride of each pair must be 1. */
typedef struct vks_gemm_args {
    vks_dtype dtype;
    int64_t m, n, k, batch;
    VkDeviceAddress a, b, c, bias;
    int64_t a_rs, a_cs, b_rs, b_cs, c_rs;
    int64_t a_bs, b_bs, c_bs;
    double alpha, beta;
    vks_activation activation;
} vks_gemm_args;

/* Validates a GEMM described as for vks_gemm_ex (messages start with fn) into its kernel
 * arguments; *empty when it writes nothing. Ops that run a GEMM on their callers' tensors use
 * it with their own name, then vks__gemm_record. */
vks_status vks__gemm_check(vks_context *ctx, const vks_gemm_desc *d, const char *fn, vks_gemm_args *g, bool *empty);
/* Records the GEMM dispatches (no validation: callers validated). Inside vks__op_begin/end. */
vks_status vks__gemm_record(vks_context *ctx, const vks_gemm_args *g);

#endif /* VKS_INTERNAL_H */
