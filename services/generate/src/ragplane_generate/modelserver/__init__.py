"""ragplane's CPU model server: a llama.cpp instruct model on the v2 inference protocol (gRPC), built on
kserve's model lifecycle and v2 servicer, with the decoupled ModelStreamInfer that kserve lacks.

Run it with ``python -m ragplane_generate.modelserver``. This package imports kserve: never import it in a
process that imports tritonclient (their generated protobuf modules register the same symbols).
"""
