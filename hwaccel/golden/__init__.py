"""Reference executors: the float executor (:mod:`.execute`, ONNX semantics) and the fixed-point
golden model (:mod:`.fixed`, the numeric specification)."""
