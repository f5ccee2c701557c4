"""Model AST -> graph of nodes. Walks the model body top to bottom, feeding each layer the
value before it, expanding blocks and repeats inline, naming every node, and binding every
layer's arguments. Types are left to `passes.infer_shapes`, except for the model inputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nnc.compiler import ast
from nnc.compiler.bind import BindFailed, LateDefault, bind_arguments, check_value
from nnc.compiler.diagnostics import Diagnostics, did_you_mean
from nnc.compiler.evaluate import EvalFailed, evaluate
from nnc.compiler.ir import BATCH, MAX_DIM, Graph, Input, Node, TensorType
from nnc.compiler.resolve import Resolved
from nnc.compiler.source import Span
from nnc.runtime.dtypes import DTYPES
from nnc.runtime.init import INITIALIZERS
from nnc.runtime.ops import OPS
from nnc.runtime.schema import REQUIRED, Arg, Bool, Float, Int, Kind, Optional, Signature, Table

_INIT = Optional(Table("initializer", INITIALIZERS))
# Keywords every layer with parameters accepts besides its own arguments.
LAYER_KEYWORDS = (
    Arg("init", _INIT, None, "initializer of the main weights"),
    Arg("bias_init", _INIT, None, "initializer of the bias"),
    Arg("recurrent_init", _INIT, None, "initializer of recurrent weights"),
    Arg("scale_init", _INIT, None, "initializer of a normalization scale"),
    Arg("l1", Float(0), 0.0, "L1 penalty on this layer's weights"),
    Arg("l2", Float(0), 0.0, "L2 penalty on this layer's weights"),
    Arg("trainable", Bool(), True, "false freezes the layer's parameters"),
)
_LAYER_KEYWORD_NAMES = {a.name for a in LAYER_KEYWORDS}

# Blocks and repeats expand inline: a budget of expansion work (layers, repeat iterations,
# block calls) keeps `repeat 10000000000 { ... }`, nested empty repeats and blocks that call
# the previous one twice from exhausting time or memory. No real network comes near it.
MAX_NODES = 100_000


class _TooLarge(Exception):
    """The expansion budget ran out at `span`: building stops, with one diagnostic."""

    def __init__(self, span: Span):
        super().__init__()
        self.span = span


FAILED = "<failed>"  # a value whose definition already produced an error: uses stay silent


class Anything(Kind):
    def describe(self) -> str:
        return "any value"

    def check(self, value):
        return value


@dataclass
class _Scope:
    """Value names visible in one model, block instance or repeat iteration."""

    prefix: str  # node-name prefix: "" in the model, "residual_1." inside a block instance
    consts: dict[str, Any]
    names: dict[str, str] = field(default_factory=dict)  # user name -> node or input name
    parent: _Scope | None = None  # repeat iterations also see the enclosing scope
    suffix: str = ""  # "_2" in the second iteration of a repeat: keeps `as` names unique

    def lookup(self, name: str) -> str | None:
        scope = self
        while scope is not None:
            if name in scope.names:
                return scope.names[name]
            scope = scope.parent
        return None

    def visible(self) -> list[str]:
        return list(self.names) + (self.parent.visible() if self.parent else [])


class _Builder:
    def __init__(self, resolved: Resolved, diags: Diagnostics):
        self.resolved = resolved
        self.diags = diags
        self.nodes: list[Node] = []
        self.inputs: list[Input] = []
        self.outputs: list[str] = []
        self.taken: set[str] = set()
        self.counters: dict[tuple[str, str], int] = {}
        self.block_stack: list[str] = []
        self.work = 0  # layers made, repeat iterations and block calls: bounded by MAX_NODES

    def spend(self, span: Span) -> None:
        self.work += 1
        if self.work > MAX_NODES:
            raise _TooLarge(span)

    # ---- naming ----
    def auto_name(self, scope: _Scope, kind: str) -> str:
        key = (scope.prefix, kind)
        while True:
            self.counters[key] = self.counters.get(key, 0) + 1
            name = f"{kind}_{self.counters[key]}"
            if scope.prefix + name not in self.taken:
                return name

    def claim(self, scope: _Scope, alias: ast.Ident | None, kind: str) -> tuple[str, str] | None:
        """(full node name, name in `scope`) for a new node; registers the name in `scope`."""
        if alias is None:
            local = self.auto_name(scope, kind)
            full = scope.prefix + local
        else:
            local = alias.text
            full = scope.prefix + local + scope.suffix
            if local in scope.names or full in self.taken:
                self.diags.error(
                    "E204",
                    f"the name `{local}` is already used in this {'model' if not scope.prefix else 'block'}",
                    alias.span,
                    help="choose another name after `as`",
                )
                return None
        self.taken.add(full)
        scope.names[local] = full
        return full, local

    # ---- statements ----
    def body(
        self,
        stmts: tuple[ast.Statement, ...],
        scope: _Scope,
        current,
        *,
        in_model: bool,
        block_inputs: list[str] | None = None,
    ):
        for stmt in stmts:
            if isinstance(stmt, ast.InputDecl):
                current = self.input_decl(stmt, scope, in_model, block_inputs)
            elif isinstance(stmt, ast.OutputDecl):
                self.output_decl(stmt, scope, in_model)
            elif isinstance(stmt, ast.Repeat):
                current = self.repeat(stmt, scope, current)
            else:
                current = self.chain(stmt, scope, current)
        return current

    def input_decl(self, stmt: ast.InputDecl, scope: _Scope, in_model: bool, block_inputs):
        name = stmt.name
        if not in_model:
            if block_inputs is None:
                self.diags.error(
                    "E209",
                    "`input` is not allowed inside `repeat`",
                    stmt.span,
                    help="declare inputs at the top of the model or block",
                )
                return FAILED
            if stmt.type is not None:
                self.diags.error(
                    "E303",
                    "a block input takes its type from the caller",
                    stmt.type.span,
                    help=f"write `input {name.text}` without a type",
                )
            value = block_inputs.pop(0) if block_inputs else FAILED
            scope.names[name.text] = value
            return [value] if value != FAILED else FAILED
        if stmt.type is None:
            self.diags.error(
                "E303",
                f"model input `{name.text}` needs a type",
                stmt.span,
                help=f"write `input {name.text}: float32[...]` with its per-sample shape",
            )
            return FAILED
        tensor_type = self.tensor_type(stmt.type, scope)
        if name.text in scope.names:
            self.diags.error("E204", f"the name `{name.text}` is already used in this model", name.span)
            return FAILED
        scope.names[name.text] = name.text if tensor_type else FAILED
        self.taken.add(name.text)
        if tensor_type is None:
            return FAILED
        self.inputs.append(Input(name.text, tensor_type, stmt.span))
        return [name.text]

    def tensor_type(self, t: ast.TensorType, scope: _Scope) -> TensorType | None:
        ok = True
        if t.dtype.text not in DTYPES:
            self.diags.error(
                "E303",
                f"unknown dtype `{t.dtype.text}`; inputs are {' or '.join(DTYPES)}",
                t.dtype.span,
                help=did_you_mean(t.dtype.text, DTYPES)
                or "; ".join(f"{d.name} for {d.use}" for d in DTYPES.values()),
            )
            ok = False
        dims = []
        for d in t.dims:
            try:
                value = check_value(
                    "input",
                    Arg("dimension", Int(1)),
                    evaluate(d, scope.consts, self.diags),
                    d.span,
                    scope.consts,
                    self.diags,
                )
                if value > MAX_DIM:
                    self.diags.error(
                        "E303",
                        f"input dimension {value:,} is larger than nnc handles ({MAX_DIM:,})",
                        d.span,
                    )
                    ok = False
                dims.append(value)
            except (EvalFailed, BindFailed):
                ok = False
        if not t.dims:
            self.diags.error("E303", "an input needs a per-sample shape, such as float32[64]", t.span)
            ok = False
        return TensorType(t.dtype.text, (BATCH, *dims)) if ok else None

    def output_decl(self, stmt: ast.OutputDecl, scope: _Scope, in_model: bool) -> None:
        if not in_model:
            self.diags.error(
                "E209", "`output` is only allowed in a model; a block returns its last value", stmt.span
            )
            return
        for name in stmt.names:
            value = self.value(scope, name)
            if value != FAILED and value not in self.outputs:
                self.outputs.append(value)

    def repeat(self, stmt: ast.Repeat, scope: _Scope, current):
        try:
            count = check_value(
                "repeat",
                Arg("count", Int(1)),
                evaluate(stmt.count, scope.consts, self.diags),
                stmt.count.span,
                scope.consts,
                self.diags,
            )
        except (EvalFailed, BindFailed):
            return FAILED
        for i in range(count):
            if count > MAX_NODES or len(self.nodes) > MAX_NODES:
                self.diags.error(
                    "E303",
                    f"repeat {count} makes the model larger than {MAX_NODES:,} layers",
                    stmt.count.span,
                    help="a model this large cannot be trained here; lower the count",
                )
                return FAILED
            self.spend(stmt.count.span)
            child = _Scope(scope.prefix, scope.consts, parent=scope, suffix=f"{scope.suffix}_{i + 1}")
            current = self.body(stmt.body, child, current, in_model=False)
        return current

    def value(self, scope: _Scope, name: ast.Ident) -> str:
        """The value a name refers to, or FAILED after reporting it undefined."""
        value = scope.lookup(name.text)
        if value is None:
            help = did_you_mean(name.text, scope.visible())
            self.diags.error("E203", f"undefined value `{name.text}`", name.span, help=help)
            return FAILED
        return value

    def chain(self, stmt: ast.Chain, scope: _Scope, current):
        if stmt.sources is not None:
            current = []
            for ident in stmt.sources:
                current.append(self.value(scope, ident))
            if FAILED in current:
                current = FAILED
        for index, layer in enumerate(stmt.calls):
            current = self.layer(layer, scope, current, first=index == 0 and stmt.sources is None)
        return current

    def layer(self, layer: ast.LayerCall, scope: _Scope, current, *, first: bool):
        name = layer.call.name
        value = scope.lookup(name.text) if layer.bare else None
        if value is not None:
            if first:
                if layer.alias is not None:
                    scope.names[layer.alias.text] = value
                return [value] if value != FAILED else FAILED
            self.diags.error(
                "E209",
                f"`{name.text}` is a value, not a layer",
                name.span,
                help=f"a chain can start from a value: `{name.text} -> ...`",
            )
            return FAILED
        if name.text in self.resolved.blocks:
            return self.block_call(layer, scope, current)
        op = OPS.get(name.text)
        if op is None:
            candidates = [n for n, o in OPS.items() if not (o.is_loss or o.inserted)] + list(
                self.resolved.blocks
            )
            self.diags.error(
                "E201",
                f"unknown layer `{name.text}`",
                name.span,
                help=did_you_mean(name.text, candidates + (scope.visible() if first else []))
                or "see docs/language.md for the list of layers",
            )
            return FAILED
        if op.inserted:
            self.diags.error(
                "E209",
                f"`{name.text}` is preprocessing, not a layer",
                name.span,
                help=f"ask for it in the data section: `data {{ {name.text} = [INPUT] }}`"
                if op.fit
                else "an input of uint8 or bool is converted to float32 by itself",
            )
            return FAILED
        if op.is_loss:
            self.diags.error(
                "E209",
                f"`{name.text}` is a loss, not a layer",
                name.span,
                help=f"declare it after the model: `loss {name.text}(OUTPUT, target=NAME)`",
            )
            return FAILED
        inputs = self.layer_inputs(layer, op.name, op.min_inputs, op.max_inputs, current)
        signature = Signature(op.name, op.attrs + (LAYER_KEYWORDS if op.params else ()))
        spans: dict[str, Span] = {}
        try:
            bound = bind_arguments(
                signature,
                layer.call.args,
                layer.call.kwargs,
                layer.call.span,
                scope.consts,
                self.diags,
                owner=op.name,
                spans=spans,
                positional=len(op.attrs),  # the layer keywords (init=, l2=, ...) are keyword-only
            )
        except BindFailed:
            bound = None
        claimed = self.claim(scope, layer.alias, op.name)
        if bound is None or inputs is None or claimed is None:
            if claimed is not None:
                scope.names[claimed[1]] = FAILED
            return FAILED
        node_name = claimed[0]
        self.spend(layer.call.span)
        attrs = {k: v for k, v in bound.items() if k not in _LAYER_KEYWORD_NAMES}
        inits = {
            k: bound[k]
            for k in ("init", "bias_init", "recurrent_init", "scale_init")
            if bound.get(k) is not None
        }
        self.nodes.append(
            Node(
                node_name,
                op.name,
                tuple(inputs),
                attrs,
                layer.call.span,
                spans,
                inits=inits,
                l1=bound.get("l1", 0.0),
                l2=bound.get("l2", 0.0),
                trainable=bound.get("trainable", True),
            )
        )
        return [node_name]

    def layer_inputs(self, layer: ast.LayerCall, what: str, low: int, high: int | None, current):
        if current is FAILED:
            return None
        if current is None:
            self.diags.error(
                "E304",
                f"`{what}` has no input",
                layer.call.span,
                help="declare `input NAME: float32[...]` before the first layer",
            )
            return None
        if len(current) < low or (high is not None and len(current) > high):
            want = f"{low}" if low == high else f"{low} to {high}" if high else f"at least {low}"
            self.diags.error(
                "E304",
                f"`{what}` takes {want} input{'s' if want != '1' else ''}. Received: {len(current)}",
                layer.call.span,
                help="wire several values into a layer with `[a, b] -> " + what + "`"
                if len(current) < low
                else "pick one value: `name -> " + what + "`",
            )
            return None
        return current

    def block_call(self, layer: ast.LayerCall, scope: _Scope, current):
        block = self.resolved.blocks[layer.call.name.text]
        name = block.name.text
        if name in self.block_stack:
            cycle = " -> ".join((*self.block_stack[self.block_stack.index(name) :], name))
            self.diags.error("E205", f"block `{name}` uses itself: {cycle}", layer.call.name.span)
            return FAILED
        n_inputs = sum(isinstance(s, ast.InputDecl) for s in block.body)
        if n_inputs == 0:
            self.diags.error(
                "E209",
                f"block `{name}` declares no input",
                block.name.span,
                help="start the block with `input x`: a block transforms the value fed to it",
            )
            return FAILED
        inputs = self.layer_inputs(layer, name, n_inputs, n_inputs, current)
        consts = self.resolved.consts
        params = [
            Arg(p.name.text, Anything(), REQUIRED if p.default is None else LateDefault(p.default, consts))
            for p in block.params
        ]
        try:
            bound = bind_arguments(
                Signature(name, tuple(params)),
                layer.call.args,
                layer.call.kwargs,
                layer.call.span,
                scope.consts,
                self.diags,
                owner=f"block {name}",
            )
        except BindFailed:
            bound = None
        claimed = self.claim(scope, layer.alias, name)
        if bound is None or inputs is None or claimed is None:
            return FAILED
        instance, local = claimed
        self.spend(layer.call.span)
        inner = _Scope(instance + ".", {**self.resolved.consts, **bound})
        self.block_stack.append(name)
        result = self.body(block.body, inner, None, in_model=False, block_inputs=list(inputs))
        self.block_stack.pop()
        scope.names[local] = result[0] if result != FAILED else FAILED
        return result


def build_ir(resolved: Resolved, diags: Diagnostics) -> Graph:
    model = resolved.model
    builder = _Builder(resolved, diags)
    scope = _Scope("", dict(resolved.consts))
    try:
        last = builder.body(model.body, scope, None, in_model=True)
    except _TooLarge as e:
        diags.error(
            "E303",
            f"the model expands to more than {MAX_NODES:,} layers, repeat iterations and block calls",
            e.span,
            help="a model this large cannot be trained here; lower the counts",
        )
        return Graph(model.name.text, tuple(builder.inputs), (), ())
    if not builder.inputs and not diags.has_errors:
        diags.error(
            "E209",
            f"model `{model.name.text}` has no input",
            model.name.span,
            help="declare one: `input x: float32[...]`",
        )
    outputs = builder.outputs
    if not outputs and last not in (None, FAILED):
        outputs = list(last)
    # Failed names stay in the table, so later uses of them are silent (type_of gives None).
    return Graph(
        model.name.text, tuple(builder.inputs), tuple(builder.nodes), tuple(outputs), names=dict(scope.names)
    )
