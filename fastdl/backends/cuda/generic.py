"""CUDA generic kernels: broadcast arithmetic, reductions, matmul, copies and indexing.

Shape legend: ``out`` any shape; operands broadcast to it by NumPy's rules.

* **Elementwise** (add ... where, copy, fill): one thread per output element. A kernel
  is generated per (operation, out rank, operand ranks) and indexes each operand with
  its own shape and strides: a size-1 axis reads index 0 (``min(i, n - 1)``), so
  broadcasting, transposed views and strided outputs (``copy`` into a slab) need no
  stride arrays and no copies. When every array is C-contiguous and of out's shape (or
  a scalar) the arrays are flattened first, so the kernel is a plain 1-D coalesced pass.
  Scalars (Python numbers, NumPy scalars, 0-d host arrays) are kernel arguments, never
  uploads. Operands are cast to NumPy's result type (Python scalars weak, as in NumPy
  2), the result to out's dtype on store: the reference's ufunc loops.
* **Reductions** (sum, mean, max, argmax): one thread per output element looping over
  the reduced elements in order when they are few or lie on outer axes (adjacent
  threads then read adjacent addresses), else one block per output element with a
  shared-memory tree. Both are deterministic; max keeps the first maximum (NaN wins,
  as in np.argmax).
* **matmul**: the dense-layer GEMM of :mod:`.linear`, one launch per batch matrix (one
  in all when b is 2-D and a's batch folds into its rows).
* **gather / index_add**: basic indices (ints, slices) are device-array views, so
  gather is a copy; a leading int array (embedding rows) is a row gather; anything
  else gathers through flat source indices computed on the host once. index_add owns
  one destination per thread and adds its contributions in index order (sorted on the
  host): deterministic, no atomics, the same sums as np.add.at.

Example::

    >>> from numba import cuda
    >>> out = cuda.device_array((2, 3), np.float32)
    >>> add(cuda.to_device(np.ones((2, 3), np.float32)), 0.5, out)  # a weak scalar
    >>> out.copy_to_host()[0]
    array([1.5, 1.5, 1.5], dtype=float32)
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
from numba import config, cuda

from fastdl.backends.cuda import _launch
from fastdl.backends.cuda import memory as _memory
from fastdl.backends.cuda.linear import _gemm

# Threads per block. The simulator runs a Python thread per CUDA thread: small blocks.
BLOCK = 32 if config.ENABLE_CUDASIM else 256
# A block per output element once the reduced extent passes this (and the reduced
# axes include the innermost, or the outputs are too few to fill the GPU).
BLOCK_REDUCE_MIN = 16 if config.ENABLE_CUDASIM else 256
THREAD_REDUCE_MIN_OUTPUTS = 8 if config.ENABLE_CUDASIM else 8192


# -- operations ------------------------------------------------------------------------


def _add(x, y):
    return x + y


def _sub(x, y):
    return x - y


def _mul(x, y):
    return x * y


def _div(x, y):
    return x / y


def _pow(x, y):
    return x**y


def _neg(x):
    return -x


def _exp(x):
    return math.exp(x)


def _log(x):
    return math.log(x)


def _sqrt(x):
    return math.sqrt(x)


def _abs(x):
    return x if x >= 0 else -x  # -0.0 stays -0.0, equal to NumPy's 0.0


def _sign(x):
    if x > 0:
        return 1
    if x < 0:
        return -1
    if x == 0:
        return 0
    return x  # NaN


def _identity(x):
    return x


def _clamp_lo(x, lo, hi):
    return x if x >= lo or x != x else lo  # NaN stays NaN, as np.maximum


def _clamp_hi(x, lo, hi):
    return x if x <= hi or x != x else hi


def _clamp_both(x, lo, hi):
    return _clamp_hi_device(_clamp_lo_device(x, lo, hi), lo, hi)


def _eq(x, y):
    return x == y


def _ne(x, y):
    return x != y


def _lt(x, y):
    return x < y


def _le(x, y):
    return x <= y


def _gt(x, y):
    return x > y


def _ge(x, y):
    return x >= y


def _where(c, x, y):
    return x if c else y


_clamp_lo_device = cuda.jit(device=True, inline=True)(_clamp_lo)
_clamp_hi_device = cuda.jit(device=True, inline=True)(_clamp_hi)

_OPS = {
    "add": _add, "sub": _sub, "mul": _mul, "div": _div, "pow": _pow,
    "neg": _neg, "exp": _exp, "log": _log, "sqrt": _sqrt, "abs": _abs, "sign": _sign,
    "copy": _identity, "clamp_lo": _clamp_lo, "clamp_hi": _clamp_hi,
    "clamp_both": _clamp_both, "eq": _eq, "ne": _ne, "lt": _lt, "le": _le, "gt": _gt,
    "ge": _ge, "where": _where,
}  # fmt: skip


@cache
def _device_op(op):
    """The device function of ``op``: a name in ``_OPS``, or a Python function (the
    pointwise family's)."""
    return cuda.jit(device=True, inline=True)(_OPS[op] if isinstance(op, str) else op)


# -- source generation -----------------------------------------------------------------


def _decode(flat, dims, names):
    """Source lines setting ``names`` to the C-order coordinates of ``flat`` over the
    extents ``dims`` (source expressions)."""
    if not names:
        return []
    lines = [f"r = {flat}"]
    for d in range(len(names) - 1, 0, -1):
        lines += [f"{names[d]} = r % {dims[d]}", f"r //= {dims[d]}"]
    return lines + [f"{names[0]} = r"]


def _index(coords):
    return ", ".join(coords) if coords else "()"


def _compile(source, name, namespace):
    namespace = {"cuda": cuda, "np": np, "math": math, **namespace}
    exec(compile(source, f"<fastdl.cuda.generic.{name}>", "exec"), namespace)
    return cuda.jit(namespace[name])


# -- elementwise -----------------------------------------------------------------------


@cache
def _elementwise_kernel(op, ndim, ranks, casts):
    """``out[i] = op(cast(x0[i]), cast(x1[i]), ...)`` over out of rank ``ndim``.

    ``ranks[k]`` is operand k's rank (None: a scalar argument), aligned to out's
    trailing axes; ``casts[k]`` its compute dtype (None: as it is).
    """
    coords = [f"i{d}" for d in range(ndim)]
    args, values, namespace = [], [], {"op": _device_op(op)}
    for k, (rank, cast) in enumerate(zip(ranks, casts, strict=True)):
        name = f"x{k}"
        args.append(name)
        if rank is None:
            value = name
        else:
            own = coords[ndim - rank :]
            index = [f"min({c}, {name}.shape[{j}] - 1)" for j, c in enumerate(own)]
            value = f"{name}[{_index(index)}]"
        if cast is not None:
            namespace[f"t{k}"] = np.dtype(cast).type
            value = f"t{k}({value})"
        values.append(value)
    body = _decode("t", [f"out.shape[{d}]" for d in range(ndim)], coords)
    lines = [
        f"def elementwise(out, {', '.join(args)}):",
        "    t = cuda.grid(1)",
        "    if t >= out.size:",
        "        return",
        *(f"    {line}" for line in body),
        f"    out[{_index(coords)}] = op({', '.join(values)})",
    ]
    return _compile("\n".join(lines) + "\n", "elementwise", namespace)


def _is_device(x) -> bool:
    return not isinstance(x, int | float | bool | np.generic | np.ndarray)


def _scalar(x):
    """A host scalar as a NumPy scalar of its dtype; a Python number as it is (weak)."""
    if isinstance(x, np.ndarray):
        return x[()]
    return x


def _result_dtype(operands):
    return np.result_type(*(x.dtype if _is_device(x) else x for x in operands))


def _elementwise(op, out, operands, casts):
    """Launch ``out = op(*operands)`` with broadcasting, one thread per element."""
    if out.size == 0:
        return
    operands = [x if _is_device(x) else _scalar(x) for x in operands]
    arrays = [x for x in operands if _is_device(x)]
    if out.is_c_contiguous() and all(
        x.is_c_contiguous() and (x.shape == out.shape or x.size == 1) for x in arrays
    ):
        out = out.reshape(out.size)
        operands = [x.reshape(x.size) if _is_device(x) else x for x in operands]
    ranks = tuple(x.ndim if _is_device(x) else None for x in operands)
    casts = tuple(None if c is None else np.dtype(c) for c in casts)
    kernel = _elementwise_kernel(op, out.ndim, ranks, casts)
    _launch.launch(kernel, out.size, out, *operands, block=BLOCK)


def _binary(op, a, b, out):
    dtype = _result_dtype((a, b))
    _elementwise(op, out, (a, b), (dtype, dtype))


def _unary(op, x, out):
    _elementwise(op, out, (x,), (_result_dtype((x,)),))


def _float_unary(op, x, out):
    """exp, log, sqrt: integer and bool inputs compute in float64, as NumPy's loops."""
    dtype = _result_dtype((x,))
    if dtype.kind in "biu":
        dtype = np.dtype(np.float64)
    _elementwise(op, out, (x,), (dtype,))


def add(a, b, out):
    """out = a + b (broadcast)."""
    _binary("add", a, b, out)


def sub(a, b, out):
    """out = a - b (broadcast)."""
    _binary("sub", a, b, out)


def mul(a, b, out):
    """out = a * b (broadcast); out may be a or b (in place)."""
    _binary("mul", a, b, out)


def div(a, b, out):
    """out = a / b (broadcast); integers divide in float64, as np.true_divide."""
    dtype = _result_dtype((a, b))
    if dtype.kind in "biu":
        dtype = np.dtype(np.float64)
    _elementwise("div", out, (a, b), (dtype, dtype))


def pow(a, b, out):  # noqa: A001 - the kernel's name in the spec
    """out = a ** b (broadcast)."""
    _binary("pow", a, b, out)


def neg(x, out):
    """out = -x."""
    _unary("neg", x, out)


def exp(x, out):
    """out = exp(x)."""
    _float_unary("exp", x, out)


def log(x, out):
    """out = log(x)."""
    _float_unary("log", x, out)


def sqrt(x, out):
    """out = sqrt(x)."""
    _float_unary("sqrt", x, out)


def abs(x, out):  # noqa: A001
    """out = |x|."""
    _unary("abs", x, out)


def sign(x, out):
    """out = sign(x): 0 at 0, NaN at NaN."""
    _unary("sign", x, out)


def clamp(x, lo, hi, out):
    """out = min(max(x, lo), hi); a None bound is no bound (NaN passes through)."""
    if lo is None and hi is None:
        copy(x, out)
        return
    op = (
        "clamp_both"
        if lo is not None and hi is not None
        else "clamp_hi"
        if lo is None
        else "clamp_lo"
    )
    bounds = [b for b in (lo, hi) if b is not None]
    dtype = _result_dtype((x, *bounds))
    zero = dtype.type(0)
    lo, hi = (zero if b is None else dtype.type(b) for b in (lo, hi))
    _elementwise(op, out, (x, lo, hi), (dtype, None, None))


def compare(a, b, op, out):
    """out (bool) = a <op> b (broadcast), op one of eq ne lt le gt ge."""
    if op not in ("eq", "ne", "lt", "le", "gt", "ge"):
        raise ValueError(f"unknown comparison {op!r}")
    _binary(op, a, b, out)


def where(cond, a, b, out):
    """out = a where cond else b (broadcast over all three)."""
    dtype = _result_dtype((a, b))
    _elementwise("where", out, (cond, a, b), (None, dtype, dtype))


def copy(src, out):
    """out[...] = src: any strides, broadcast, cast to out's dtype (unsafe, as np.copyto)."""
    _elementwise("copy", out, (src,), (None,))


def fill(out, value):
    """out[...] = value, cast to out's dtype."""
    _elementwise("copy", out, (np.dtype(out.dtype).type(value),), (None,))


# -- reductions --------------------------------------------------------------------------


def _takes(v, i, w, j):
    """Whether candidate (w, j) beats (v, i) for the first maximum: NaN beats numbers,
    ties go to the smaller index."""
    if w != w:
        return v == v or j < i
    if v != v:
        return False
    return w > v or (w == v and j < i)


_takes_device = cuda.jit(device=True, inline=True)(_takes)


@cache
def _reduce_kernel(mode, ndim, reduced, acc_dtype, per_block):
    """A kernel reducing x (rank ``ndim``) over the axes ``reduced`` into flat outputs.

    ``mode`` "sum" or "mean" (arguments ``(x, out, n_out, n_red, count)``) or "max"
    (``(x, values, indices, n_out, n_red, write_values)``; ``best_at == n_red`` marks
    no candidate yet). ``per_block``: one block per output and a
    shared-memory tree; else one thread per output looping in order.
    """
    names = [f"i{d}" for d in range(ndim)]
    kept = [d for d in range(ndim) if d not in reduced]
    item = f"x[{_index(names)}]"
    decode_out = _decode("o", [f"x.shape[{d}]" for d in kept], [names[d] for d in kept])
    decode_red = _decode("q", [f"x.shape[{d}]" for d in reduced], [names[d] for d in reduced])
    if per_block:
        head = [
            "o = cuda.blockIdx.x",
            "t = cuda.threadIdx.x",
            *decode_out,
        ]
        loop = "for q in range(t, n_red, BLOCK):"
    else:
        head = ["o = cuda.grid(1)", "if o >= n_out:", "    return", *decode_out]
        loop = "for q in range(n_red):"
    divide = " / count" if mode == "mean" else ""
    if mode in ("sum", "mean"):
        args = "x, out, n_out, n_red, count"
        body = ["acc = zero", loop, *(f"    {s}" for s in decode_red), f"    acc += {item}"]
        if per_block:
            body += [
                "partial = cuda.shared.array(BLOCK, acc_type)",
                "partial[t] = acc",
                "cuda.syncthreads()",
                "step = BLOCK // 2",
                "while step > 0:",
                "    if t < step:",
                "        partial[t] += partial[t + step]",
                "    cuda.syncthreads()",
                "    step //= 2",
                "if t == 0:",
                f"    out[o] = partial[0]{divide}",
            ]
        else:
            body += [f"out[o] = acc{divide}"]
    else:
        args = "x, values, indices, n_out, n_red, write_values"
        body = [
            "best = zero",
            "best_at = n_red",
            loop,
            *(f"    {s}" for s in decode_red),
            f"    v = acc_type({item})",
            "    if best_at == n_red or takes(best, best_at, v, q):",
            "        best = v",
            "        best_at = q",
        ]
        if per_block:
            body += [
                "best_values = cuda.shared.array(BLOCK, acc_type)",
                "best_indices = cuda.shared.array(BLOCK, np.int64)",
                "best_values[t] = best",
                "best_indices[t] = best_at",
                "cuda.syncthreads()",
                "step = BLOCK // 2",
                "while step > 0:",
                "    if t < step:",
                "        j = best_indices[t + step]",
                "        if j < n_red and (best_indices[t] == n_red or takes("
                "best_values[t], best_indices[t], best_values[t + step], j)):",
                "            best_values[t] = best_values[t + step]",
                "            best_indices[t] = j",
                "    cuda.syncthreads()",
                "    step //= 2",
                "if t == 0:",
                "    if write_values:",
                "        values[o] = best_values[0]",
                "    indices[o] = best_indices[0]",
            ]
        else:
            body += [
                "if write_values:",
                "    values[o] = best",
                "indices[o] = best_at",
            ]
    lines = [f"def reduce({args}):", *(f"    {s}" for s in head + body)]
    acc_type = np.dtype(acc_dtype).type
    namespace = {
        "BLOCK": BLOCK,
        "acc_type": acc_type,
        "zero": acc_type(0),
        "takes": _takes_device,
    }
    return _compile("\n".join(lines) + "\n", "reduce", namespace)


def _flat(array):
    """A C-contiguous array as a 1-D view (reduction, matmul and indexing outputs)."""
    if not array.is_c_contiguous():
        raise ValueError(f"expected a C-contiguous output, got strides {array.strides}")
    return array.reshape(array.size)


def _reduce(mode, x, reduced, outputs, scalars, acc_dtype):
    """Launch a reduction of x over the sorted axes ``reduced`` into flat ``outputs``."""
    n_out = outputs[0].size
    n_red = math.prod(x.shape[d] for d in reduced)
    if n_out == 0:
        return
    inner = bool(reduced) and reduced[-1] == x.ndim - 1
    per_block = n_red > BLOCK_REDUCE_MIN and (inner or n_out < THREAD_REDUCE_MIN_OUTPUTS)
    kernel = _reduce_kernel(mode, x.ndim, reduced, np.dtype(acc_dtype), per_block)
    if per_block:
        kernel[n_out, BLOCK](x, *outputs, n_out, n_red, *scalars)
        _launch.count()
    else:
        _launch.launch(kernel, n_out, x, *outputs, n_out, n_red, *scalars, block=BLOCK)


def _axes(axes, ndim):
    return tuple(sorted({int(a) % (ndim or 1) for a in axes}))


def sum(x, axes, keepdims, out):  # noqa: A001
    """out = x summed over the tuple axes (keepdims only shapes out)."""
    reduced = _axes(axes, x.ndim)
    dtype = np.dtype(out.dtype)
    _reduce("sum", x, reduced, (_flat(out),), (dtype.type(1),), dtype)


def mean(x, axes, keepdims, out):
    """out = x averaged over the tuple axes: the sum divided by the count, in out's dtype."""
    reduced = _axes(axes, x.ndim)
    dtype = np.dtype(out.dtype)
    count = math.prod(x.shape[d] for d in reduced)
    _reduce("mean", x, reduced, (_flat(out),), (dtype.type(count),), dtype)


def max(x, axis, values, indices):  # noqa: A001
    """values, indices (int64) = the max of x along axis and its first index."""
    reduced = _axes((axis,), x.ndim)
    outputs = (_flat(values), _flat(indices))
    _reduce("max", x, reduced, outputs, (True,), np.dtype(x.dtype))


def argmax(x, axis, out):
    """out (int64) = the first index of the max of x along axis."""
    reduced = _axes((axis,), x.ndim)
    flat = _flat(out)
    _reduce("max", x, reduced, (flat, flat), (False,), np.dtype(x.dtype))


# -- matmul --------------------------------------------------------------------------


def _contiguous(x):
    """x itself when C-contiguous, else a C-contiguous device copy (one launch)."""
    if x.is_c_contiguous():
        return x
    dense = _memory.empty(x.shape, x.dtype)
    copy(x, dense)
    return dense


def matmul(a, b, out):
    """out = a @ b with NumPy's semantics: 1-D operands, batch axes broadcast.

    Non-contiguous operands are copied first. A 2-D b takes one GEMM for all of a's
    batch (folded into rows); otherwise one GEMM per batch matrix.
    """
    a, b = _contiguous(a), _contiguous(b)
    if a.ndim == 1:
        a = a.reshape(1, a.shape[0])
    if b.ndim == 1:
        b = b.reshape(b.shape[0], 1)
    a_shape, b_shape = tuple(a.shape), tuple(b.shape)  # the simulator's shapes refuse [-1]
    n, m = a_shape[-2], b_shape[-1]
    batch = np.broadcast_shapes(a_shape[:-2], b_shape[:-2])
    out = _flat(out).reshape(*batch, n, m)
    if b.ndim == 2:
        rows = math.prod(a_shape[:-1])
        _gemm(a.reshape(rows, a_shape[-1]), False, b, False, out.reshape(rows, m))
        return
    for index in np.ndindex(*batch):
        _gemm(_batch_item(a, index), False, _batch_item(b, index), False, out[index])


def _batch_item(x, index):
    """The 2-D matrix of x at the broadcast batch index (size-1 axes read at 0)."""
    own = index[len(index) - (x.ndim - 2) :]
    return x[tuple(i if n > 1 else 0 for i, n in zip(own, x.shape, strict=False))]


# -- indexing ------------------------------------------------------------------------


@cuda.jit
def _gather_rows_kernel(x, rows, out, fill):
    """out[i, j] = x[rows[i], j], negative rows counted from the end; a row outside the
    table gives ``fill`` (NaN for floats) instead of a read out of bounds (device indices
    are not checked on the host: that would cost a copy)."""
    t = cuda.grid(1)
    if t >= out.size:
        return
    width = out.shape[1]
    i = t // width
    j = t - i * width
    row = rows[i]
    if row < 0:
        row += x.shape[0]
    if row < 0 or row >= x.shape[0]:
        out[i, j] = fill
    else:
        out[i, j] = x[row, j]


@cuda.jit
def _gather_flat_kernel(x, sources, out):
    """out[t] = x[sources[t]] over flat arrays."""
    t = cuda.grid(1)
    if t < out.size:
        out[t] = x[sources[t]]


@cuda.jit
def _index_add_kernel(out, values, rows, starts, value_rows):
    """out[rows[u], j] += values[value_rows[p], j] for p in starts[u]:starts[u + 1], in order.

    A thread owns one (destination row, column): no two threads write one element.
    """
    t = cuda.grid(1)
    width = out.shape[1]
    if t >= rows.size * width:
        return
    u = t // width
    j = t - u * width
    row = rows[u]
    acc = out[row, j]
    for p in range(starts[u], starts[u + 1]):
        acc += values[value_rows[p], j]
    out[row, j] = acc


def _is_basic(item) -> bool:
    return isinstance(item, int | np.integer | slice)


def _is_view(index) -> bool:
    """Whether x[index] is a device-array view: ints and forward slices only (numba's
    device arrays do not take negative steps)."""
    return all(
        _is_basic(item) and not (isinstance(item, slice) and (item.step or 1) < 0) for item in index
    )


def _leading_rows(index, ndim):
    """The int array of an index (rows,) or (rows, :, ...) that picks whole rows, else None."""
    if not index or not 1 <= len(index) <= ndim or _is_basic(index[0]):
        return None
    if not all(isinstance(item, slice) and item == slice(None) for item in index[1:]):
        return None
    return index[0]


def _host_index(index):
    """The index with device arrays copied to the host (the general paths need NumPy)."""
    return tuple(item if _is_basic(item) else _host(item) for item in index)


def _host(array):
    return array if isinstance(array, np.ndarray) else _memory.to_host(array)


def _rows_on_device(rows, n):
    """An int64 index as a 1-D device array; host indices are bounds-checked first."""
    if isinstance(rows, np.ndarray):
        rows = np.ascontiguousarray(rows, dtype=np.int64).reshape(-1)
        if rows.size and (rows.min() < -n or rows.max() >= n):
            raise IndexError(f"index out of range for an axis of size {n}")
        return _memory.to_device(rows)
    return rows.reshape(rows.size)


def _as_rows(x, rows):
    """A C-contiguous x as a (rows, rest) matrix."""
    return x.reshape(rows, x.size // rows if rows else 0)


def gather(x, index, out):
    """out[...] = x[index], index a tuple of ints, slices and int64 arrays.

    Ints and forward slices: a strided view of x, copied. A leading int array over whole rows
    (an embedding lookup): a row gather. Otherwise flat source indices computed on the
    host with NumPy (device index arrays are copied there) and one flat gather.
    """
    index = index if isinstance(index, tuple) else (index,)
    if out.size == 0:
        return
    if _is_view(index) and out.ndim > 0:
        copy(x[index], out)
        return
    x = _contiguous(x)
    rows = _leading_rows(index, x.ndim)
    if rows is not None and x.shape[0] > 0:
        rows = _rows_on_device(rows, x.shape[0])
        wide = _as_rows(_flat(out), rows.size)
        dtype = np.dtype(out.dtype)
        fill = dtype.type(np.nan if dtype.kind == "f" else 0)
        _launch.launch(_gather_rows_kernel, out.size, _as_rows(x, x.shape[0]), rows, wide, fill)
        return
    sources = np.arange(x.size).reshape(x.shape)[_host_index(index)]
    sources = _memory.to_device(np.ascontiguousarray(sources, dtype=np.int64).reshape(-1))
    _launch.launch(_gather_flat_kernel, out.size, _flat(x), sources, _flat(out))


def index_add(out, index, values):
    """out[index] += values, repeated indices accumulating in order (as np.add.at).

    The destinations are sorted on the host (stable), so each thread owns one
    destination element and adds its contributions in index order: deterministic and
    the same sums as the reference. A leading int array over whole rows (an embedding's
    gradient) sorts only the rows; otherwise flat destinations of out, with values
    broadcast to out[index]'s shape.
    """
    index = index if isinstance(index, tuple) else (index,)
    index = _host_index(index)
    values = _contiguous(values)
    flat = _flat(out)
    rows = _leading_rows(index, out.ndim)
    selected = np.broadcast_to(np.empty((), np.uint8), out.shape)[index].shape
    if rows is not None and tuple(values.shape) == selected and out.shape[0] > 0:
        destinations = np.asarray(rows, dtype=np.int64).reshape(-1) % out.shape[0]
        value_rows = np.arange(destinations.size)
        target, source = _as_rows(flat, out.shape[0]), _as_rows(values, destinations.size)
    else:
        destinations = np.arange(out.size).reshape(out.shape)[index].reshape(-1)
        value_rows = np.arange(values.size).reshape(values.shape)
        value_rows = np.broadcast_to(value_rows, selected).reshape(-1)
        target, source = flat.reshape(out.size, 1), values.reshape(values.size, 1)
    if destinations.size == 0 or target.size == 0:
        return
    order = np.argsort(destinations, kind="stable")
    unique, starts = np.unique(destinations[order], return_index=True)
    starts = np.append(starts, order.size).astype(np.int64)
    args = (unique.astype(np.int64), starts, value_rows[order].astype(np.int64))
    n = unique.size * target.shape[1]
    _launch.launch(_index_add_kernel, n, target, source, *(_memory.to_device(a) for a in args))
