"""Exact rewrites of exported patterns that ONNX Runtime's CPU kernels run slowly (run by fuse.py).

Each one gives the same numbers as the graph before it (the outputs were bit-identical on the tiny LTX
graphs) and only changes what ONNX Runtime has to move around:

- `hoist_transpose`: LTX's RoPE builds its angles as coordinates [B, S, 3, 1] times frequencies [F],
  then transposes the [B, S, 3, F] product, a 4-D permutation with tiny inner axes that ONNX Runtime copies
  element by element (14 ms a forward at 9,216 tokens, more than the rest of RoPE). Transposing the
  coordinates and the constant instead moves only size-1 axes: `Transpose(Mul(X, C))` becomes
  `Mul(Transpose(X), C')` wherever that transpose of X keeps X's other axes in order.
- `key_padding_mask`: LTX's cross-attention mask is the text mask turned into an additive bias,
  `(1 - mask) * -10000`; fuse.py hands it to MultiHeadAttention as `attention_bias`, which must be expanded
  to B x H x S x L (6 ms a forward at 9,216 tokens). MultiHeadAttention takes the [B, L] mask itself as
  `key_padding_mask` and adds `mask_filter_value` (here the same -10000) where it is 0, on the CPU and on
  CUDA alike.
- `rope_tables`: RoPE's cos and sin tables are repeated pairwise (`repeat_interleave`) and padded in front
  through Unsqueeze, Expand, Reshape, Slice, Shape, Expand and Concat; one MatMul with a constant 0/1 matrix
  (plus the padding row for cos) does all of it. Rotating the query and key pairs, (x0, x1) -> (-x1, x0), took
  Slice, Squeeze, Neg, Unsqueeze and Concat; it becomes one reversed Slice that swaps each pair, the sign
  moved into the sin table's matrix.
"""
import numpy as np
from onnx import TensorProto, helper

from fuse import Graph, _replace

# Ops that only reshape or broadcast a tensor: the mask's bias reaches the attention through these.
SHAPE_OPS = {"Reshape", "Expand", "Unsqueeze", "Squeeze"}


def hoist_transpose(model) -> int:
    """`Transpose(Mul(X, C))`, C constant, X's transpose moving only size-1 axes: `Mul(Transpose(X), C')`."""
    done = 0
    while _hoist_one(model):
        done += 1
    return done


def _hoist_one(model) -> bool:
    g = Graph(model)
    for t in model.graph.node:
        if t.op_type != "Transpose":
            continue
        m = g.producer.get(t.input[0])
        if m is None or m.op_type != "Mul" or len(g.consumers.get(m.output[0], [])) != 1:
            continue
        consts = [g.const(i) for i in m.input]
        if sum(c is not None for c in consts) != 1:
            continue
        k = 0 if consts[0] is not None else 1
        c, x = consts[k], m.input[1 - k]
        perm = next((list(a.ints) for a in t.attribute if a.name == "perm"), None)
        shape, dtype = g.shapes.get(x, (None, None))
        if perm is None or not shape or len(shape) != len(perm) or c.ndim > len(perm) or dtype != TensorProto.FLOAT:
            continue
        # Cheap only if the axes that are not 1 keep their order (unknown sizes count as not 1).
        moved = [a for a in perm if shape[a] != 1]
        if moved != sorted(moved):
            continue
        c_t = np.transpose(c.reshape((1,) * (len(perm) - c.ndim) + c.shape), perm).astype(c.dtype)
        xt = g.fresh("hoisted")
        new = [helper.make_node("Transpose", [x], [xt], perm=perm, name=g.fresh("Transpose")),
               helper.make_node("Mul", [xt, g.add_init("hoisted_const", c_t)], [t.output[0]], name=g.fresh("Mul"))]
        _replace(model, [m, t], new)
        return True
    return False


def key_padding_mask(model) -> int:
    """MultiHeadAttention whose `attention_bias` is `(1 - M) * c` broadcast from a [B, L] graph input M takes
    M as `key_padding_mask` with `mask_filter_value` c; the bias's nodes go if nothing else reads them."""
    done = 0
    while _mask_one(model):
        done += 1
    if done:
        drop_dead(model)
    return done


def _mask_one(model) -> bool:
    g = Graph(model)
    inputs = {i.name: i for i in model.graph.input}
    for mha in model.graph.node:
        if mha.op_type != "MultiHeadAttention" or len(mha.input) < 6 or not mha.input[5] or mha.input[4]:
            continue
        node = g.producer.get(mha.input[5])
        while node is not None and node.op_type in SHAPE_OPS:
            node = g.producer.get(node.input[0])
        if node is None or node.op_type != "Mul":
            continue
        scale = [g.const(i) for i in node.input]
        if sum(s is not None and s.size == 1 for s in scale) != 1:
            continue
        k = 0 if scale[0] is not None else 1
        fill, sub = float(scale[k].reshape(-1)[0]), g.producer.get(node.input[1 - k])
        one = g.const(sub.input[0]) if sub is not None and sub.op_type == "Sub" else None
        if one is None or one.size != 1 or float(one.reshape(-1)[0]) != 1.0:
            continue
        mask = sub.input[1]
        cast = g.producer.get(mask)
        if cast is not None and cast.op_type == "Cast":
            mask = cast.input[0]
        if mask not in inputs or len(inputs[mask].type.tensor_type.shape.dim) != 2:
            continue
        as_int = g.fresh("key_padding_mask")
        new = helper.make_node("MultiHeadAttention", list(mha.input[:4]) + [as_int], list(mha.output),
                               domain=mha.domain, name=mha.name)
        new.attribute.extend(a for a in mha.attribute if a.name != "mask_filter_value")
        new.attribute.append(helper.make_attribute("mask_filter_value", fill))
        cast_node = helper.make_node("Cast", [mask], [as_int], to=TensorProto.INT32, name=g.fresh("Cast"))
        _replace(model, [mha], [cast_node, new])
        return True
    return False


def rope_tables(model) -> int:
    """Pairwise-repeated, padded cos/sin tables become MatMuls; pair rotations read by the sin table only
    become swaps with the sign in the table. Returns how many tables were rewritten."""
    done = 0
    while _table_one(model):
        done += 1
    if done:
        drop_dead(model)
        while _rotation_one(model):
            pass
        drop_dead(model)
    return done


def _ints(g, name):
    v = g.const(name) if name else None
    return None if v is None else [int(x) for x in np.asarray(v).reshape(-1)]


def _table_one(model) -> bool:
    g = Graph(model)
    for cat in model.graph.node:
        axis = next((helper.get_attribute_value(a) for a in cat.attribute if a.name == "axis"), None)
        if cat.op_type != "Concat" or len(cat.input) != 2 or axis != -1:
            continue
        pad, rep = (g.producer.get(i) for i in cat.input)
        # rep = Reshape(Expand(Unsqueeze(T, last), [1, .., 1, 2]), ...): every value of T twice in a row
        if rep is None or rep.op_type != "Reshape":
            continue
        expand = g.producer.get(rep.input[0])
        if expand is None or expand.op_type != "Expand" or _ints(g, expand.input[1]) is None:
            continue
        reps = _ints(g, expand.input[1])
        unsq = g.producer.get(expand.input[0])
        if reps[-1] != 2 or any(r != 1 for r in reps[:-1]) or unsq is None or unsq.op_type != "Unsqueeze":
            continue
        table = unsq.input[0]
        tshape, ttype = g.shapes.get(table, (None, None))
        if not tshape or tshape[-1] is None or ttype != TensorProto.FLOAT or _ints(g, unsq.input[1]) not in (
                [-1], [len(tshape)]):
            continue
        # pad = Expand(scalar c, Shape(...)): c in front of the repeated table, P columns wide
        pshape, _ = g.shapes.get(cat.input[0], (None, None))
        fill = g.const(pad.input[0]) if pad is not None and pad.op_type == "Expand" else None
        if fill is None or fill.size != 1 or not pshape or pshape[-1] is None:
            continue
        f, p = tshape[-1], pshape[-1]
        matrix = np.zeros((f, p + 2 * f), dtype=np.float32)
        for i in range(f):
            matrix[i, p + 2 * i] = matrix[i, p + 2 * i + 1] = 1.0
        new = []
        out = cat.output[0]
        value = float(fill.reshape(-1)[0])
        if value != 0.0:
            row = np.zeros(p + 2 * f, dtype=np.float32)
            row[:p] = value
            out = g.fresh("table")
            new.append(helper.make_node("Add", [out, g.add_init("table_pad", row)], [cat.output[0]],
                                        name=g.fresh("Add")))
        new.insert(0, helper.make_node("MatMul", [table, g.add_init("table_repeat", matrix)], [out],
                                       name=g.fresh("MatMul")))
        _replace(model, [cat], new)
        return True
    return False


def _rotation_of(g, node):
    """For Reshape(Concat(-x1, x0)) over V = [.., pairs, 2], the V it rotates, else None."""
    if node is None or node.op_type != "Reshape":
        return None
    stack = g.producer.get(node.input[0])
    if stack is None or stack.op_type != "Concat" or len(stack.input) != 2:
        return None
    halves = []
    for i, negated in zip(stack.input, (True, False)):
        n = g.producer.get(i)
        if n is None or n.op_type != "Unsqueeze":
            return None
        n = g.producer.get(n.input[0])
        if negated:
            if n is None or n.op_type != "Neg":
                return None
            n = g.producer.get(n.input[0])
        if n is None or n.op_type != "Squeeze":
            return None
        n = g.producer.get(n.input[0])
        if n is None or n.op_type != "Slice" or len(n.input) < 4:
            return None
        halves.append((n.input[0], _ints(g, n.input[1]), _ints(g, n.input[2]), _ints(g, n.input[3])))
    (v1, s1, e1, a1), (v0, s0, e0, a0) = halves
    vshape, _ = g.shapes.get(v1, (None, None))
    if v1 != v0 or not vshape or vshape[-1] != 2 or (s1, e1, s0, e0) != ([1], [2], [0], [1]) \
            or a1 not in ([-1], [len(vshape) - 1]) or a0 != a1:
        return None
    return v1


def _rotation_one(model) -> bool:
    """A sin table made by `_table_one` whose every reader multiplies it by a pair rotation."""
    g = Graph(model)
    for mm in model.graph.node:
        if mm.op_type != "MatMul" or not mm.input[1].startswith("kinema_table_repeat"):
            continue
        matrix = g.const(mm.input[1])
        readers = g.consumers.get(mm.output[0], [])
        rotated = []
        for mul in readers:
            other = [i for i in mul.input if i != mm.output[0]] if mul.op_type == "Mul" else []
            view = g.producer.get(other[0]) if len(other) == 1 else None
            v = _rotation_of(g, view)
            if v is None:
                break
            rotated.append((mul, view, v))
        if not readers or len(rotated) != len(readers):
            continue
        sign = np.where(np.arange(matrix.shape[1]) % 2 == 0, -1.0, 1.0).astype(np.float32)
        new = [helper.make_node("MatMul", [mm.input[0], g.add_init("table_signed", matrix * sign)],
                                list(mm.output), name=g.fresh("MatMul"))]
        for mul, view, v in rotated:
            swapped = g.fresh("swapped")
            starts, ends, axes, steps = (g.add_init(n, np.array([x], dtype=np.int64)) for n, x in
                                         (("starts", -1), ("ends", np.iinfo(np.int64).min), ("axes", -1),
                                          ("steps", -1)))
            new += [helper.make_node("Slice", [v, starts, ends, axes, steps], [swapped], name=g.fresh("Slice")),
                    helper.make_node("Reshape", [swapped, view.input[1]], [view.output[0]], name=g.fresh("Reshape"))]
        removed = {n.name for n in [mm] + [view for _, view, _ in rotated]}
        kept = [n for n in model.graph.node if n.name not in removed]
        del model.graph.node[:]
        model.graph.node.extend(kept + new)
        toposort(model)
        return True
    return False


def toposort(model):
    """Orders the nodes so each comes after what it reads, keeping the present order where it can."""
    ready = {i.name for i in model.graph.input} | {t.name for t in model.graph.initializer} | {""}
    pending, ordered = list(model.graph.node), []
    while pending:
        left = []
        for n in pending:
            if all(i in ready for i in n.input):
                ordered.append(n)
                ready.update(n.output)
            else:
                left.append(n)
        if len(left) == len(pending):
            raise ValueError(f"the graph has a cycle or an unknown input at {left[0].name}")
        pending = left
    del model.graph.node[:]
    model.graph.node.extend(ordered)


def drop_dead(model):
    """Removes nodes none of whose outputs is read (by a node or as a graph output)."""
    while True:
        read = {i for n in model.graph.node for i in n.input} | {o.name for o in model.graph.output}
        dead = [n for n in model.graph.node if not any(o in read for o in n.output)]
        if not dead:
            return
        for n in dead:
            model.graph.node.remove(n)
