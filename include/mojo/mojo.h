/*
 * libmojo public C API — the only header users need.
 *
 * Rules that hold for every function here (details in docs/api.md):
 *  - Fallible calls return a `mojo_status *`: NULL means success; a non-NULL status carries a code and a
 *    message naming the op, the argument and what was expected. The caller frees it with mojo_status_free.
 *  - The caller owns all memory: tensors, outputs, workspaces and streams. mojo_op_run never allocates
 *    device memory, never synchronises a stream, and writes no output when it returns an error.
 *  - No C++ exception crosses this boundary; nothing here prints to stdout, calls exit or abort.
 *  - Declarations use no macros, so cffi's cdef() can read everything between the markers below after the
 *    preprocessor lines are dropped. Constants are plain enums; structs that may grow start with struct_size.
 */
#ifndef MOJO_MOJO_H
#define MOJO_MOJO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* MOJO-CDEF-BEGIN */

/* ---- version ------------------------------------------------------------------------------------- */
enum {
  MOJO_VERSION_MAJOR = 0,
  MOJO_VERSION_MINOR = 1,
  MOJO_VERSION_PATCH = 0,
  /* SONAME number of libmojo.so; bumped only when this header breaks compatibility. */
  MOJO_API_VERSION = 1
};

/* "MAJOR.MINOR.PATCH" of the loaded library (may be newer than the header the caller compiled with). */
const char *mojo_version(void);
/* MOJO_API_VERSION of the loaded library. */
uint32_t mojo_api_version(void);

/* ---- status -------------------------------------------------------------------------------------- */
typedef int32_t mojo_code;
enum {
  MOJO_STATUS_SUCCESS = 0,
  MOJO_STATUS_INVALID_ARGUMENT = 1, /* the caller broke the op's contract (schema, pointers, metadata) */
  MOJO_STATUS_UNSUPPORTED = 2,      /* a legal request no selected backend implements */
  MOJO_STATUS_NOT_FOUND = 3,        /* unknown op, backend or device */
  MOJO_STATUS_OUT_OF_MEMORY = 4,
  MOJO_STATUS_BACKEND_ERROR = 5,    /* a driver or kernel failed */
  MOJO_STATUS_ABI_MISMATCH = 6,
  MOJO_STATUS_INTERNAL = 7
};

typedef struct mojo_status mojo_status;

/* Code of a status; NULL is MOJO_STATUS_SUCCESS. */
mojo_code mojo_status_code(const mojo_status *status);
/* Message of a status ("" for NULL); lives as long as the status. */
const char *mojo_status_message(const mojo_status *status);
/* Who produced it: "core" or a backend name ("" for NULL). */
const char *mojo_status_backend(const mojo_status *status);
/* Frees a status; NULL is fine. Thread-safe: statuses are independent objects. */
void mojo_status_free(mojo_status *status);
/* Static name of a code, e.g. "INVALID_ARGUMENT". */
const char *mojo_code_name(mojo_code code);

/* ---- tensors: binary-compatible with DLPack's DLTensor ------------------------------------------- */
typedef int32_t mojo_device_type; /* DLPack DLDeviceType values */
enum {
  MOJO_DEVICE_CPU = 1,
  MOJO_DEVICE_CUDA = 2,
  MOJO_DEVICE_CUDA_HOST = 3,
  MOJO_DEVICE_ROCM = 10,
  MOJO_DEVICE_EXT = 12,
  MOJO_DEVICE_CUDA_MANAGED = 13,
  MOJO_DEVICE_ONEAPI = 14
};

typedef struct mojo_device {
  mojo_device_type device_type;
  int32_t device_id;
} mojo_device;

/* DLPack DLDataTypeCode values */
enum {
  MOJO_DTYPE_CODE_INT = 0,
  MOJO_DTYPE_CODE_UINT = 1,
  MOJO_DTYPE_CODE_FLOAT = 2,
  MOJO_DTYPE_CODE_BFLOAT = 4,
  MOJO_DTYPE_CODE_BOOL = 6,
  MOJO_DTYPE_CODE_FLOAT8_E4M3FN = 10,
  MOJO_DTYPE_CODE_FLOAT8_E5M2 = 12
};

typedef struct mojo_dtype {
  uint8_t code;
  uint8_t bits;
  uint16_t lanes; /* always 1 for libmojo ops */
} mojo_dtype;

/* A borrowed view of caller memory, laid out exactly like DLPack's DLTensor.
 * strides are in elements; NULL strides mean row-major contiguous. */
typedef struct mojo_tensor {
  void *data;
  mojo_device device;
  int32_t ndim;
  mojo_dtype dtype;
  int64_t *shape;
  int64_t *strides;
  uint64_t byte_offset;
} mojo_tensor;

/* ---- attributes ---------------------------------------------------------------------------------- */
typedef int32_t mojo_attr_type;
enum {
  MOJO_ATTR_INT = 1,         /* i */
  MOJO_ATTR_FLOAT = 2,       /* f */
  MOJO_ATTR_BOOL = 3,        /* i (0 or 1) */
  MOJO_ATTR_STRING = 4,      /* s: enum choices such as "pre"/"post" */
  MOJO_ATTR_DTYPE = 5,       /* s: dtype name such as "int8", "fp8_e4m3fn" */
  MOJO_ATTR_INT_ARRAY = 6,   /* ints[count] */
  MOJO_ATTR_FLOAT_ARRAY = 7  /* floats[count] */
};

/* One named attribute value. Only the field matching `type` is read. No unions, for ctypes. */
typedef struct mojo_attr {
  const char *name;
  mojo_attr_type type;
  int32_t count;
  int64_t i;
  double f;
  const char *s;
  const int64_t *ints;
  const double *floats;
} mojo_attr;

/* ---- context ------------------------------------------------------------------------------------- */
typedef struct mojo_context mojo_context;

enum {
  MOJO_CONTEXT_IGNORE_ENV = 1 /* do not read MOJO_BACKEND / MOJO_OP_BACKEND / MOJO_PLUGIN_PATH */
};

typedef struct mojo_context_options {
  size_t struct_size;          /* sizeof(mojo_context_options) of the caller's header */
  const char *backend_spec;    /* NULL: $MOJO_BACKEND; grammar in docs/selection.md ("+ALL" default) */
  const char *op_backend_spec; /* NULL: $MOJO_OP_BACKEND, e.g. "rms_norm,silu=+cuda;linear=-ttx" */
  const char *plugin_path;     /* NULL: $MOJO_PLUGIN_PATH; ':'-separated directories or .so files */
  const char *log_level;       /* NULL: $MOJO_LOG_LEVEL (trace/debug/info/warn/error/off; default warn) */
  uint32_t flags;              /* MOJO_CONTEXT_* */
} mojo_context_options;

/* Fills defaults (all NULL, flags 0) and struct_size. */
void mojo_context_options_init(mojo_context_options *options);
/* Discovers plugins (once per process and plugin path), resolves the backend order and returns a context.
 * options may be NULL. Errors: INVALID_ARGUMENT (spec syntax), NOT_FOUND (an explicitly requested backend
 * did not load; the message quotes its load record). Thread-safe. */
mojo_status *mojo_context_create(const mojo_context_options *options, mojo_context **out);
/* Destroys a context; ops created from it must be destroyed first. NULL is fine. */
void mojo_context_destroy(mojo_context *context);

/* ---- backends, devices, load records ------------------------------------------------------------ */
typedef struct mojo_backend_info {
  size_t struct_size;
  const char *name;
  const char *version;
  const char *path;          /* file it came from, "builtin" for the reference */
  int32_t default_priority;
  int32_t probe_score;       /* 0 = unusable here */
  const char *probe_reason;
  int32_t rank;              /* position in this context's order, -1 when disabled */
  int32_t n_devices;
  uint32_t abi_major;
  uint32_t abi_minor;
} mojo_backend_info;

typedef struct mojo_device_info {
  size_t struct_size;
  mojo_device device;
  const char *name;
  const char *arch;
  uint64_t memory_bytes;
} mojo_device_info;

typedef struct mojo_plugin_record {
  size_t struct_size;
  const char *path;
  const char *stage;         /* open, symbol, abi, probe, init, devices, ready */
  const char *outcome;       /* loaded, skipped, shadowed, failed */
  const char *reason;        /* why (dlerror text, validation failure, probe reason), "" when loaded */
} mojo_plugin_record;

/* Loaded backends (the reference included), in this context's order first, disabled ones last.
 * Strings live as long as the process. */
size_t mojo_backend_count(const mojo_context *context);
mojo_status *mojo_backend_get(const mojo_context *context, size_t index, mojo_backend_info *out);
mojo_status *mojo_device_get(const mojo_context *context, size_t backend_index, size_t device_index,
                             mojo_device_info *out);
/* Every plugin load attempt of this process, in order. */
size_t mojo_plugin_record_count(void);
mojo_status *mojo_plugin_record_get(size_t index, mojo_plugin_record *out);

/* ---- introspection as JSON ----------------------------------------------------------------------- */
/* The op schema (every op: inputs, outputs, attributes, dtypes, shapes, docs). Static string. */
const char *mojo_schema_json(void);
/* Everything mojo-info shows: version, search path, load records, backends with devices, resolved order,
 * op x backend x dtype support matrix. Free with mojo_string_free. */
mojo_status *mojo_context_report_json(const mojo_context *context, char **out);
void mojo_string_free(char *string);

/* ---- ops ----------------------------------------------------------------------------------------- */
typedef struct mojo_op mojo_op;

/* What an op will run on. Tensors are in schema order (see mojo_schema_json); a NULL entry is an absent
 * optional tensor. At create time data pointers may be NULL: only dtype, rank, shape, strides and device
 * are read. Mutated inputs (KV caches, ...) are passed among the inputs. */
typedef struct mojo_op_desc {
  size_t struct_size;
  const char *op;
  const mojo_attr *attrs;
  size_t n_attrs;
  const mojo_tensor *const *inputs;
  size_t n_inputs;
  const mojo_tensor *const *outputs;
  size_t n_outputs;
  const char *backend_spec; /* optional per-op pin, same grammar as MOJO_BACKEND; NULL = context order */
} mojo_op_desc;

/* Validates the signature against the op schema, then binds the first backend (in the resolved order,
 * on the tensors' device) that accepts it. Errors: NOT_FOUND (unknown op), INVALID_ARGUMENT (schema),
 * UNSUPPORTED (nobody accepted; the message lists every backend's reason). Thread-safe. */
mojo_status *mojo_op_create(mojo_context *context, const mojo_op_desc *desc, mojo_op **out);
/* Each backend's verdict for a signature, as JSON (what mojo-info --explain prints), without binding.
 * Free with mojo_string_free. */
mojo_status *mojo_op_explain_json(mojo_context *context, const mojo_op_desc *desc, char **out);
/* Bytes of workspace mojo_op_run needs (0 = none); alignment is 256 bytes. */
mojo_status *mojo_op_workspace_size(const mojo_op *op, size_t *bytes);
/* Runs the op on caller tensors that match the create-time signature (dtypes, ranks, device; sizes may
 * differ). stream is the native queue (cudaStream_t, ...) or NULL for the default one. Asynchronous on
 * stream devices. Validation errors leave every output untouched. Concurrent calls on one op are allowed
 * when each has its own workspace and stream. */
mojo_status *mojo_op_run(const mojo_op *op, const mojo_tensor *const *inputs, size_t n_inputs,
                         const mojo_tensor *const *outputs, size_t n_outputs, const mojo_tensor *workspace,
                         void *stream);
/* Host-side scheduling step for ops that have one (paged attention); writes into the workspace so that
 * mojo_op_run can be captured in a graph. A no-op returning NULL for ops without a plan step. */
mojo_status *mojo_op_plan(const mojo_op *op, const mojo_tensor *const *inputs, size_t n_inputs,
                          const mojo_tensor *workspace, void *stream);
/* Deferred errors (spec ops.md 1.4): a device backend checks device-resident metadata (block ids, lengths,
 * token ids) inside its kernels, skips all writes of a run whose metadata is bad and records the error.
 * mojo_op_check waits for the op's earlier runs on `stream`, returns that error (INVALID_ARGUMENT naming the
 * op and the argument) and clears it; NULL when there is none or the backend checks eagerly (cpu). */
mojo_status *mojo_op_check(const mojo_op *op, void *stream);
/* Name of the backend the op was bound to; lives as long as the process. */
const char *mojo_op_backend(const mojo_op *op);
/* Name of the op. */
const char *mojo_op_name(const mojo_op *op);
/* Releases the op and its kernel. NULL is fine. */
void mojo_op_destroy(mojo_op *op);

/* MOJO-CDEF-END */

#ifdef __cplusplus
}
#endif

#endif /* MOJO_MOJO_H */
