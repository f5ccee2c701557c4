"""What `nnc check` shows: a layer table with shapes and parameter counts, totals (parameters,
their memory, forward FLOPs per sample) and the resolved training configuration."""

from __future__ import annotations

from dataclasses import fields

from nnc.compiler.ir import BATCH, Program
from nnc.runtime.footprint import human_bytes, machine_memory, training_footprint
from nnc.runtime.ops import OPS
from nnc.runtime.ops.base import size
from nnc.runtime.schema import Named, show


def _per_sample(shape: tuple) -> tuple:
    return tuple(1 if d == BATCH else d for d in shape)


def layer_rows(program: Program) -> list[dict]:
    g = program.graph
    sizes = {p.key: p.size for p in g.params}
    types = {i.name: i.type for i in g.inputs}
    rows = [
        {
            "name": i.name,
            "op": "input",
            "inputs": [],
            "shape": list(i.type.shape),
            "dtype": i.type.dtype,
            "params": 0,
            "flops": 0,
        }
        for i in g.inputs
    ]
    for n in g.nodes:
        op = OPS[n.op]
        shapes = [_per_sample(types[v].shape) for v in n.inputs]
        types[n.name] = n.type
        flops = op.flops(*shapes, **n.attrs) if op.flops else size(n.type.shape)
        rows.append(
            {
                "name": n.name,
                "op": n.op,
                "inputs": list(n.inputs),
                "shape": list(n.type.shape),
                "dtype": n.type.dtype,
                "params": sum(sizes[k] for k in n.params),
                "flops": int(flops),
            }
        )
    return rows


def _plain(value):
    """A Named choice (such as a schedule) as JSON: {"name": ..., **params}."""
    if isinstance(value, Named):
        return {"name": value.name, **{k: _plain(v) for k, v in value.params.items()}}
    return value


def _show(value) -> str:
    if isinstance(value, dict) and "name" in value:
        args = ", ".join(f"{k}={_show(v)}" for k, v in value.items() if k != "name")
        return f"{value['name']}({args})"
    return show(value)


def summarize(program: Program) -> dict:
    g, t = program.graph, program.train
    rows = layer_rows(program)
    trainable = sum(p.size for p in g.params if p.trainable)
    frozen = sum(p.size for p in g.params if not p.trainable)
    return {
        "model": g.name,
        "spec": program.path,
        "layers": rows,
        "outputs": {o: str(g.type_of(o)) for o in g.outputs},
        "params": {"trainable": trainable, "non_trainable": frozen, "bytes": 4 * (trainable + frozen)},
        "flops_per_sample": sum(r["flops"] for r in rows),
        "memory": _memory(program),
        "train": {
            "losses": [
                {
                    "loss": x.op,
                    "prediction": x.prediction,
                    "target": x.target,
                    "target_type": str(x.target_type),
                    "weight": x.weight,
                    "fused": x.fused,
                    **{k: v for k, v in x.attrs.items() if v is not None},
                }
                for x in t.losses
            ],
            "optimizer": {"name": t.optimizer.name, **{k: _plain(v) for k, v in t.optimizer.params.items()}},
            "epochs": t.epochs,
            "batch_size": t.batch_size,
            "shuffle": t.shuffle,
            "validation_split": t.validation_split,
            "seed": t.seed,
            "max_steps": t.max_steps,
            "checkpoint_every": cadence_text(t.checkpoint_every),
            "l1": t.l1,
            "l2": t.l2,
            "metrics": [str(m) for m in t.metrics],
            "early_stopping": None if t.early_stopping is None else vars(t.early_stopping).copy(),
            # the program's data settings: not what check read from the files, nor spec spans
            "data": {
                f.name: getattr(t.data, f.name)
                for f in fields(t.data)
                if f.compare and getattr(t.data, f.name) not in (None, ())
            },
            # class target -> its class names in index order, as training will number them
            "classes": {k: v for k, v in t.data.labels.items() if v is not None},
        },
    }


def _memory(program: Program) -> dict:
    need = training_footprint(program.graph, program.train.optimizer.name, program.train.batch_size)
    return {
        "activations_per_sample": need.activations,
        "training": need.training,
        "batch_size": program.train.batch_size,
        "machine": machine_memory(),
    }


def _human(n: float, unit: str = "") -> str:
    for suffix in ("", "k", "M", "G", "T"):
        if abs(n) < 1000:
            return f"{n:.3g} {suffix}{unit}".rstrip() if suffix or unit else f"{n:.3g}"
        n /= 1000
    return f"{n:.3g} P{unit}"


def _bytes(n: int) -> str:
    for suffix in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.4g} {suffix}"
        n /= 1024
    return f"{n:.4g} TiB"


def format_summary(summary: dict) -> str:
    rows = summary["layers"]
    shape = [("[" + ", ".join(map(str, r["shape"])) + "]") for r in rows]
    w_name = max(len("layer"), *(len(r["name"]) for r in rows))
    w_op = max(len("op"), *(len(r["op"]) for r in rows))
    w_shape = max(len("output shape"), *(len(s) for s in shape))
    lines = [
        f"model {summary['model']}  ({summary['spec']})",
        "",
        f"  {'layer':<{w_name}}  {'op':<{w_op}}  {'output shape':<{w_shape}}  {'params':>10}",
    ]
    for r, s in zip(rows, shape, strict=True):
        lines.append(f"  {r['name']:<{w_name}}  {r['op']:<{w_op}}  {s:<{w_shape}}  {r['params']:>10,}")
    p, m = summary["params"], summary["memory"]
    lines += [
        "",
        f"  parameters  {p['trainable']:,} trainable, {p['non_trainable']:,} non-trainable "
        f"({_bytes(p['bytes'])} as float32)",
        f"  compute     ~{_human(summary['flops_per_sample'], 'FLOPs')} per sample, forward",
        f"  memory      ~{human_bytes(m['training'])} to train at batch_size={m['batch_size']} "
        f"({human_bytes(m['activations_per_sample'])} of activations per sample)",
        f"  outputs     {', '.join(f'{k}: {v}' for k, v in summary['outputs'].items())}",
        "",
        "training",
    ]
    t = summary["train"]
    for loss in t["losses"]:
        fused = f", fused with {loss['fused']}" if loss["fused"] else ""
        lines.append(
            f"  loss        {loss['loss']}({loss['prediction']}, target={loss['target']}: "
            f"{loss['target_type']}) x {show(loss['weight'])}{fused}"
        )
    if not t["losses"]:
        lines.append("  loss        none")
    opt = t["optimizer"]
    args = ", ".join(f"{k}={_show(v)}" for k, v in opt.items() if k != "name" and v is not None)
    lines.append(f"  optimizer   {opt['name']}({args})")
    lines.append(
        f"  settings    epochs={t['epochs']} batch_size={t['batch_size']} shuffle={show(t['shuffle'])} "
        f"validation={show(t['validation_split'])} seed={t['seed']}"
        + (f" max_steps={t['max_steps']}" if t.get("max_steps") is not None else "")
    )
    lines.append(f"  checkpoint  every {t.get('checkpoint_every', '30s')}, at the end and on Ctrl-C")
    if t["l1"] or t["l2"]:
        lines.append(f"  penalties   l1={show(t['l1'])} l2={show(t['l2'])}")
    if t["metrics"]:
        lines.append(f"  metrics     {', '.join(t['metrics'])}")
    if t["early_stopping"]:
        e = t["early_stopping"]
        lines.append(
            f"  early stop  monitor={e['monitor']} mode={e['mode']} patience={e['patience']} "
            f"min_delta={show(e['min_delta'])} restore_best={show(e['restore_best'])}"
        )
    for target, names in t["classes"].items():
        shown = ", ".join(f"{name}={i}" for i, name in enumerate(names[:20])) + (
            ", ..." if len(names) > 20 else ""
        )
        lines.append(f"  classes     {target}: {shown}")
    for k, v in t["data"].items():
        if k != "root":
            lines.append(f"  data        {k} = {show(v) if not isinstance(v, tuple) else ', '.join(v)}")
    return "\n".join(lines) + "\n"


def cadence_text(cadence: tuple[str, float]) -> str:
    """("seconds", 30.0) -> "30s"; ("epochs", 2) -> "2 epochs"."""
    unit, amount = cadence
    if unit == "seconds":
        return f"{amount:g}s"
    return f"{amount} {unit if amount != 1 else unit[:-1]}"
