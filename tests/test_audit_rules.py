"""Each built-in audit rule on a small clean thread, then violated exactly once; and the
example thread (examples/pump-fleet) with exact counts for its seeded defects."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from thread.audit import AuditOptions, all_rules, run_audit, select_rules
from thread.audit.builtin import builtin_rules
from thread.pipeline.twins import refresh_twins
from thread.pipeline.write import Source, ThreadService
from thread.records import NodeRecord, Record, node, rel
from thread.stores import GraphStore

AS_OF = "2025-06-30"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "pump-fleet"


def _import(store: GraphStore, *records: Record, name: str = "test") -> None:
    ThreadService(store).import_records(list(records), Source("test", name, source_id=name))


def _n(store: GraphStore, label: str, **props: Any) -> NodeRecord:
    return node(store.ontology, label, props)


def base_thread(store: GraphStore) -> None:
    """One pump P-1/SN-1 that passes every rule: released, documented revision with one
    lot-tracked BOM line, a traceable lot, a site, preventive maintenance, a live sensor."""
    n = lambda label, **p: _n(store, label, **p)  # noqa: E731
    part, child = n("Part", part_number="P-1"), n("Part", part_number="C-1")
    rev = n(
        "PartRevision",
        part_number="P-1",
        revision="A",
        status="released",
        release_date="2024-01-01",
    )
    crev = n(
        "PartRevision",
        part_number="C-1",
        revision="A",
        status="released",
        release_date="2024-01-01",
    )
    doc, req = n("Document", doc_number="D-1"), n("Requirement", req_id="R-1")
    supplier = n("Supplier", supplier_id="S-1")
    lot = n("Lot", lot_id="L-1", part_number="C-1", received_date="2024-01-15", status="accepted")
    unit = n("Unit", part_number="P-1", serial="SN-1", build_date="2024-02-01", install_date="2024-02-10",
             status="in_service")  # fmt: skip
    site = n("Site", code="SITE-1")
    wo = n("MaintenanceEvent", work_order="WO-1", type="preventive", status="closed",
           opened="2025-03-01T08:00:00Z", closed="2025-03-01T16:00:00Z")  # fmt: skip
    sensor = n("Sensor", sensor_id="SEN-1")
    channel = n("Channel", sensor_id="SEN-1", channel="vib", count=100, constant=False,
                last="2025-06-29T12:00:00Z")  # fmt: skip
    _import(
        store,
        part, child, rev, crev, doc, req, supplier, lot, unit, site, wo, sensor, channel,
        rel("HAS_REVISION", part, rev), rel("HAS_REVISION", child, crev),
        rel("DOCUMENTED_BY", rev, doc), rel("SATISFIES", rev, req),
        rel("DOCUMENTED_BY", crev, doc), rel("SATISFIES", crev, req),
        rel("HAS_COMPONENT", rev, child, {"quantity": 1.0, "find_number": "10"}, key="10"),
        rel("OF_REVISION", lot, crev), rel("SUPPLIED_BY", lot, supplier), rel("OF_REVISION", unit, rev),
        rel("CONTAINS", unit, lot, {"valid_from": "2024-02-01", "quantity": 1.0, "find_number": "10"}, key="2024-02-01"),
        rel("LOCATED_IN", unit, site, {"valid_from": "2024-02-10"}, key="2024-02-10"),
        rel("PERFORMED_ON", wo, unit), rel("OBSERVES", sensor, unit), rel("HAS_CHANNEL", sensor, channel),
        name="base",
    )  # fmt: skip
    refresh_twins(store)


def _unit(store: GraphStore, serial: str, **props: Any) -> NodeRecord:
    values = {"part_number": "P-1", "serial": serial, "build_date": "2024-03-01",
              "install_date": "2024-03-01", "status": "in_service", **props}  # fmt: skip
    return _n(store, "Unit", **values)


def _rev(store: GraphStore, revision: str = "A") -> tuple[str, str]:
    return ("PartRevision", store.ontology.uid("PartRevision", "P-1", revision))


UNIT1 = ("Unit", "unit:P-1/SN-1")


def _second_lot(store: GraphStore, part: str) -> NodeRecord:
    """A traceable lot of another part, so only the rule under test sees a problem."""
    p = _n(store, "Part", part_number=part)
    r = _n(
        store,
        "PartRevision",
        part_number=part,
        revision="A",
        status="released",
        release_date="2024-01-01",
    )
    lot = _n(
        store,
        "Lot",
        lot_id=f"L-{part}",
        part_number=part,
        received_date="2024-01-15",
        status="accepted",
    )
    _import(store, p, r, lot, rel("HAS_REVISION", p, r), rel("OF_REVISION", lot, r),
            rel("SUPPLIED_BY", lot, ("Supplier", "supplier:S-1")), name=f"lot-{part}")  # fmt: skip
    return lot


def _m_unit_revision(store: GraphStore) -> None:
    _import(store, _unit(store, "SN-2"))


def _m_unit_twin(store: GraphStore) -> None:
    unit = _unit(store, "SN-2")
    _import(store, unit, rel("OF_REVISION", unit, _rev(store)))


def _m_lot_traceable(store: GraphStore) -> None:
    lot = _n(store, "Lot", lot_id="L-2", part_number="C-1", received_date="2024-01-15")
    _import(store, lot, rel("CONTAINS", UNIT1, lot, {"valid_from": "2024-02-01"}, key="x"))


def _m_serial_twice(store: GraphStore) -> None:
    motor, other = _n(store, "Unit", part_number="M-1", serial="M-1"), _unit(store, "SN-2")
    _import(store, motor, other, rel("OF_REVISION", other, _rev(store)),
            rel("CONTAINS", UNIT1, motor, {"valid_from": "2024-02-01"}, key="a"),
            rel("CONTAINS", other, motor, {"valid_from": "2024-06-01"}, key="b"))  # fmt: skip


def _m_duplicate_serial(store: GraphStore) -> None:
    _import(store, _unit(store, "sn-1"))


def _m_installed_before_built(store: GraphStore) -> None:
    site = _n(store, "Site", code="SITE-2")
    _import(store, site, rel("LOCATED_IN", UNIT1, site, {"valid_from": "2024-01-20", "valid_to": "2024-02-10"}, key="early"))  # fmt: skip


def _m_removed_before_installed(store: GraphStore) -> None:
    store.write(
        "MATCH (:Unit {uid: 'unit:P-1/SN-1'})-[r:CONTAINS]->() SET r.valid_to = '2024-01-01'"
    )


def _m_after_scrap(store: GraphStore) -> None:
    unit = _unit(store, "SN-9", status="scrapped", scrap_date="2025-01-01")
    wo = _n(store, "MaintenanceEvent", work_order="WO-9", opened="2025-02-01T08:00:00Z",
            closed="2025-02-01T09:00:00Z", status="closed")  # fmt: skip
    _import(store, unit, wo, rel("PERFORMED_ON", wo, unit))


def _m_unresolved(store: GraphStore) -> None:
    prim = _n(
        store,
        "Prim",
        scene="s.usda",
        prim_path="/World/X",
        bind_serial="SN-404",
        bind_part_number="P-1",
    )
    _import(
        store,
        prim,
        rel("REPRESENTS", prim, ("Unit", "unit:P-1/SN-404"), optional=True),
        name="scene",
    )


def _m_as_built(store: GraphStore) -> None:
    lot = _second_lot(store, "C-2")
    unit = _unit(store, "SN-2")
    _import(store, unit, rel("OF_REVISION", unit, _rev(store)),
            rel("CONTAINS", unit, lot, {"valid_from": "2024-03-01", "quantity": 1.0, "find_number": "10"}, key="b"))  # fmt: skip


def _m_as_maintained(store: GraphStore) -> None:
    lot = _second_lot(store, "C-2")
    store.write(
        "MATCH (:Unit {uid: 'unit:P-1/SN-1'})-[r:CONTAINS]->() SET r.valid_to = '2025-01-01'"
    )
    _import(store, rel("CONTAINS", UNIT1, lot, {"valid_from": "2025-01-01", "quantity": 1.0, "find_number": "10"}, key="m"))  # fmt: skip


def _rev_b(store: GraphStore, **props: Any) -> NodeRecord:
    rev = _n(store, "PartRevision", part_number="P-1", revision="B", **props)
    _import(store, rev, rel("HAS_REVISION", ("Part", "part:P-1"), rev), name="rev-b")
    return rev


def _m_released_at_build(store: GraphStore) -> None:
    rev = _rev_b(store, status="released", release_date="2025-01-01")
    unit = _unit(store, "SN-2", build_date="2024-06-01", install_date="2024-06-01")
    _import(store, unit, rel("OF_REVISION", unit, rev))


def _m_unapplied(store: GraphStore) -> None:
    rev = _rev_b(store, status="released", release_date="2024-01-01")
    co = _n(store, "ChangeOrder", co_number="ECO-1", status="released")
    _import(store, co, rel("CHANGES_FROM", co, _rev(store)),
            rel("CHANGES_TO", co, rev, {"effective_date": "2024-01-01"}))  # fmt: skip


def _m_documented(store: GraphStore) -> None:
    _rev_b(store, status="released", release_date="2025-01-01")


def _m_suspect(store: GraphStore) -> None:
    store.write("MATCH (l:Lot {uid: 'lot:L-1'}) SET l.status = 'suspect'")


def _m_pm_overdue(store: GraphStore) -> None:
    unit = _unit(store, "SN-2")
    _import(store, unit, rel("OF_REVISION", unit, _rev(store)))


def _m_wo_open(store: GraphStore) -> None:
    wo = _n(
        store, "MaintenanceEvent", work_order="WO-2", opened="2025-05-01T08:00:00Z", status="open"
    )
    _import(store, wo, rel("PERFORMED_ON", wo, UNIT1))


def _m_life_limit(store: GraphStore) -> None:
    store.write("MATCH (p:Part {uid: 'part:P-1'}) SET p.life_limit_years = 1")


def _m_stale(store: GraphStore) -> None:
    store.write("MATCH (c:Channel) SET c.last = '2025-06-01T12:00:00Z'")


def _m_constant(store: GraphStore) -> None:
    store.write("MATCH (c:Channel) SET c.constant = true")


def _m_observes_nothing(store: GraphStore) -> None:
    _import(store, _n(store, "Sensor", sensor_id="SEN-2"))


def _m_calibration(store: GraphStore) -> None:
    store.write("MATCH (s:Sensor) SET s.calibration_due = '2025-06-01'")


def _m_binding(store: GraphStore) -> None:
    store.write(
        "CREATE (:Entity:BuildingElement {uid: 'ifc:E1', global_id: 'E1', bind_serial: 'SN-404', "
        "bind_part_number: 'P-1'})"
    )


def _m_no_location(store: GraphStore) -> None:
    unit = _unit(store, "SN-2")
    _import(
        store, _n(store, "Building", global_id="B-1"), unit, rel("OF_REVISION", unit, _rev(store))
    )


def _m_shapes(store: GraphStore) -> None:
    store.write("CREATE (:Entity:Unit {uid: 'unit:P-1/SN-7', part_number: 'P-1'})")


VIOLATIONS: dict[str, Callable[[GraphStore], None]] = {
    "unit-has-revision": _m_unit_revision,
    "unit-has-twin": _m_unit_twin,
    "installed-lot-traceable": _m_lot_traceable,
    "serial-installed-twice": _m_serial_twice,
    "duplicate-serial": _m_duplicate_serial,
    "installed-before-built": _m_installed_before_built,
    "removed-before-installed": _m_removed_before_installed,
    "activity-after-scrap": _m_after_scrap,
    "unresolved-links": _m_unresolved,
    "as-built-configuration": _m_as_built,
    "as-maintained-configuration": _m_as_maintained,
    "revision-released-at-build": _m_released_at_build,
    "unapplied-change-order": _m_unapplied,
    "released-revision-documented": _m_documented,
    "suspect-lot-installed": _m_suspect,
    "preventive-maintenance-overdue": _m_pm_overdue,
    "work-order-open-too-long": _m_wo_open,
    "unit-past-life-limit": _m_life_limit,
    "channel-stale": _m_stale,
    "channel-constant": _m_constant,
    "sensor-observes-nothing": _m_observes_nothing,
    "calibration-overdue": _m_calibration,
    "binding-unresolved": _m_binding,
    "unit-without-location": _m_no_location,
    "ontology-shapes": _m_shapes,
}
VACUOUS_ON_EXAMPLE = {"activity-after-scrap", "unit-past-life-limit", "calibration-overdue"}
VACUOUS_ON_BASE = VACUOUS_ON_EXAMPLE | {
    "binding-unresolved",  # no scene or building model
    "unit-without-location",  # no building
    "serial-installed-twice",  # no serial inside another
    "removed-before-installed",  # no interval has ended
    "work-order-open-too-long",  # no work order is open
    "unapplied-change-order",  # no change order
    "as-maintained-configuration",  # no unit changed since it was built
}


def _audit(store: GraphStore, *ids: str) -> dict[str, Any]:
    rules = select_rules(all_rules(), ids)
    report = run_audit(store, rules, AuditOptions(as_of=AS_OF, record=False))
    return {r.rule: r for r in report.results}


def test_every_builtin_rule_has_a_violation_test() -> None:
    assert set(VIOLATIONS) == {r.id for r in builtin_rules()} | {"ontology-shapes"}


def test_the_base_thread_passes_every_rule(embedded_store: GraphStore) -> None:
    base_thread(embedded_store)
    results = _audit(embedded_store)
    outcomes = {rule: r.outcome for rule, r in results.items()}
    assert outcomes == {
        rule: "vacuous" if rule in VACUOUS_ON_BASE else "pass" for rule in VIOLATIONS
    }
    assert all(r.targets for rule, r in results.items() if rule not in VACUOUS_ON_BASE)


@pytest.mark.parametrize("rule_id", sorted(VIOLATIONS))
def test_each_rule_catches_its_violation_exactly_once(
    embedded_store: GraphStore, rule_id: str
) -> None:
    base_thread(embedded_store)
    VIOLATIONS[rule_id](embedded_store)
    result = _audit(embedded_store, rule_id)[rule_id]
    assert (result.outcome, result.violations) == ("fail", 1), result.rows
    row = result.rows[0]
    assert row["uid"] and row["message"]


# ----------------------------------------------------------------------------- the example thread


def _csv(path: str) -> list[dict[str, str]]:
    with open(EXAMPLE / path, encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _undocumented_revisions() -> int:
    """Released revisions without a document or a requirement, from the example's CSVs."""
    documented = {(r["part_number"], r["revision"]) for r in _csv("plm/documents.csv")}
    required = {(r["part_number"], r["revision"]) for r in _csv("plm/requirements.csv")}
    released = [(r["part_number"], r["revision"]) for r in _csv("plm/revisions.csv")
                if r["status"] == "released"]  # fmt: skip
    return sum(1 for key in released if key not in documented or key not in required)


def test_the_example_thread_fails_exactly_on_its_seeded_defects(pump_fleet: GraphStore) -> None:
    report = run_audit(pump_fleet, all_rules(), AuditOptions(as_of=AS_OF, record=False))
    found = {r.rule: (r.outcome, r.violations) for r in report.results}
    failing = {rule: n for rule, (outcome, n) in found.items() if outcome == "fail"}
    # the recall: pumps SN-0010..24 and motors MSN-0012..18 got the suspect lot; SN-0020's
    # was replaced and its motor never had it (the same 21 units `thread recall` lists)
    assert failing == {
        "suspect-lot-installed": 21,
        "as-built-configuration": 1,  # SN-0030 built with MS-600 where revision B has MS-610
        "unapplied-change-order": 1,  # SN-0024 in ECO-0007's serial range, still revision A
        "as-maintained-configuration": 2,  # SN-0003/8, whose seals were replaced by MS-610
        "released-revision-documented": _undocumented_revisions(),
        # the scene's Pump_Spare declares SN-9999, a unit no system knows (on purpose):
        # the binding rule and the USD import run's skipped link both report it
        "binding-unresolved": 1,
        "unresolved-links": 1,
    }
    assert {r.rule for r in report.failing} == {
        "suspect-lot-installed",
        "as-built-configuration",
        "unapplied-change-order",
    }
    assert report.exit_code == 1
    vacuous = {rule for rule, (outcome, _) in found.items() if outcome == "vacuous"}
    assert vacuous == VACUOUS_ON_EXAMPLE  # no scrap dates, life limits or calibrations
    rows = {r.rule: r.rows for r in report.results}
    assert [row["uid"] for row in rows["as-built-configuration"]] == ["unit:P-100/SN-0030"]
    assert rows["as-built-configuration"][0]["kind"] == "substituted"
    assert [row["uid"] for row in rows["unapplied-change-order"]] == ["unit:P-100/SN-0024"]
    assert rows["unapplied-change-order"][0]["change_order"] == "co:ECO-0007"
    located = next(r for r in report.results if r.rule == "unit-without-location")
    assert (located.outcome, located.targets) == ("pass", 36)  # the pumps; motors are inside
    assert rows["binding-unresolved"][0]["uid"] == "prim:plant.usda:/World/PumpRoom/Pump_Spare"
    installed = {row["uid"] for row in rows["suspect-lot-installed"]}
    assert "unit:P-100/SN-0020" not in installed and "unit:P-100/SN-0012" in installed


def test_rules_run_concurrently_report_as_one_at_a_time(pump_fleet: GraphStore) -> None:
    def outcome(jobs: int) -> list[tuple[str, str, int, list[dict[str, Any]]]]:
        options = AuditOptions(as_of=AS_OF, record=False, jobs=jobs)
        report = run_audit(pump_fleet, all_rules(), options)
        return [(r.rule, r.outcome, r.violations, r.rows) for r in report.results]

    serial = outcome(1)
    assert [rule for rule, *_ in serial] == [rule.id for rule in all_rules()]
    assert outcome(4) == serial


def test_as_of_moves_time_based_rules(pump_fleet: GraphStore) -> None:
    """A year after the example ends, every pump is overdue for its annual inspection and
    SN-0019's open work order is too old; before the suspect lot arrived, nothing held it."""
    later = run_audit(
        pump_fleet,
        select_rules(all_rules(), ["preventive-maintenance-overdue", "work-order-open-too-long"]),
        AuditOptions(as_of="2026-07-01", record=False),
    )
    counts = {r.rule: r.violations for r in later.results}
    assert counts == {"preventive-maintenance-overdue": 36, "work-order-open-too-long": 1}
    early = run_audit(
        pump_fleet,
        select_rules(all_rules(), ["suspect-lot-installed"]),
        AuditOptions(as_of="2023-06-01", record=False),
    )
    assert early.results[0].violations == 0


def test_a_twin_audit_covers_its_units_and_skips_the_rest(pump_fleet: GraphStore) -> None:
    report = run_audit(
        pump_fleet, all_rules(), AuditOptions(as_of=AS_OF, twin="twin:P-100/SN-0012", record=False)
    )
    assert report.units == 2  # the pump and its motor
    found = {r.rule: r for r in report.results}
    assert {row["uid"] for row in found["suspect-lot-installed"].rows} == {
        "unit:P-100/SN-0012",
        "unit:M-200/MSN-0012",
    }
    assert found["duplicate-serial"].outcome == "skipped"
    assert found["as-built-configuration"].violations == 0


def _kind_missing(store: GraphStore) -> None:
    unit = _unit(store, "SN-2")
    _import(store, unit, rel("OF_REVISION", unit, _rev(store)))


def _kind_extra(store: GraphStore) -> None:
    lot = _second_lot(store, "C-2")
    _import(store, rel("CONTAINS", UNIT1, lot, {"valid_from": "2024-02-01", "find_number": "99"}, key="x"))  # fmt: skip


def _kind_quantity(store: GraphStore) -> None:
    store.write("MATCH (:Unit {uid: 'unit:P-1/SN-1'})-[r:CONTAINS]->() SET r.quantity = 2.0")


def _kind_revision(store: GraphStore) -> None:
    store.write(
        "MATCH (:PartRevision {uid: 'rev:P-1/A'})-[l:HAS_COMPONENT]->() SET l.child_revision = 'B'"
    )


@pytest.mark.parametrize(
    ("mutate", "kind", "message"),
    [
        (_kind_missing, "missing", "unit:P-1/SN-2: missing at find number 10: the design has C-1, the unit has none"),
        (_kind_extra, "extra", "unit:P-1/SN-1: extra at find number 99: C-2 (lot:L-C-2) is not in the design"),
        (_kind_quantity, "quantity", "unit:P-1/SN-1: quantity at find number 10: the quantity of C-1 differs from the design"),
        (_kind_revision, "revision", "unit:P-1/SN-1: revision at find number 10: C-1 at revision A where the design has revision B"),
    ],
    ids=["missing", "extra", "quantity", "revision"],
)  # fmt: skip
def test_configuration_differences(
    embedded_store: GraphStore, mutate: Callable[[GraphStore], None], kind: str, message: str
) -> None:
    base_thread(embedded_store)
    mutate(embedded_store)
    (row,) = _audit(embedded_store, "as-built-configuration")["as-built-configuration"].rows
    assert (row["kind"], row["message"]) == (kind, message)


def test_deviations_cover_what_they_name(embedded_store: GraphStore) -> None:
    base_thread(embedded_store)
    _m_as_built(embedded_store)  # SN-2 has C-2 at find number 10
    _m_unapplied(embedded_store)  # ECO-1 covers SN-1 and SN-2
    rules = ("as-built-configuration", "unapplied-change-order")

    def found() -> dict[str, int]:
        return {rule: r.violations for rule, r in _audit(embedded_store, *rules).items()}

    assert found() == {"as-built-configuration": 1, "unapplied-change-order": 2}
    sn2 = ("Unit", "unit:P-1/SN-2")
    elsewhere = _n(embedded_store, "Deviation", deviation_id="DEV-1", find_number="20")
    expired = _n(embedded_store, "Deviation", deviation_id="DEV-2", expires="2025-01-01")
    _import(
        embedded_store,
        elsewhere,
        expired,
        rel("COVERS", elsewhere, sn2),
        rel("COVERS", expired, sn2),
    )
    assert found() == {"as-built-configuration": 1, "unapplied-change-order": 2}
    concession = _n(embedded_store, "Deviation", deviation_id="DEV-3", find_number="10")
    waiver = _n(embedded_store, "Deviation", deviation_id="DEV-4", change_order="ECO-1")
    _import(
        embedded_store,
        concession,
        waiver,
        rel("COVERS", concession, sn2),
        rel("COVERS", waiver, sn2),
    )
    assert found() == {"as-built-configuration": 0, "unapplied-change-order": 1}


def test_deviations_imported_from_csv_clear_the_seeded_defects(
    embedded_store: GraphStore, test_data: Path
) -> None:
    """The example's substitution and unapplied change order, accepted by deviations
    (tests/data/audit/deviations.csv); a requested one covers nothing yet."""
    from thread.importers.base import ImportContext
    from thread.importers.deviations import DeviationsImporter
    from thread.pipeline.imports import import_folder

    import_folder(embedded_store, EXAMPLE)
    path = test_data / "audit" / "deviations.csv"
    records = DeviationsImporter().records(path, ImportContext(embedded_store.ontology, path.name))
    ThreadService(embedded_store).import_records(records, Source("deviations", path.name))
    rules = ("as-built-configuration", "as-maintained-configuration", "unapplied-change-order")
    found = {
        rule: [row["uid"] for row in r.rows] for rule, r in _audit(embedded_store, *rules).items()
    }
    assert found == {
        "as-built-configuration": [],
        "as-maintained-configuration": ["unit:P-100/SN-0003", "unit:P-100/SN-0008"],
        "unapplied-change-order": [],
    }
