"""torch side of the bench cases, one module per op family. Each module defines VARIANTS (op -> {variant:
callable(*inputs)}; "best" is the fastest library path torch offers) and may define SETUPS (op -> callable(case)
-> the inputs for the variants, when they are not plain random tensors of the case's shapes)."""
import importlib
import pkgutil

VARIANTS = {}
SETUPS = {}
for _info in pkgutil.iter_modules(__path__):
    _mod = importlib.import_module(f"{__name__}.{_info.name}")
    VARIANTS.update(getattr(_mod, "VARIANTS", {}))
    SETUPS.update(getattr(_mod, "SETUPS", {}))
