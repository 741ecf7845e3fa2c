"""Twin state written back to USD: import the example plant room, export the overlay, open
it with usd-core and read the health back."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from thread import ontology
from thread.cli import export_cmds
from thread.cli.main import ThreadGroup, main
from thread.errors import NotFoundError, ThreadError
from thread.pipeline.imports import import_file
from thread.pipeline.write import Source, ThreadService, file_sha256
from thread.records import Record, node, rel
from thread.stores import GraphStore, open_store
from thread.usd.overlay import HEALTH_COLORS, export_overlay, health_of

ONTO = ontology.load()
SCENE = Path(__file__).resolve().parents[1] / "examples" / "pump-fleet" / "scene" / "plant.usda"
PUMP = "/World/PumpRoom/Pump_{:02d}"


def unit(serial: str) -> tuple[str, str]:
    return ("Unit", ONTO.uid("Unit", "P-100", serial))


def work_order(number: str, serial: str, kind: str, status: str, **dates: str) -> list[Record]:
    event = node(
        ONTO,
        "MaintenanceEvent",
        {"work_order": number, "type": kind, "status": status, "opened": "2025-02-01", **dates},
    )
    return [event, rel("PERFORMED_ON", event, unit(serial))]


def lifecycle() -> list[Record]:
    """Units SN-0001..SN-0012 in the lifecycle graph's shape, with a state to show:
    SN-0001 an open corrective order, SN-0002 an open inspection, SN-0003 a closed order
    and a vibration reading, SN-0004 a short remaining life, SN-0005 a long one."""
    records: list[Record] = [node(ONTO, "Part", {"part_number": "P-100"})]
    for i in range(1, 13):
        records.append(
            node(
                ONTO,
                "Unit",
                {"part_number": "P-100", "serial": f"SN-{i:04d}", "status": "in_service"},
            )
        )
    records += work_order("WO-1", "SN-0001", "corrective", "open")
    records += work_order("WO-2", "SN-0002", "inspection", "open")
    records += work_order("WO-3", "SN-0003", "preventive", "closed", closed="2025-02-03T16:00:00Z")
    sensor = node(ONTO, "Sensor", {"sensor_id": "VIB-3"})
    channel = node(
        ONTO,
        "Channel",
        {
            "sensor_id": "VIB-3",
            "channel": "rms",
            "quantity": "vibration",
            "unit_of_measure": "mm/s",
            "last_value": 4.2,
            "last": "2025-03-01T12:00:00Z",
        },
    )
    records += [sensor, channel, rel("OBSERVES", sensor, unit("SN-0003"))]
    records.append(rel("HAS_CHANNEL", sensor, channel))
    for serial, rul in (("SN-0004", 12.0), ("SN-0005", 400.0)):
        twin = node(ONTO, "InstanceTwin", {"part_number": "P-100", "serial": serial})
        run = node(
            ONTO,
            "SimulationRun",
            {"run_id": f"rul-{serial}", "rul": rul, "finished": "2025-03-02T00:00:00Z"},
        )
        records += [twin, run, rel("TWIN_OF", twin, unit(serial)), rel("SIMULATED", run, twin)]
    return records


@pytest.fixture
def plant(store: GraphStore) -> GraphStore:
    ThreadService(store).import_records(lifecycle(), Source("test", "lifecycle"))
    import_file(store, "usd", SCENE)
    return store


def custom(stage: Any, path: str) -> dict[str, Any]:
    return dict(stage.GetPrimAtPath(path).GetCustomDataByKey("thread"))


def color(stage: Any, path: str) -> tuple[float, ...]:
    from pxr import UsdGeom

    primvar = UsdGeom.PrimvarsAPI(stage.GetPrimAtPath(path)).GetPrimvar("displayColor")
    assert primvar.GetInterpolation() == "constant"
    return tuple(round(c, 3) for c in primvar.Get()[0])


def test_the_overlay_round_trip(plant: GraphStore, tmp_path: Path) -> None:
    from pxr import Usd

    before = file_sha256(SCENE)
    out = tmp_path / "twin" / "overlay.usda"
    report = export_overlay(plant, "plant.usda", out)
    assert report.by_health == {"good": 9, "warning": 2, "critical": 1, "unknown": 1}
    assert file_sha256(SCENE) == before, "the scene's own files are never edited"

    stage = Usd.Stage.Open(str(out))
    assert stage.GetRootLayer().subLayerPaths[0] == report.sublayer
    assert stage.GetDefaultPrim().GetPath() == "/World"  # the scene's stage metadata
    assert len(list(stage.Traverse())) == 41, "the overlay composes the whole scene"
    first = custom(stage, PUMP.format(1))
    assert first["health"] == "critical" and list(first["open_work_orders"]) == ["WO-1"]
    assert first["serial"] == "SN-0001", "the scene's own thread entries are kept"
    assert first["unit"] == "unit:P-100/SN-0001" and first["status"] == "in_service"
    assert custom(stage, PUMP.format(2))["health"] == "warning"
    third = custom(stage, PUMP.format(3))
    assert (third["health"], third["last_maintenance"]) == ("good", "2025-02-03T16:00:00Z")
    assert dict(third["sensors"]["VIB-3"]["rms"]) == {
        "value": 4.2,
        "unit": "mm/s",
        "time": "2025-03-01T12:00:00Z",
        "quantity": "vibration",
    }
    fourth = custom(stage, PUMP.format(4))
    assert (fourth["health"], fourth["rul"], fourth["rul_run"]) == (
        "warning",
        12.0,
        "simrun:rul-SN-0004",
    )
    assert custom(stage, PUMP.format(5))["health"] == "good"
    spare = custom(stage, "/World/PumpRoom/Pump_Spare")
    assert spare["health"] == "unknown" and "unit" not in spare
    for path, health in ((PUMP.format(1), "critical"), ("/World/PumpRoom/Pump_Spare", "unknown")):
        for prim_path in (path, f"{path}/Body", f"{path}/Motor"):
            assert color(stage, prim_path) == HEALTH_COLORS[health]


def test_a_usdc_overlay_and_a_lower_threshold(plant: GraphStore, tmp_path: Path) -> None:
    from pxr import Usd

    out = tmp_path / "overlay.usdc"
    report = export_overlay(plant, "scene:plant.usda", out, rul_threshold=10)
    assert report.by_health["warning"] == 1  # only the open inspection now
    assert out.read_bytes()[:8] == b"PXR-USDC"
    assert custom(Usd.Stage.Open(str(out)), PUMP.format(4))["health"] == "good"


def test_the_overlay_never_replaces_a_scene_file(plant: GraphStore) -> None:
    with pytest.raises(ThreadError, match=r"is a layer of scene:plant\.usda"):
        export_overlay(plant, "plant.usda", SCENE)
    with pytest.raises(ThreadError, match=r"is a layer of scene:plant\.usda"):
        export_overlay(plant, "plant.usda", SCENE.parent / "assets" / "pump.usda")


def test_an_overlay_is_a_usd_layer_file(plant: GraphStore, tmp_path: Path) -> None:
    with pytest.raises(ThreadError, match=r"an overlay is a \.usda, \.usdc, \.usd layer"):
        export_overlay(plant, "plant.usda", tmp_path / "overlay.usdz")


def test_an_unknown_scene_offers_the_closest(plant: GraphStore, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"closest: scene:plant\.usda"):
        export_overlay(plant, "plant.usd", tmp_path / "o.usda")


@pytest.mark.parametrize(
    ("open_types", "rul", "health"),
    [
        (["corrective", "preventive"], 500.0, "critical"),
        (["Corrective"], None, "critical"),
        (["inspection"], None, "warning"),
        ([None], None, "warning"),
        ([], 29.9, "warning"),
        ([], 30.0, "good"),
        ([], None, "good"),
    ],
)
def test_the_health_rule(open_types: list[str | None], rul: float | None, health: str) -> None:
    assert health_of(open_types, rul, 30.0) == health


def test_the_export_command(embedded_home: Path, tmp_path: Path) -> None:
    """`thread export usd` as the owner registers it: app.add_typer(export_cmds.app, name="export")."""
    app = typer.Typer(cls=ThreadGroup)
    app.callback()(main)
    app.add_typer(export_cmds.app, name="export")
    store_arg = ["--store", f"embedded:{embedded_home}#cli{uuid.uuid4().hex[:10]}"]
    runner = CliRunner()
    missing = runner.invoke(app, [*store_arg, "export", "usd", "plant.usda", "--out", "o.usda"])
    assert missing.exit_code == 1 and missing.stderr.startswith("Error: no entity")
    with open_store(store_arg[1]) as store:
        ThreadService(store).import_records(lifecycle(), Source("test", "lifecycle"))
        import_file(store, "usd", SCENE)
    out = tmp_path / "overlay.usda"
    result = runner.invoke(
        app, [*store_arg, "export", "usd", "plant.usda", "-o", str(out), "--json"]
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["by_health"] == {"good": 9, "warning": 2, "critical": 1, "unknown": 1}
    assert data["prims"][0]["prim_path"] == PUMP.format(1)
    table = runner.invoke(app, [*store_arg, "export", "usd", "plant.usda", "-o", str(out)])
    assert table.exit_code == 0 and "Pump_01" in table.stdout and "critical" in table.stdout
    assert "1 critical" in table.stderr


def test_the_example_overlay_is_not_green_where_the_audit_flags_a_pump(
    pump_fleet: GraphStore, tmp_path: Path
) -> None:
    """Issue 17, point 5: the overlay painted every example pump green, among them the
    three scene pumps (SN-0010, SN-0011, SN-0012) that still contain the suspect lot."""
    from pxr import Usd

    from thread.audit import AuditOptions, all_rules, run_audit, select_rules
    from thread.clock import utc_today

    audit = run_audit(
        pump_fleet,
        select_rules(all_rules(), ["suspect-lot-installed"]),
        AuditOptions(as_of=utc_today(), record=False),
    )
    flagged = {row["uid"] for row in audit.results[0].rows}
    out = tmp_path / "fleet.usda"
    report = export_overlay(pump_fleet, "plant.usda", out)
    bound = {prim.unit: prim for prim in report.prims if prim.unit}
    assert sorted(set(bound) & flagged) == [f"unit:P-100/SN-{n:04d}" for n in (10, 11, 12)]
    stage = Usd.Stage.Open(str(out))
    for uid, prim in bound.items():
        data = custom(stage, prim.prim_path)
        if uid in flagged:
            assert prim.health == data["health"] == "warning", uid
            assert any("suspect lot lot:LOT-B-2302" in r for r in data["reasons"]), uid
            assert color(stage, f"{prim.prim_path}/Body") == HEALTH_COLORS["warning"]
        else:
            assert (prim.health, list(data["reasons"])) == ("good", []), uid
            assert color(stage, prim.prim_path) == HEALTH_COLORS["good"]
    assert report.by_health == {"good": 9, "warning": 3, "critical": 0, "unknown": 1}


def test_the_overlay_health_counts_open_alerts(plant: GraphStore, tmp_path: Path) -> None:
    """An open critical alert makes a pump critical, a cleared one does not count."""
    records: list[Record] = []
    for start, status, severity, serial in (
        ("2025-03-01T00:00:00Z", "open", "critical", "SN-0005"),
        ("2025-03-02T00:00:00Z", "cleared", "critical", "SN-0006"),
        ("2025-03-03T00:00:00Z", "open", "warning", "SN-0007"),
    ):
        alert = node(
            ONTO,
            "Alert",
            {"alert_id": f"a-{serial}", "status": status, "severity": severity, "start": start},
        )
        records += [alert, rel("RAISED_ON", alert, unit(serial))]
    ThreadService(plant).import_records(records, Source("test", "alerts"))
    report = export_overlay(plant, "plant.usda", tmp_path / "o.usda")
    health = {prim.prim_path: (prim.health, prim.reasons) for prim in report.prims}
    assert health[PUMP.format(5)] == ("critical", ["open critical alert alert:a-SN-0005"])
    assert health[PUMP.format(6)] == ("good", [])
    assert health[PUMP.format(7)] == ("warning", ["open warning alert alert:a-SN-0007"])


def test_the_trace_judges_health_on_the_same_facts_as_unit_health(plant: GraphStore) -> None:
    """The trace takes a unit's alerts and latest remaining life from the sections it reads
    anyway; asked for its twin alone, it reads them for health. Both agree with
    `unit_health`, on a unit with several alerts and several simulation runs."""
    from thread.pipeline.twins import refresh_twins
    from thread.queries.health import unit_health
    from thread.queries.trace import trace

    refresh_twins(plant)
    records: list[Record] = []
    for n, (status, severity) in enumerate(
        (("open", "warning"), ("open", "critical"), ("cleared", "critical"), ("open", "info"))
    ):
        alert = node(
            ONTO,
            "Alert",
            {"alert_id": f"b-{n}", "status": status, "severity": severity,
             "start": f"2025-04-0{n + 1}T00:00:00Z"},
        )  # fmt: skip
        records += [alert, rel("RAISED_ON", alert, unit("SN-0005"))]
    twin = ("InstanceTwin", "twin:P-100/SN-0005")
    for run_id, finished, rul in (("r-old", "2025-01-01T00:00:00Z", 12.0),
                                  ("r-new", "2025-02-01T00:00:00Z", 40.0),
                                  ("r-none", "2025-03-01T00:00:00Z", None)):  # fmt: skip
        props: dict[str, Any] = {"run_id": run_id, "model": "rul-kernel", "finished": finished}
        if rul is not None:
            props["rul"] = rul
        run = node(ONTO, "SimulationRun", props)
        records += [run, rel("SIMULATED", run, twin)]
    ThreadService(plant).import_records(records, Source("test", "facts"))
    uid = unit("SN-0005")[1]
    expected = unit_health(plant, [uid])[uid].to_dict()
    assert expected == {
        "level": "critical",
        "reasons": ["open warning alert alert:b-0", "open critical alert alert:b-1"],
    }  # the latest run with a life says 40, above the threshold of 30
    assert trace(plant, uid).to_dict()["twin"]["health"] == expected
    assert trace(plant, uid, sections=("twin",)).to_dict()["twin"]["health"] == expected
