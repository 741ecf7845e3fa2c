"""Traceability queries on the example thread, with exact answers (examples/pump-fleet)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from thread.clock import parse_day, parse_moment
from thread.diagram import render_diagram
from thread.errors import NotFoundError, UsageError
from thread.live.alerts import alerts_for_unit
from thread.queries.as_of import as_of, structure
from thread.queries.diff import diff
from thread.queries.path import shortest_path
from thread.queries.recall import recall
from thread.queries.show import get_entity
from thread.queries.trace import SECTIONS, trace
from thread.queries.twin import list_twins, show_twin
from thread.queries.where_used import where_used
from thread.stores import GraphStore

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "pump-fleet"
DEFECTIVE = "lot:LOT-B-2302"


def pump(n: int) -> str:
    return f"unit:P-100/SN-{n:04d}"


def motor(n: int) -> str:
    return f"unit:M-200/MSN-{n:04d}"


def bearing_replacement(serial: str) -> dict[str, str]:
    with open(EXAMPLE / "maintenance/replacements.csv", encoding="utf-8") as handle:
        return next(
            r
            for r in csv.DictReader(handle)
            if r["serial"] == serial and r["removed_lot"] == "LOT-B-2302"
        )


def test_the_defective_lot_reaches_exactly_the_expected_units(pump_fleet: GraphStore) -> None:
    result = recall(pump_fleet, DEFECTIVE)
    pumps = {pump(n) for n in range(10, 25)}  # built while the lot was on the pump line
    motors = {motor(n) for n in range(12, 19)}  # motors built in the third quarter of 2023
    assert set(result.units) == pumps | motors
    assert pump(9) not in result.units and pump(25) not in result.units
    # SN-0020's bearings were replaced and its motor never had the lot: no longer exposed
    assert set(result.still_installed) == (pumps | motors) - {pump(20)}


def test_a_replaced_lot_is_reported_removed_with_date_and_work_order(
    pump_fleet: GraphStore,
) -> None:
    replacement = bearing_replacement("SN-0012")
    exposures = [e for e in recall(pump_fleet, DEFECTIVE).exposures if e.unit == pump(12)]
    direct = next(e for e in exposures if e.depth == 1)
    assert (direct.status, direct.removed_on, direct.removed_by) == (
        "removed",
        replacement["date"],
        replacement["work_order"],
    )
    through_motor = next(e for e in exposures if e.depth == 2)
    assert through_motor.path == [pump(12), motor(12), DEFECTIVE]
    assert through_motor.status == "installed"
    assert {s["label"] for s in direct.site} == {
        "Site",
        "Space",
    }  # the plant, and its pump room (IFC)


def test_recall_as_of_a_date(pump_fleet: GraphStore) -> None:
    before = recall(pump_fleet, DEFECTIVE, as_of="2023-06-01")
    assert before.units == []
    during = recall(pump_fleet, DEFECTIVE, as_of="2024-06-01")
    sn12 = [e.path for e in during.exposures if e.unit == pump(12)]
    assert sn12 == [[pump(12), motor(12), DEFECTIVE]]  # its own bearings were gone by then
    assert pump(20) in during.units  # replaced only in September 2024


def test_recall_from_a_supplier_and_a_revision(pump_fleet: GraphStore) -> None:
    seals = recall(pump_fleet, "supplier:SUP-ST")
    assert len({u for u in seals.units if u.startswith("unit:P-100/")}) == 36
    revision_b = recall(pump_fleet, "rev:MS-610/A")
    assert (
        pump(25) in revision_b.units and pump(3) in revision_b.units
    )  # built with it / replaced to it
    assert pump(30) not in revision_b.units  # built with the old seal


def test_as_of_before_and_after_a_replacement_differs_by_that_part(pump_fleet: GraphStore) -> None:
    replacement = bearing_replacement("SN-0012")
    before = {i.uid for i in as_of(pump_fleet, pump(12), "2024-05-01").items}
    after = {i.uid for i in as_of(pump_fleet, pump(12), replacement["date"]).items}
    assert before - after == {DEFECTIVE}
    assert after - before == {"lot:LOT-B-2401"}
    motor_items = next(
        i for i in as_of(pump_fleet, pump(12), "2024-06-01").items if i.uid == motor(12)
    )
    assert [c.uid for c in motor_items.children] == [DEFECTIVE]


def test_diff_finds_the_seeded_substitution(pump_fleet: GraphStore) -> None:
    result = diff(pump_fleet, pump(30))
    assert result.revision == "rev:P-100/B"
    assert [(d.kind, d.find_number, d.expected, d.actual) for d in result.built] == [
        ("substituted", "50", "MS-610", "MS-600")
    ]
    assert result.unapplied_change_orders == []


def test_diff_finds_the_unapplied_change_order(pump_fleet: GraphStore) -> None:
    result = diff(pump_fleet, pump(24))
    assert [co["co_number"] for co in result.unapplied_change_orders] == ["ECO-0007"]
    assert result.built == [] and result.maintained == []
    assert diff(pump_fleet, pump(23)).unapplied_change_orders == []  # before the serial range


def test_diff_as_maintained_shows_a_replacement_and_a_clean_unit(pump_fleet: GraphStore) -> None:
    leaked = diff(pump_fleet, pump(3))
    assert leaked.built == []
    assert [(d.kind, d.expected, d.actual) for d in leaked.maintained] == [
        ("substituted", "MS-600", "MS-610")
    ]
    assert diff(pump_fleet, pump(1)).clean


def test_where_used_climbs_three_bom_levels(pump_fleet: GraphStore) -> None:
    result = where_used(pump_fleet, "W-230")
    assert [(u.assembly, u.level, u.top) for u in result.designed] == [
        ("rev:M-210/A", 1, False),
        ("rev:M-200/A", 2, False),
        ("rev:P-100/A", 3, True),
        ("rev:P-100/B", 3, True),
    ]
    assert result.designed[2].path == [
        "part:W-230",
        "rev:M-210/A",
        "part:M-210",
        "rev:M-200/A",
        "part:M-200",
        "rev:P-100/A",
    ]


def test_where_used_as_built_and_now(pump_fleet: GraphStore) -> None:
    result = where_used(pump_fleet, "part:MS-600").to_dict()
    assert pump(30) in result["units_now"]
    assert pump(3) in result["units"] and pump(3) not in result["units_now"]  # seal replaced
    assert len([u for u in result["units_now"] if u.startswith("unit:P-100/")]) == 24 - 2 + 1


def test_trace_of_a_pump(pump_fleet: GraphStore) -> None:
    data = trace(pump_fleet, pump(12)).to_dict()
    assert set(data) == {
        "uid",
        "label",
        "properties",
        "revision",
        "structure",
        "location",
        "sensors",
        "maintenance",
        "alerts",
        "twin",
        "simulations",
    }
    assert data["revision"]["uid"] == "rev:P-100/A"
    assert [co["co_number"] for co in data["revision"]["change_orders"]] == ["ECO-0007"]
    motor_item = next(i for i in data["structure"] if i["uid"] == motor(12))
    assert [(c["uid"], c["supplier"]) for c in motor_item["children"]] == [
        (DEFECTIVE, "supplier:SUP-NB")
    ]
    removed = [i for i in data["structure"] if not i["current"]]
    assert [i["uid"] for i in removed] == [DEFECTIVE]
    assert data["location"]["places"][0]["uid"] == "site:PLANT-NORTH"
    channels = data["sensors"][0]["channels"]
    assert sorted(c["channel"] for c in channels) == ["current", "flow", "temperature", "vibration"]
    assert all(c["count"] > 200 for c in channels)
    assert [m["failure_mode"] for m in data["maintenance"] if m["type"] == "corrective"] == [
        "BRG-WEAR"
    ]
    assert data["twin"]["aggregate"] == "atwin:P-100/A"
    shallow = trace(pump_fleet, pump(12), sections=("structure",), depth=1).to_dict()
    assert set(shallow) == {"uid", "label", "properties", "structure"}
    assert all(i["children"] == [] for i in shallow["structure"])


def test_a_trace_is_one_read_of_the_store(
    pump_fleet: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15, point 17: a pump's trace took 15 reads, and the round trips were most of
    its cost in the HTTP service."""
    queries: list[str] = []
    read = pump_fleet.read

    def counted(query: str, params: Any = None, **kwargs: Any) -> list[dict[str, Any]]:
        queries.append(query)
        return read(query, params, **kwargs)

    monkeypatch.setattr(pump_fleet, "read", counted)
    trace(pump_fleet, pump(12))
    trace(pump_fleet, pump(12), sections=("structure", "maintenance"), depth=1)
    assert len(queries) == 2


def test_a_trace_has_the_structure_and_alerts_their_own_functions_give(
    pump_fleet: GraphStore,
) -> None:
    """The trace reads its sections in one query; its structure (every level, in order,
    each item's JSON key for key) and its alerts are still those of
    `as_of.structure` and `alerts.alerts_for_unit`, for every unit and depth."""
    units = [r["uid"] for r in pump_fleet.read("MATCH (u:Unit) RETURN u.uid AS uid ORDER BY uid")]
    assert len(units) == 72
    for uid in units:
        for depth in (None, 0, 1, 2):
            data = trace(pump_fleet, uid, depth=depth).to_dict()
            expected = [item.to_dict() for item in structure(pump_fleet, uid, depth=depth)]
            assert json.dumps(data["structure"]) == json.dumps(expected), (uid, depth)
        assert data["alerts"] == alerts_for_unit(pump_fleet, uid)
        assert list(data) == ["uid", "label", "properties", *SECTIONS]


def test_a_trace_orders_alerts_and_runs_as_the_alert_list_does(embedded_store: GraphStore) -> None:
    """Alerts newest first (one row per detecting run, none without a start first), and
    simulation runs by finish, newest first, without their `parameters`."""
    store, unit = embedded_store, "unit:P-1/SN-1"
    store.write(
        "CREATE (:Entity:Unit {uid: $unit})<-[:TWIN_OF]-(:Entity:InstanceTwin {uid: 'twin:1'})",
        {"unit": unit},
    )
    for uid, finished in (("run:a", "2024-05-01"), ("run:b", "2024-06-01"), ("run:c", None)):
        store.write(
            "MATCH (t:InstanceTwin {uid: 'twin:1'}) CREATE (s:Entity:SimulationRun {uid: $uid})"
            "-[:SIMULATED]->(t) SET s.finished = $finished, s.parameters = '{}'",
            {"uid": uid, "finished": finished},
        )
    for uid, start, runs in (
        ("alert:2", "2024-05-02", ["run:a", "run:b"]),
        ("alert:1", "2024-05-02", []),
        ("alert:3", None, ["run:c"]),
        ("alert:4", "2024-07-01", []),
    ):
        store.write(
            "MATCH (u:Unit {uid: $unit}) CREATE (a:Entity:Alert {uid: $uid})-[:RAISED_ON]->(u) "
            "SET a.start = $start, a.status = 'open'",
            {"unit": unit, "uid": uid, "start": start},
        )
        for run in runs:
            store.write(
                "MATCH (a:Alert {uid: $uid}) MATCH (s:SimulationRun {uid: $run}) "
                "CREATE (a)-[:DETECTED_BY]->(s)",
                {"uid": uid, "run": run},
            )
    data = trace(store, unit, sections=("alerts", "simulations")).to_dict()
    assert data["alerts"] == alerts_for_unit(store, unit)
    assert [a["uid"] for a in data["alerts"]] == [
        "alert:3",
        "alert:4",
        "alert:1",
        "alert:2",
        "alert:2",
    ]
    assert sorted(a["detected_by"] or "" for a in data["alerts"]) == [
        "",
        "",
        "run:a",
        "run:b",
        "run:c",
    ]
    assert [r["uid"] for r in data["simulations"]] == ["run:c", "run:b", "run:a"]
    assert all("parameters" not in r for r in data["simulations"])


def test_trace_of_another_entity_lists_its_neighbours(pump_fleet: GraphStore) -> None:
    data = trace(pump_fleet, "supplier:SUP-NB").to_dict()
    assert {n["uid"] for n in data["neighbours"]} == {"lot:LOT-B-2301", DEFECTIVE, "lot:LOT-B-2401"}


def test_shortest_path_explains_each_hop(pump_fleet: GraphStore) -> None:
    result = shortest_path(pump_fleet, pump(12), "supplier:SUP-ST")
    assert [n["uid"] for n in result.nodes] == [pump(12), "lot:LOT-S-2301", "supplier:SUP-ST"]
    assert result.hops[1].sentence() == "lot:LOT-S-2301 SUPPLIED_BY supplier:SUP-ST"
    backwards = shortest_path(pump_fleet, "supplier:SUP-ST", pump(12))
    assert [h.type for h in backwards.hops] == ["SUPPLIED_BY", "CONTAINS"]
    assert not backwards.hops[0].forward


def test_twins_and_their_fleets(pump_fleet: GraphStore) -> None:
    fleets = {row["uid"]: row for row in list_twins(pump_fleet)["aggregates"]}
    assert (fleets["atwin:P-100/A"]["units"], fleets["atwin:P-100/A"]["failures"]) == (24, 6)
    assert (fleets["atwin:P-100/B"]["units"], fleets["atwin:P-100/B"]["failures"]) == (12, 0)
    fleet = show_twin(pump_fleet, "atwin:P-100/B")["fleet"]
    assert [row["serial"] for row in fleet] == [f"SN-{n:04d}" for n in range(25, 37)]
    assert show_twin(pump_fleet, "twin:P-100/SN-0019")["properties"]["open_work_orders"] == 1


def test_an_unknown_uid_suggests_the_closest(pump_fleet: GraphStore) -> None:
    with pytest.raises(NotFoundError) as excinfo:
        trace(pump_fleet, "unit:P-100/SN-012")
    assert pump(12) in excinfo.value.closest


def test_graph_answers_draw_as_mermaid_and_dot(pump_fleet: GraphStore) -> None:
    diagram = recall(pump_fleet, DEFECTIVE).to_diagram()
    mermaid = render_diagram(diagram, "mermaid")
    dot = render_diagram(diagram, "dot")
    assert mermaid.startswith("flowchart LR") and dot.startswith("digraph thread {")
    assert mermaid.count("-->") == dot.count("->") == len(diagram.edges)
    assert f'"{pump(12)}"' in mermaid


@pytest.mark.parametrize(
    "uid", ["unit:P-100/SN\x00-0012", " unit:P-100/SN-0012", "unit:" + "x" * 2000]
)
def test_a_uid_no_node_can_have_is_not_found(pump_fleet: GraphStore, uid: str) -> None:
    """A NUL in a uid used to give FalkorDB's parser text instead of 'not found'."""
    with pytest.raises(NotFoundError):
        trace(pump_fleet, uid)
    with pytest.raises(NotFoundError):
        get_entity(pump_fleet, uid)


@pytest.mark.parametrize(
    ("text", "day", "moment"),
    [
        ("2024-05-01", "2024-05-01", "2024-05-01"),
        ("2024-02-29", "2024-02-29", "2024-02-29"),
        ("2024-05-01T10:00:00Z", None, "2024-05-01T10:00:00Z"),
        ("2024-05-01T10:00:00", None, "2024-05-01T10:00:00Z"),
        ("2024-13-01", None, None),
        ("2024-02-30", None, None),
        ("yesterday", None, None),
        ("2025-06-30garbage", None, None),
        ("2024-05-01T10:00:00Zjunk", None, None),
        ("2024-05-01T24:00:00Z", None, None),
        ("2024-05-01 10:00:00", None, None),
        ("2024-W18-3", None, None),
        ("", None, None),
    ],
)
def test_user_dates_are_read_whole_or_refused_with_the_forms(
    text: str, day: str | None, moment: str | None
) -> None:
    """A date the user gives is compared as text in the graph: "2024-13-01" or a date with
    anything after it must be an error, not a confident wrong answer."""
    for parse, expected, forms in (
        (parse_day, day, "a date YYYY-MM-DD"),
        (parse_moment, moment, "a date YYYY-MM-DD or a UTC time YYYY-MM-DDTHH:MM:SS[Z]"),
    ):
        if expected is not None:
            assert parse(text, "--when") == expected
            continue
        with pytest.raises(UsageError) as excinfo:
            parse(text, "--when")
        assert str(excinfo.value) == f"--when: {text!r} is not {forms}"


@pytest.mark.parametrize("date", ["yesterday", "2024-13-01", "2024-02-30", "2024-05-01garbage"])
def test_as_of_and_recall_refuse_a_date_that_is_not_one(pump_fleet: GraphStore, date: str) -> None:
    with pytest.raises(UsageError, match="is not a date YYYY-MM-DD or a UTC time"):
        as_of(pump_fleet, pump(12), date)
    with pytest.raises(UsageError, match=r"is not a date YYYY-MM-DD$"):
        recall(pump_fleet, "supplier:SUP-NB", as_of=date)


def test_as_of_a_utc_time_is_its_configuration_on_that_day(pump_fleet: GraphStore) -> None:
    on_day = as_of(pump_fleet, pump(12), "2024-05-01")
    at_noon = as_of(pump_fleet, pump(12), "2024-05-01T12:00:00")
    assert at_noon.date == "2024-05-01T12:00:00Z"
    assert [item.to_dict() for item in at_noon.items] == [item.to_dict() for item in on_day.items]


def test_a_trace_carries_the_units_health_with_its_reasons(pump_fleet: GraphStore) -> None:
    """Issue 17, point 5: the trace's twin section says the unit's health and why, the
    same as `unit_health` (the overlay's and the HTTP API's function)."""
    from thread.queries.health import unit_health

    uids = [pump(n) for n in range(1, 25)] + [motor(12)]
    health = unit_health(pump_fleet, uids)
    for uid in uids:
        assert trace(pump_fleet, uid).to_dict()["twin"]["health"] == health[uid].to_dict(), uid
    assert health[pump(12)].to_dict() == {
        "level": "warning",
        "reasons": [f"contains suspect lot {DEFECTIVE} (depth 2)"],  # in its motor
    }
    assert health[pump(10)].reasons == [f"contains suspect lot {DEFECTIVE}"]
    assert health[pump(1)].to_dict() == {"level": "good", "reasons": []}
    assert health[pump(20)].level == "good", "its lot was replaced"
    # SN-0019's open corrective work order outranks its suspect lot
    assert health[pump(19)].level == "critical"
    assert health[pump(19)].reasons[0].startswith("open corrective work order")
    assert unit_health(pump_fleet, ["unit:P-100/SN-9999"])["unit:P-100/SN-9999"].level == "unknown"


def test_recall_counts_top_level_units_and_sub_units_apart(pump_fleet: GraphStore) -> None:
    """Issue 17, point 6: "reached 22 units" counted the motors inside the pumps."""
    reached = pump_fleet.read(
        "MATCH (u:Unit)-[:CONTAINS*]->(:Lot {uid: $lot}) WITH DISTINCT u "
        "OPTIONAL MATCH (p:Unit)-[r:CONTAINS]->(u) WHERE r.valid_to IS NULL "
        "RETURN u.uid AS uid, count(p) AS parents",
        {"lot": DEFECTIVE},
    )
    top = sorted(r["uid"] for r in reached if r["parents"] == 0)
    sub = sorted(r["uid"] for r in reached if r["parents"] > 0)
    assert (len(top), len(sub)) == (15, 7)
    result = recall(pump_fleet, DEFECTIVE)
    data = result.to_dict()
    assert (data["top_units"], data["sub_units"]) == (top, sub)
    assert data["units"] == sorted(top + sub), "`units` keeps every unit reached"
    assert data["top_still_installed"] == [u for u in top if u != pump(20)]
    assert data["sub_still_installed"] == sub
    assert all(e["lot"] == DEFECTIVE for e in data["exposures"])
    assert {e["supplier"] for e in data["exposures"]} == {"supplier:SUP-NB"}
    assert {e["unit"]: e["within"] for e in data["exposures"] if e["within"]} == {
        motor(n): pump(n) for n in range(12, 19)
    }


def test_each_unit_a_supplier_recall_reaches_names_its_lot(pump_fleet: GraphStore) -> None:
    rows = pump_fleet.read(
        "MATCH (u:Unit)-[:CONTAINS*]->(l:Lot)-[:SUPPLIED_BY]->(:Supplier {uid: 'supplier:SUP-NB'}) "
        "RETURN DISTINCT u.uid AS unit, l.uid AS lot"
    )
    result = recall(pump_fleet, "supplier:SUP-NB")
    assert {(e.unit, e.lot) for e in result.exposures} <= {(r["unit"], r["lot"]) for r in rows}
    assert all(
        e.lot in result.suspects and e.supplier == "supplier:SUP-NB" for e in result.exposures
    )
    assert len(result.top_units) + len(result.sub_units) == len(result.units)
