"""Simulation runs in the graph: recorded once per content, read back, listed, compared.

A run is a SimulationRun node (a PROV activity) with its kind, parameters (JSON), input
checksums, data window and summary outputs as flat properties, linked to the twin(s) it
SIMULATED, the SimulationModel it USED_MODEL, the channels it USED and the run it is
DERIVED_FROM. Time-series outputs go to Parquet under `<store data>/simulation/<run_id>/`.

The content hash covers the model and version, the kind, the twins, the parameters, the
input checksums and the run derived from: the same run asked for again returns the one
recorded (unless forced), so repeating a command never piles up duplicates and a what-if
never touches the measured state or the baseline it derives from.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from thread.clock import utc_now
from thread.entities import require_entity
from thread.pipeline.write import ProgressCallback, Source, ThreadService
from thread.records import PropValue, Record, node, rel
from thread.sim.errors import RunNotFoundError, SimError
from thread.sim.model import Model
from thread.stores.base import GraphStore, chunked

__all__ = [
    "NewRun",
    "RunKind",
    "RunRecord",
    "content_hash",
    "get_run",
    "latest_run",
    "list_runs",
    "output_folder",
    "read_output",
    "record_runs",
    "reusable_run",
]

RunKind = Literal["calibration", "baseline", "what-if", "prediction"]
OUTPUT_DIR = "simulation"
_READ = 2000


@dataclass
class NewRun:
    """A run computed and about to be recorded."""

    kind: RunKind
    twins: list[tuple[str, str]]
    parameters: Mapping[str, Any]
    inputs: Sequence[str] = ()
    channels: Sequence[str] = ()
    derived_from: str | None = None
    summary: Mapping[str, PropValue] = field(default_factory=dict)
    outputs: Mapping[str, Any] = field(default_factory=dict)
    window: tuple[PropValue, PropValue] | None = None
    table: Any = None
    files: Mapping[str, bytes] = field(default_factory=dict)


@dataclass
class RunRecord:
    """A recorded run as read back from the graph; `reused` when it existed already."""

    uid: str
    run_id: str
    kind: str
    model: str
    properties: dict[str, Any]
    twins: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    derived_from: str | None = None
    reused: bool = False

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(json.loads(self.properties.get("parameters") or "{}"))

    @property
    def outputs(self) -> dict[str, Any]:
        return dict(json.loads(self.properties.get("outputs") or "{}"))

    def to_dict(self) -> dict[str, Any]:
        props = {k: v for k, v in self.properties.items() if k not in ("parameters", "outputs")}
        return {
            "uid": self.uid,
            "run_id": self.run_id,
            "kind": self.kind,
            "model": self.model,
            "twins": self.twins,
            "channels": self.channels,
            "derived_from": self.derived_from,
            "reused": self.reused,
            "parameters": self.parameters,
            "outputs": self.outputs,
            "properties": props,
        }


def _canonical(value: Any) -> Any:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def content_hash(model: Model, run: NewRun) -> str:
    """What makes two runs the same: model, version, kind, twins, parameters, inputs, base."""
    payload = {
        "model": model.name,
        "version": model.version,
        "kind": run.kind,
        "twins": sorted(uid for _, uid in run.twins),
        "parameters": _canonical(run.parameters),
        "inputs": list(run.inputs),
        "derived_from": run.derived_from,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def reusable_run(store: GraphStore, model: Model, pending: NewRun, force: bool) -> RunRecord | None:
    """The succeeded run recorded with this content, unless `force`.

    Checked before computing, so a procedure asked for a run it has made already returns
    the recorded one without fitting or simulating again (`record_runs` checks too, but
    only once the result is computed).
    """
    if force:
        return None
    rows = store.read(
        "MATCH (r:SimulationRun) WHERE r.model = $model AND r.content_hash = $h "
        "AND r.status = 'succeeded' RETURN r.uid AS uid ORDER BY r.finished DESC LIMIT 1",
        {"model": model.name, "h": content_hash(model, pending)},
    )
    if not rows:
        return None
    record = get_run(store, rows[0]["uid"])
    record.reused = True
    return record


def _flat(value: Any) -> PropValue:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value  # type: ignore[no-any-return]


def _existing(
    store: GraphStore, model: str, hashes: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """Recorded runs of the model by content hash: one scan of the model's runs, which
    stays linear in their number however many hashes are asked for."""
    wanted = set(hashes)
    found: dict[str, list[dict[str, Any]]] = {}
    for row in store.read(
        "MATCH (r:SimulationRun) WHERE r.model = $model "
        "RETURN r.content_hash AS hash, r.uid AS uid, r.status AS status, r.finished AS finished "
        "ORDER BY finished, uid",
        {"model": model},
    ):
        if row["hash"] in wanted:
            found.setdefault(row["hash"], []).append(row)
    return found


def record_runs(
    store: GraphStore,
    model: Model,
    runs: Sequence[NewRun],
    *,
    force: bool = False,
    started: str | None = None,
    progress: ProgressCallback | None = None,
) -> list[RunRecord]:
    """Record runs (one import, all or nothing); runs already recorded with the same
    content come back as they are (`reused`), unless `force`."""
    started = started or utc_now()
    hashes = [content_hash(model, run) for run in runs]
    existing = _existing(store, model.name, hashes)
    reused: dict[int, str] = {}
    fresh: list[tuple[int, str]] = []
    for i, digest in enumerate(hashes):
        done = [row for row in existing.get(digest, []) if row["status"] == "succeeded"]
        if done and not force:
            reused[i] = done[-1]["uid"]
            continue
        base = f"{model.name}.{runs[i].kind}.{digest[:12]}"
        count = len(existing.get(digest, []))
        fresh.append((i, base if count == 0 else f"{base}.r{count + 1}"))
    written = (
        _write(
            store, model, [(runs[i], hashes[i], run_id) for i, run_id in fresh], started, progress
        )
        if fresh
        else []
    )
    old = _read_runs(store, list(reused.values()))
    for record in old:
        record.reused = True
    by_index = dict(zip(reused, old, strict=True))
    by_index.update({i: record for (i, _), record in zip(fresh, written, strict=True)})
    return [by_index[i] for i in range(len(runs))]


def _write(
    store: GraphStore,
    model: Model,
    runs: Sequence[tuple[NewRun, str, str]],
    started: str,
    progress: ProgressCallback | None,
) -> list[RunRecord]:
    """Write the runs and their relationships in one import; return them as recorded."""
    onto = store.ontology
    folders: list[Path] = []
    model_node = node(
        onto,
        "SimulationModel",
        {
            "model": model.name,
            "name": model.name,
            "version": model.version,
            "description": model.description,
            "operations": list(model.operations),
            "parameter_schema": model.schema_json(),
        },
    )
    records: list[Record] = [model_node]
    recorded: list[RunRecord] = []
    finished = utc_now()
    try:
        for run, digest, run_id in runs:
            props: dict[str, PropValue] = {
                "run_id": run_id,
                "status": "succeeded",
                "kind": run.kind,
                "model": model.name,
                "model_version": model.version,
                "twin": run.twins[0][1]
                if len(run.twins) == 1
                else ",".join(u for _, u in run.twins),
                "started": started,
                "finished": finished,
                "parameters": json.dumps(_canonical_json(run.parameters), sort_keys=True),
                "outputs": json.dumps(_canonical_json(run.outputs), sort_keys=True),
                "content_hash": digest,
                "input_checksums": list(run.inputs),
            }
            if run.window is not None:
                props["window_start"], props["window_end"] = run.window
            if run.derived_from:
                props["derived_from"] = run.derived_from
            for name, value in run.summary.items():
                props[name] = _flat(value)
            if run.table is not None or run.files:
                folder = store.data_dir / OUTPUT_DIR / run_id
                folder.mkdir(parents=True, exist_ok=True)
                folders.append(folder)
                if run.table is not None:
                    _write_table(run.table, folder / "outputs.parquet")
                    props["output_path"] = f"{OUTPUT_DIR}/{run_id}/outputs.parquet"
                for name, content in run.files.items():
                    (folder / name).write_bytes(content)
            run_node = node(
                onto, "SimulationRun", {k: v for k, v in props.items() if v is not None}
            )
            records.append(run_node)
            recorded.append(
                RunRecord(
                    run_node.uid,
                    run_id,
                    run.kind,
                    model.name,
                    {"uid": run_node.uid, **run_node.props},
                    sorted({uid for _, uid in run.twins}),
                    sorted(set(run.channels)),
                    run.derived_from,
                )
            )
            records.append(rel("USED_MODEL", run_node, model_node))
            for label, uid in run.twins:
                records.append(rel("SIMULATED", run_node, (label, uid)))
            for channel in dict.fromkeys(run.channels):
                records.append(rel("USED", run_node, ("Channel", channel)))
            if run.derived_from:
                records.append(rel("DERIVED_FROM", run_node, ("SimulationRun", run.derived_from)))
        batch = hashlib.sha256("".join(r for _, _, r in runs).encode()).hexdigest()[:16]
        source = Source("sim", f"{model.name} ({len(runs)} run(s))", source_id=f"sim:{batch}")
        ThreadService(store).import_records(records, source, progress=progress)
    except BaseException:
        for folder in folders:
            for path in folder.iterdir():
                path.unlink()
            folder.rmdir()
        raise
    return recorded


def _canonical_json(value: Any) -> Any:
    """Plain JSON types (numpy scalars and arrays become numbers and lists)."""
    if isinstance(value, Mapping):
        return {str(k): _canonical_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical_json(v) for v in value]
    if hasattr(value, "tolist"):
        return _canonical_json(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _write_table(table: Any, path: Path) -> None:
    import pyarrow.parquet as pq

    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, temp)
    os.replace(temp, path)


def _read_runs(store: GraphStore, uids: Sequence[str]) -> list[RunRecord]:
    if not uids:
        return []
    found: dict[str, RunRecord] = {}
    for batch in chunked(list(uids), _READ):
        for row in store.read(
            "UNWIND $uids AS u MATCH (r:Entity {uid: u}) "
            "OPTIONAL MATCH (r)-[:SIMULATED]->(t) "
            "WITH r, collect(DISTINCT t.uid) AS twins "
            "OPTIONAL MATCH (r)-[:USED]->(c:Channel) "
            "WITH r, twins, collect(DISTINCT c.uid) AS channels "
            "OPTIONAL MATCH (r)-[:DERIVED_FROM]->(b:SimulationRun) "
            "RETURN r AS run, twins, channels, b.uid AS base",
            {"uids": list(batch)},
        ):
            props = {k: v for k, v in row["run"].items() if not k.startswith("_")}
            found[props["uid"]] = RunRecord(
                props["uid"],
                props["run_id"],
                props["kind"],
                props["model"],
                props,
                sorted(row["twins"]),
                sorted(row["channels"]),
                row["base"],
            )
    return [found[uid] for uid in uids]


def get_run(store: GraphStore, run: str) -> RunRecord:
    """A run by its uid (`simrun:…`) or run id.

    Raises:
        RunNotFoundError: with the closest run ids when there is none.
    """
    uid = run if run.startswith("simrun:") else store.ontology.uid("SimulationRun", run)
    rows = store.read(
        "MATCH (r:Entity {uid: $uid}) WHERE r:SimulationRun RETURN r.uid AS uid", {"uid": uid}
    )
    if not rows:
        import difflib

        ids = [r["id"] for r in store.read("MATCH (r:SimulationRun) RETURN r.run_id AS id")]
        near = difflib.get_close_matches(run.removeprefix("simrun:"), ids, n=3, cutoff=0.5)
        hint = f"; closest: {', '.join(near)}" if near else " (see `thread sim runs`)"
        raise RunNotFoundError(f"no simulation run {run!r}{hint}")
    return _read_runs(store, [uid])[0]


def latest_run(store: GraphStore, model: str, kind: str, twin: str) -> RunRecord | None:
    """The latest succeeded run of a model and kind on a twin, if any."""
    rows = store.read(
        "MATCH (r:SimulationRun)-[:SIMULATED]->(:Entity {uid: $twin}) "
        "WHERE r.model = $model AND r.kind = $kind AND r.status = 'succeeded' "
        "RETURN r.uid AS uid ORDER BY r.finished DESC, uid DESC LIMIT 1",
        {"twin": twin, "model": model, "kind": kind},
    )
    return _read_runs(store, [rows[0]["uid"]])[0] if rows else None


def list_runs(store: GraphStore, twin: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Runs, newest first, optionally only those that simulated `twin`.

    Raises:
        NotFoundError: `twin` is given and no entity has this uid (with the closest).
    """
    if twin is not None:
        require_entity(store, twin)
    where = (
        "MATCH (r:SimulationRun)-[:SIMULATED]->(:Entity {uid: $twin}) "
        if twin
        else "MATCH (r:SimulationRun) "
    )
    rows = store.read(
        where
        + "RETURN DISTINCT r.run_id AS run_id, r.kind AS kind, r.model AS model, r.twin AS twin, "
        "r.status AS status, r.finished AS finished ORDER BY finished DESC, run_id LIMIT $limit",
        {"twin": twin, "limit": limit},
    )
    return rows


def read_output(store: GraphStore, record: RunRecord) -> Any:
    """The run's time-series outputs as a pyarrow Table.

    Raises:
        SimError: the run has no time-series output, or its file is gone.
    """
    import pyarrow.parquet as pq

    path = record.properties.get("output_path")
    if not path:
        raise SimError(f"run {record.run_id} has no time-series output")
    full = store.data_dir / str(path)
    if not full.exists():
        raise SimError(
            f"{full}: the output of run {record.run_id} is missing from the store folder"
        )
    return pq.read_table(full)


def output_folder(store: GraphStore, record: RunRecord) -> Path:
    """Where a run's output files live (Parquet series, a trained model's arrays)."""
    return store.data_dir / OUTPUT_DIR / record.run_id
