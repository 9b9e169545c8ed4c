"""Float kernels with ONNX semantics, one module per op family.

Every kernel has the signature ``kernel(node, inputs) -> list[np.ndarray]``: ``inputs`` follow
``node.inputs`` (None for a missing optional input) and the result lists the node's outputs in
order. Each kernel registers as its op table row's ``float`` kernel
(``@register("float", "Conv")``, :mod:`hwaccel.ir.ops`); importing this package registers them all.
"""

from . import conv, elementwise, gemm, pointwise, pool, recurrent, resize, shape  # noqa: F401  (registration)
