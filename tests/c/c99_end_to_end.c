/* The public header compiles as strict C99 and an op runs end to end through the C API from C. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "mojo/mojo.h"

static int fail(const char *what, mojo_status *s) {
  fprintf(stderr, "FAIL %s: %s %s\n", what, mojo_code_name(mojo_status_code(s)), mojo_status_message(s));
  mojo_status_free(s);
  return 1;
}

int main(void) {
  float x[2][4] = {{1, 2, 3, 4}, {-1, 0, 1, 0}}, w[4] = {1, 1, 2, 0.5f}, y[2][4];
  int64_t x_shape[2] = {2, 4}, w_shape[1] = {4};
  mojo_tensor tx, tw, ty;
  const mojo_tensor *inputs[2], *outputs[1];
  mojo_attr eps;
  mojo_op_desc desc;
  mojo_context_options opts;
  mojo_context *ctx = NULL;
  mojo_op *op = NULL;
  mojo_status *s;
  int r, c;

  memset(&tx, 0, sizeof tx);
  tx.data = x;
  tx.device.device_type = MOJO_DEVICE_CPU;
  tx.ndim = 2;
  tx.dtype.code = MOJO_DTYPE_CODE_FLOAT;
  tx.dtype.bits = 32;
  tx.dtype.lanes = 1;
  tx.shape = x_shape;
  tw = tx;
  tw.data = w;
  tw.ndim = 1;
  tw.shape = w_shape;
  ty = tx;
  ty.data = y;
  inputs[0] = &tx;
  inputs[1] = &tw;
  outputs[0] = &ty;

  memset(&eps, 0, sizeof eps);
  eps.name = "eps";
  eps.type = MOJO_ATTR_FLOAT;
  eps.count = 1;
  eps.f = 1e-6;

  mojo_context_options_init(&opts);
  opts.backend_spec = "+cpu";
  if ((s = mojo_context_create(&opts, &ctx)) != NULL) return fail("context", s);

  memset(&desc, 0, sizeof desc);
  desc.struct_size = sizeof desc;
  desc.op = "rms_norm";
  desc.attrs = &eps;
  desc.n_attrs = 1;
  desc.inputs = inputs;
  desc.n_inputs = 2;
  desc.outputs = outputs;
  desc.n_outputs = 1;
  if ((s = mojo_op_create(ctx, &desc, &op)) != NULL) return fail("create", s);
  if ((s = mojo_op_run(op, inputs, 2, outputs, 1, NULL, NULL)) != NULL) return fail("run", s);
  if (strcmp(mojo_op_backend(op), "cpu") != 0) {
    fprintf(stderr, "FAIL bound to %s\n", mojo_op_backend(op));
    return 1;
  }
  for (r = 0; r < 2; ++r) {
    double ms = 0;
    for (c = 0; c < 4; ++c) ms += x[r][c] * x[r][c];
    for (c = 0; c < 4; ++c) {
      double want = x[r][c] / sqrt(ms / 4 + 1e-6) * w[c];
      if (fabs(y[r][c] - want) > 1e-5) {
        fprintf(stderr, "FAIL y[%d][%d] = %f, want %f\n", r, c, y[r][c], want);
        return 1;
      }
    }
  }
  mojo_op_destroy(op);
  mojo_context_destroy(ctx);
  printf("c99 end-to-end: rms_norm via %s OK (libmojo %s)\n", "cpu", mojo_version());
  return 0;
}
