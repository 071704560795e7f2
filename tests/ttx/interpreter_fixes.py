"""Fixes to Triton 3.6's interpreter shared by the tests/ttx/*_interpreter_check.py scripts (import it before
launching a kernel under TRITON_INTERPRET=1)."""
import numpy as np
import triton.runtime.interpreter as interpreter

_patch_lang_tensor = interpreter._patch_lang_tensor


def _patch_lang_tensor_index(tensor, scope):
    """The interpreter turns a scalar (a 1-element array) into a loop bound with int(array), which numpy >= 2.4
    refuses for 1-d arrays."""
    _patch_lang_tensor(tensor, scope)
    scope.set_attr(tensor, "__index__", lambda self: int(np.asarray(self.handle.data).reshape(-1)[0]))


interpreter._patch_lang_tensor = _patch_lang_tensor_index
