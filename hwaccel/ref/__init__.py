"""Reference and fast engines: onnxruntime, multi-core CPU, GPU."""
