"""A stand-in for rembg's models, built offline with the onnx helper API: same layout as u2net,
an output that is a known function of the input, so tests know the mask to expect."""

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def save_red_minus_blue_model(path: Path, sign: float = 1.0) -> Path:
    """A model like u2net: input [1,3,H,W] float, first output [1,1,H,W] in 0..1 = sigmoid of
    (red - blue) of the normalised input, then six more outputs (u2net has seven side outputs).
    The second output is the inverse of the first, so reading the wrong one shows up."""
    weights = numpy_helper.from_array(np.array([8.0 * sign, 0.0, -8.0 * sign], np.float32).reshape(1, 3, 1, 1), "w")
    nodes = [
        helper.make_node("Conv", ["input.1", "w"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["d0"]),
        helper.make_node("Neg", ["logit"], ["negated"]),
        helper.make_node("Sigmoid", ["negated"], ["d1"]),
        *[helper.make_node("Identity", ["d1"], [f"d{i}"]) for i in range(2, 7)],
    ]
    shape = [1, 3, "height", "width"]  # free size, so one file serves u2net (320) and isnet (1024)
    graph = helper.make_graph(
        nodes,
        "red_minus_blue",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info(f"d{i}", TensorProto.FLOAT, [1, 1, "height", "width"]) for i in range(7)],
        initializer=[weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path
