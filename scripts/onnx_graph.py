"""A small builder for the ONNX graphs that scripts/fetch_models.py and scripts/smollm2.py write."""

from __future__ import annotations

import numpy as np


class GraphBuilder:
    """Nodes and initializers of a graph under construction. Every node has
    one output, named after the node (a fresh name when none is given)."""

    def __init__(self):
        self.nodes = []
        self.inits = []
        self._count = 0

    def const(self, name: str, arr) -> str:
        """An initializer holding `arr`; returns its name."""
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(np.asarray(arr, order="C"), name))
        return name

    def node(self, op: str, inputs, name: str | None = None, **attrs) -> str:
        """A node of type `op`; returns its output's name."""
        from onnx import helper

        if name is None:
            self._count += 1
            name = f"{op.lower()}_{self._count}"
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name
