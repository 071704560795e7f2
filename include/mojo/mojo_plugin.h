/*
 * libmojo plugin ABI — what a backend shared object implements and what the host gives it.
 *
 * A plugin is a shared object named libmojo-<name>[-<variant>].so exporting exactly one symbol,
 * mojo_plugin_entry_v1 (the ABI major is in the name). It never links against libmojo or another plugin:
 * everything it needs from the host comes through mojo_host_api. Rules (docs/plugin-abi.md):
 *  - Every struct starts with struct_size and only grows at the end. The host reads only the fields the
 *    plugin's struct_size covers; the plugin must not call host functions beyond host->struct_size.
 *  - abi_major must equal MOJO_PLUGIN_ABI_MAJOR; the host validates struct sizes and required pointers
 *    before any call and skips (never crashes on) a plugin that fails.
 *  - probe is cheap: no driver initialisation, no allocation of device resources.
 *  - No function may throw, exit, abort or print to stdout. Errors are statuses made by host->make_status.
 *  - The core has validated every signature and every run against the op schema before the plugin sees it:
 *    tensors arrive in schema order (NULL = absent optional) and attributes arrive complete, in schema
 *    order, with defaults filled in.
 */
#ifndef MOJO_MOJO_PLUGIN_H
#define MOJO_MOJO_PLUGIN_H

#include "mojo/mojo.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { MOJO_PLUGIN_ABI_MAJOR = 1, MOJO_PLUGIN_ABI_MINOR = 2 };

/* Dtype ids for the bit masks of the static kernel table (bit 1 << id). */
enum {
  MOJO_DT_BF16 = 0,
  MOJO_DT_FP16 = 1,
  MOJO_DT_FP32 = 2,
  MOJO_DT_INT8 = 3,
  MOJO_DT_UINT8 = 4,
  MOJO_DT_INT32 = 5,
  MOJO_DT_INT64 = 6,
  MOJO_DT_BOOL = 7,
  MOJO_DT_FP8_E4M3FN = 8,
  MOJO_DT_FP8_E5M2 = 9,
  MOJO_DT_COUNT = 10
};

enum { MOJO_LOG_TRACE = 0, MOJO_LOG_DEBUG = 1, MOJO_LOG_INFO = 2, MOJO_LOG_WARN = 3, MOJO_LOG_ERROR = 4 };

/* Given by the host to the plugin's entry point; valid for the process lifetime. */
typedef struct mojo_host_api {
  size_t struct_size;
  uint32_t abi_major;
  uint32_t abi_minor;
  /* Makes a status the caller of libmojo will free. message is copied. */
  mojo_status *(*make_status)(mojo_code code, const char *backend, const char *message);
  /* Routes a message through the host's logger (spdlog, MOJO_LOG_LEVEL). */
  void (*log)(int32_t level, const char *backend, const char *message);
} mojo_host_api;

typedef struct mojo_probe_result {
  size_t struct_size;
  int32_t score;     /* 0 = unusable here; higher wins among variants of one backend */
  char reason[256];  /* why this score (driver found, versions, missing library, ...) */
} mojo_probe_result;

typedef struct mojo_device_desc {
  size_t struct_size;
  mojo_device device; /* the DLPack device the plugin's kernels take tensors on */
  char name[128];
  char arch[32];
  uint64_t memory_bytes;
} mojo_device_desc;

enum {
  MOJO_KERNEL_NEEDS_PLAN = 1,       /* mojo_op_plan must precede run */
  MOJO_KERNEL_GRAPH_SAFE = 2,       /* run can be captured in a CUDA graph */
  MOJO_KERNEL_NOT_REENTRANT = 4     /* the core serialises runs of one kernel */
};

/* One row of the static support table: the op and the dtypes of its first input it can take. */
typedef struct mojo_kernel_decl {
  const char *op;
  uint32_t dtype_mask; /* bits (1 << MOJO_DT_*) */
  uint32_t flags;      /* MOJO_KERNEL_* */
} mojo_kernel_decl;

/* A validated signature (create) or concrete call (run). */
typedef struct mojo_op_sig {
  size_t struct_size;
  const char *op;
  const mojo_tensor *const *inputs;  /* schema order, NULL = absent optional */
  size_t n_inputs;
  const mojo_tensor *const *outputs; /* schema order, NULL = absent optional */
  size_t n_outputs;
  const mojo_attr *attrs;            /* every schema attribute, schema order, defaults filled; count 0 = null.
                                        Valid (strings and arrays too) until kernel_destroy. */
  size_t n_attrs;
  mojo_device device;                /* the device all tensors live on */
} mojo_op_sig;

typedef struct mojo_run_args {
  size_t struct_size;
  const mojo_tensor *const *inputs;
  size_t n_inputs;
  const mojo_tensor *const *outputs;
  size_t n_outputs;
  const mojo_tensor *workspace;      /* NULL when the kernel asked for none */
  void *stream;                      /* caller's native stream or NULL */
} mojo_run_args;

enum {
  MOJO_DECLINE_NONE = 0,
  MOJO_DECLINE_OP_MISSING = 1,
  MOJO_DECLINE_DTYPE = 2,
  MOJO_DECLINE_SHAPE = 3,
  MOJO_DECLINE_LAYOUT = 4,
  MOJO_DECLINE_ATTR = 5,
  MOJO_DECLINE_ARCH = 6,
  MOJO_DECLINE_OTHER = 7
};

typedef struct mojo_verdict {
  size_t struct_size;
  int32_t accept;       /* 1 = the plugin will create a kernel for this signature */
  int32_t reason_code;  /* MOJO_DECLINE_* when declined */
  char message[256];    /* why it declined */
} mojo_verdict;

typedef struct mojo_kernel mojo_kernel; /* plugin-defined */

/* ABI minor 2: a measured exception to default_priority for one op (e.g. a benchmark showed this backend's
   kernel faster than a higher-priority backend's). It moves the backend in that op's default order only;
   explicit MOJO_BACKEND / MOJO_OP_BACKEND terms still come first. */
typedef struct mojo_op_priority {
  const char *op;
  int32_t priority;  /* replaces default_priority when ranking backends for `op` */
} mojo_op_priority;

typedef struct mojo_plugin_api {
  size_t struct_size;
  uint32_t abi_major;
  uint32_t abi_minor;
  const char *name;              /* lower-case backend name; must match the file's libmojo-<name> prefix */
  const char *version;
  int32_t default_priority;      /* higher runs first; the reference uses 0 */

  /* --- required in minor 0 --- */
  mojo_status *(*probe)(mojo_probe_result *out);
  mojo_status *(*init)(void **state);
  mojo_status *(*devices)(void *state, mojo_device_desc *out, size_t capacity, size_t *count);
  const mojo_kernel_decl *kernels;
  size_t n_kernels;
  mojo_status *(*query)(void *state, const mojo_op_sig *sig, mojo_verdict *out);
  mojo_status *(*kernel_create)(void *state, const mojo_op_sig *sig, mojo_kernel **kernel,
                                size_t *workspace_bytes);
  mojo_status *(*kernel_run)(const mojo_kernel *kernel, const mojo_run_args *args);
  void (*kernel_destroy)(mojo_kernel *kernel);
  /* --- optional in minor 0 (may be NULL) --- */
  mojo_status *(*kernel_plan)(const mojo_kernel *kernel, const mojo_run_args *args);
  /* --- optional, minor 1 (may be NULL; a shorter struct_size means absent) --- */
  /* Deferred errors: waits for the kernel's earlier runs on `stream`, returns the first error they found in
     device-resident metadata (INVALID_ARGUMENT naming op and argument) and clears it; NULL when none. */
  mojo_status *(*kernel_check)(const mojo_kernel *kernel, void *stream);
  /* --- optional, minor 2 (NULL / 0 = none) --- */
  const mojo_op_priority *op_priorities;
  size_t n_op_priorities;
} mojo_plugin_api;

/* The one symbol a plugin exports. Returns NULL if it cannot work with this host at all. */
typedef const mojo_plugin_api *(*mojo_plugin_entry_fn)(const mojo_host_api *host);

#ifdef __cplusplus
}
#endif

#endif /* MOJO_MOJO_PLUGIN_H */
