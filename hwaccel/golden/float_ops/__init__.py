"""Float kernels with ONNX semantics, one module per op family.

Every kernel has the signature ``kernel(node, inputs) -> list[np.ndarray]``: ``inputs`` follow
``node.inputs`` (None for a missing optional input) and the result lists the node's outputs in
order. The op-type -> kernel table is :data:`hwaccel.golden.execute.FLOAT_KERNELS`.
"""
