"""Inference on a Ray cluster (the `ray` extra), around the same onnxruntime `Predictor` that
`nnc predict` uses: one session per actor, opened once with the provider and threads asked for.

- `Predictor`: a callable class for `ray.data.Dataset.map_batches`, for a Dataset the user
  reads: a batch's columns in, the columns `nnc predict` writes out (docs/scale.md).
- `predict_shards`: `nnc predict --engine ray`. A Ray Dataset of the shards (one row per input
  file) is mapped by `ShardScorer` actors, each reading its shards with nnc's own readers and
  writing their outputs as runtime/onnx/shards.py does for one process: the same outputs, each
  bad value located at its file, row and column, and a rerun keeping what is done.

NOTE: Ray is imported inside functions only: `import nnc.ray` works without it, and says
how to install it (E550) when it is needed."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from nnc.runtime.errors import RunError, UsageError
from nnc.runtime.onnx.session import GPU_PROVIDERS, parse_provider
from nnc.runtime.onnx.shards import Outcome, Shard, finished, score


def require_ray(part: str = "ray.data"):
    """The `ray` module, with `part` imported (ray.data for inference, ray.tune for sweeps), or
    E550 naming the extra: said before anything runs."""
    try:
        import ray

        importlib.import_module(part)
    except ImportError:
        raise UsageError(
            "E550", "--engine ray needs Ray, which is not installed", help="pip install 'nnc[ray]'"
        ) from None
    return ray


def connect(address: str | None = None) -> bool:
    """Joins the Ray cluster at `address` (None: RAY_ADDRESS, else one `ray start` began on this
    machine, else a new local one) unless this process is connected already; True when it
    connected now (and so should disconnect)."""
    ray = require_ray("ray")
    if ray.is_initialized():
        return False
    ray.init(address=address, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    # nnc reports its own progress: Ray Data's plans and progress lines would interleave with it
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    return True


class Predictor:
    """`ds.map_batches(nnc.ray.Predictor, fn_constructor_kwargs={"model": "m.onnx"},
    batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=4))`: the predictions of
    each batch, as the columns `nnc predict` writes (`class`, `p_<class>` for a classifier, the
    values otherwise), with the columns named in `keep` (an id) passed through. A batch's
    columns are matched to the model's inputs by name and read by the rules of a Parquet
    file's (docs/data.md); a bad value raises a DataError located at its row of the batch.
    Batches may be pyarrow tables, pandas frames or dicts of NumPy arrays."""

    def __init__(
        self,
        model: str,
        *,
        provider: str = "cpu",
        threads: int | None = 1,
        allow_tf32: bool = False,
        batch_size: int = 1024,
        keep: Sequence[str] = (),
    ):
        from nnc.runtime.onnx.predict import Predictor as OnnxPredictor

        self.predictor = OnnxPredictor(model, provider=provider, threads=threads, allow_tf32=allow_tf32)
        self.batch_size, self.keep = batch_size, tuple(keep)

    def __call__(self, batch) -> dict:
        import pyarrow as pa

        from nnc.runtime.data.parquet_file import from_arrow
        from nnc.runtime.onnx.predict import table

        if not isinstance(batch, pa.Table | pa.RecordBatch):
            batch = (
                pa.Table.from_pandas(batch, preserve_index=False)
                if hasattr(batch, "to_numpy")
                else pa.table(batch)
            )
        fields = self.predictor.fields(lambda: batch.schema.names)
        dataset = from_arrow(batch, fields, self.predictor.metadata.labels, "a Ray batch")
        inputs = {f.name: dataset.arrays[f.name] for f in self.predictor.inputs}
        header, columns = table(self.predictor, self.predictor.run(inputs, batch_size=self.batch_size))
        out = {name: batch.column(name).to_numpy(zero_copy_only=False) for name in self.keep}
        for name, values in zip(header, columns, strict=True):
            out[name] = values.astype(str) if values.dtype == object else values
        return out


class ShardScorer:
    """An actor of `predict_shards`: one session, opened once; each row of its batches names a
    shard, which it scores into its output (runtime/onnx/shards.py). A refusal to open the
    model (not ONNX, a provider this node lacks) becomes every shard's outcome."""

    def __init__(
        self,
        model: str,
        stamp: dict,
        *,
        provider: str,
        threads: int | None,
        allow_tf32: bool,
        batch_size: int,
    ):
        from nnc.runtime.onnx.predict import Predictor as OnnxPredictor

        self.stamp, self.batch_size, self.refusal = stamp, batch_size, None
        try:
            self.predictor = OnnxPredictor(model, provider=provider, threads=threads, allow_tf32=allow_tf32)
        except RunError as e:
            self.refusal = e

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        outcomes = []
        for data, output in zip(batch["data"], batch["output"], strict=True):
            shard = Shard(Path(data), Path(output))
            if self.refusal is not None:
                e = self.refusal
                error = {k: getattr(e, k) for k in ("code", "message", "path", "line", "column", "help")}
                outcomes.append(Outcome(data, error=error, usage=isinstance(e, UsageError)))
            else:
                outcomes.append(score(self.predictor, shard, self.stamp, batch_size=self.batch_size))
        return {"outcome": np.array([o.to_json() for o in outcomes])}


def predict_shards(
    model: str,
    shards: list[Shard],
    stamp: dict,
    *,
    provider: str = "cpu",
    threads: int | None = 1,
    allow_tf32: bool = False,
    batch_size: int = 1024,
    resume: bool = False,
    address: str | None = None,
    workers: int | None = None,
) -> Iterator[Outcome]:
    """Every shard's outcome, in the order they finish: those `finished` kept when `resume`,
    the others scored by `workers` ShardScorer actors (default: as many as the cluster's CPUs
    hold, at `threads` each) on the cluster at `address` (runtime/onnx/shards.py's
    predict_shards, spread over a cluster)."""
    ray = require_ray()
    todo = []
    for shard in shards:
        if resume and (samples := finished(shard, stamp)) is not None:
            yield Outcome(str(shard.data), samples=samples, kept=True)
        else:
            todo.append(shard)
    if not todo:
        return
    started = connect(address)
    try:
        cpus = threads or 1
        actors = workers or max(1, int(ray.cluster_resources().get("CPU", 1) // cpus))
        rows = [{"data": str(s.data), "output": str(s.output)} for s in todo]
        scored = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
            ShardScorer,
            batch_size=1,
            fn_constructor_args=(str(Path(model).resolve()), stamp),
            fn_constructor_kwargs={
                "provider": provider,
                "threads": threads,
                "allow_tf32": allow_tf32,
                "batch_size": batch_size,
            },
            compute=ray.data.ActorPoolStrategy(size=min(actors, len(rows))),
            num_cpus=cpus,
            num_gpus=1 if parse_provider(provider)[0] in GPU_PROVIDERS else 0,  # Ray picks the device
        )
        for row in scored.iter_rows():
            yield Outcome.from_json(row["outcome"])
    finally:
        if started:
            ray.shutdown()
