"""Computational-graph export: Graphviz DOT text of the graph behind a tensor.

Example::

    y = (x @ w).relu().sum()
    print(fastdl.graph.to_dot(y))      # paste into `dot -Tpng`
"""

from __future__ import annotations

from fastdl.tensor import Tensor


def _shape(t: Tensor) -> str:
    return "(" + ", ".join(str(n) for n in t.shape) + ")"


def to_dot(tensor: Tensor, name: str = "fastdl") -> str:
    """DOT text: ops as boxes, leaf tensors as ellipses, edges labelled with shapes.

    Walks the graph iteratively, so deep (e.g. unrolled) graphs are fine.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"to_dot expects a Tensor, got {type(tensor).__name__}")
    lines = [f"digraph {name} {{", "  rankdir=BT;", '  node [fontname="Helvetica"];']
    output = f"t{id(tensor)}"
    lines.append(f'  {output} [label="output\\n{_shape(tensor)}", shape=doubleoctagon];')
    if tensor._node is None:
        lines.append("}")
        return "\n".join(lines)
    root = tensor._node
    lines.append(f'  n{id(root)} -> {output} [label="{_shape(tensor)}"];')
    seen, stack = set(), [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        lines.append(f'  n{id(node)} [label="{node.name}", shape=box];')
        for inp, parent in zip(node.inputs, node.parents):
            if not isinstance(inp, Tensor):
                continue
            if parent is not None:
                lines.append(f'  n{id(parent)} -> n{id(node)} [label="{_shape(inp)}"];')
                stack.append(parent)
            else:
                kind = "param" if inp.requires_grad else "input"
                lines.append(f'  t{id(inp)} [label="{kind}\\n{_shape(inp)}", shape=ellipse];')
                lines.append(f'  t{id(inp)} -> n{id(node)} [label="{_shape(inp)}"];')
    lines.append("}")
    return "\n".join(dict.fromkeys(lines))  # a leaf used twice is declared once
