"""The ONNX room: everything between a trained model and onnxruntime. `graph` is the builder op
lowerings talk to, `export` lowers a program with its weights, `any_length` finds the inputs
an exported model may take at any sequence length, `gate` verifies an export against the NumPy
runtime, `metadata` defines every `nnc.*` key an exported file carries, and `predict` runs a
file through onnxruntime. Nothing here imports the compiler: a program is read, never built."""
