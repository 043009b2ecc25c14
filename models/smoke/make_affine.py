"""Writes affine.onnx: y = 2x + 1 on a (1, 3, H, W) float tensor with dynamic H and W.

The smallest real model that proves the bundle's own ONNX Runtime loads, picks an execution
provider and runs (`kinema doctor`, the end-to-end tests). Needs only the `onnx` package:
    pip install onnx && python models/smoke/make_affine.py
"""
from pathlib import Path

import onnx
from onnx import TensorProto, helper

x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "height", "width"])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, "height", "width"])
two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
one = helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])
graph = helper.make_graph(
    [helper.make_node("Mul", ["x", "two"], ["x2"]), helper.make_node("Add", ["x2", "one"], ["y"])],
    "kinema_smoke_affine",
    [x],
    [y],
    initializer=[two, one],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="kinema")
model.ir_version = 9
onnx.checker.check_model(model)
out = Path(__file__).with_name("affine.onnx")
onnx.save(model, out)
print(f"wrote {out} ({out.stat().st_size} bytes)")
