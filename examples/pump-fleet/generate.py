"""Generate the example thread: a small, coherent fleet of centrifugal pumps.

    python examples/pump-fleet/generate.py     # rewrites the CSV files next to this script

Deterministic (seeded): the committed files are exactly what this script writes. The
story the data tells, which the tests and the demo rely on:

- Product P-100 (centrifugal pump CP-100) has revisions A and B. Change order ECO-0007
  replaced the mechanical seal MS-600 by MS-610 (seal leakage), effective 2024-03-01 and
  from serial SN-0024 on. The motor M-200 contains a stator M-210 wound with W-230 copper
  wire, so W-230 is used three BOM levels below the pump.
- Three suppliers deliver lots. Bearing lot LOT-B-2302 (Nordic Bearings) was later found
  defective: it went into the pumps built from late June 2023 to January 2024, and into
  the motors built in the third quarter of 2023, so a recall reaches pumps through their
  motors too.
- 36 pumps: SN-0001..SN-0024 built to revision A in 2023 (SN-0024 in December 2023, inside
  ECO-0007's serial range but still to A: a change order not applied), SN-0025..SN-0036 to
  B in 2024; SN-0030 was built with the old seal MS-600 (a substitution).
- Two years of maintenance: annual inspections, bearing replacements on pumps with the
  defective lot (their vibration rises for weeks before), seal replacements on revision A
  pumps, and one pump (SN-0019) with an open corrective work order.
- Every pump has a sensor package with vibration, bearing temperature, current and flow,
  sampled every three days.
"""

from __future__ import annotations

import csv
import math
import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
START, END = date(2023, 3, 1), date(2025, 6, 30)
PUMPS = 36
DEFECTIVE_LOT = "LOT-B-2302"


def write(name: str, rows: list[dict[str, Any]]) -> None:
    path = HERE / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def plm() -> None:
    parts = [
        ("P-100", "Centrifugal pump CP-100", "assembly", "make"),
        ("M-200", "Motor 7.5 kW", "assembly", "make"),
        ("M-210", "Stator", "assembly", "make"),
        ("M-220", "Rotor", "component", "make"),
        ("W-230", "Copper winding wire", "raw material", "buy"),
        ("I-300", "Impeller, bronze", "component", "buy"),
        ("S-400", "Pump shaft", "component", "buy"),
        ("B-500", "Ball bearing 6308", "component", "buy"),
        ("MS-600", "Mechanical seal, carbon/ceramic", "component", "buy"),
        ("MS-610", "Mechanical seal, SiC/SiC", "component", "buy"),
        ("C-700", "Volute casing", "component", "buy"),
        ("F-900", "Fastener kit", "component", "buy"),
    ]
    write("plm/parts.csv", [
        {"part_number": p, "name": n, "type": t, "uom": "EA", "make_buy": mb, "description": ""}
        for p, n, t, mb in parts
    ])  # fmt: skip
    revisions = [
        {
            "part_number": p,
            "revision": "A",
            "status": "released",
            "release_date": "2023-01-10",
            "supersedes": "",
        }
        for p, *_ in parts
    ]
    revisions.append(
        {
            "part_number": "P-100",
            "revision": "B",
            "status": "released",
            "release_date": "2024-03-01",
            "supersedes": "A",
        }
    )
    write("plm/revisions.csv", revisions)
    pump_lines = [
        ("M-200", 1, "10"),
        ("I-300", 1, "20"),
        ("S-400", 1, "30"),
        ("B-500", 2, "40"),
        ("C-700", 1, "60"),
        ("F-900", 8, "70"),
    ]
    bom = []
    for rev, seal in (("A", "MS-600"), ("B", "MS-610")):
        for child, qty, find in [*pump_lines, (seal, 1, "50")]:
            bom.append({"parent_part_number": "P-100", "parent_revision": rev, "child_part_number": child,
                        "quantity": qty, "uom": "EA", "find_number": find})  # fmt: skip
    for parent, child, qty, find in (("M-200", "M-210", 1, "10"), ("M-200", "M-220", 1, "20"),
                                     ("M-200", "B-500", 2, "30"), ("M-210", "W-230", 3, "10")):  # fmt: skip
        bom.append({"parent_part_number": parent, "parent_revision": "A", "child_part_number": child,
                    "quantity": qty, "uom": "EA" if child != "W-230" else "KG", "find_number": find})  # fmt: skip
    write("plm/bom.csv", bom)
    write("plm/change-orders.csv", [
        {"co_number": "ECO-0007", "title": "Seal upgrade MS-600 to MS-610", "status": "released",
         "reason": "seal leakage on revision A pumps", "part_number": "P-100", "from_revision": "A",
         "to_revision": "B", "effective_date": "2024-03-01", "serial_from": "SN-0024", "serial_to": ""},
    ])  # fmt: skip
    write("plm/documents.csv", [
        {"doc_number": "DWG-P100", "title": "CP-100 general arrangement", "doc_revision": "3", "part_number": "P-100", "revision": "A"},
        {"doc_number": "DWG-P100", "title": "CP-100 general arrangement", "doc_revision": "3", "part_number": "P-100", "revision": "B"},
        {"doc_number": "DS-P100", "title": "CP-100 datasheet", "doc_revision": "2", "part_number": "P-100", "revision": "B"},
    ])  # fmt: skip
    write("plm/requirements.csv", [
        {"req_id": "REQ-001", "text": "Flow at least 120 m3/h at 32 m head", "source": "customer spec", "part_number": "P-100", "revision": "A"},
        {"req_id": "REQ-001", "text": "Flow at least 120 m3/h at 32 m head", "source": "customer spec", "part_number": "P-100", "revision": "B"},
        {"req_id": "REQ-002", "text": "Seal leakage below 0.1 ml/h", "source": "ECO-0007", "part_number": "P-100", "revision": "B"},
    ])  # fmt: skip


def build_date(index: int) -> date:
    """SN-0001..24 through 2023, SN-0025..36 from March 2024."""
    if index <= 24:
        return date(2023, 3, 6) + timedelta(days=(index - 1) * 12)
    return date(2024, 3, 4) + timedelta(days=(index - 25) * 14)


def bearing_lot(day: date) -> str:
    """The bearing lot on the pump line's shelf that day."""
    if day < date(2023, 6, 20):
        return "LOT-B-2301"
    if day < date(2024, 1, 20):
        return DEFECTIVE_LOT
    return "LOT-B-2401"


def motor_bearing_lot(day: date) -> str:
    """The motor line drew on the defective lot only in the third quarter of 2023."""
    if date(2023, 7, 1) <= day < date(2023, 10, 1):
        return DEFECTIVE_LOT
    return "LOT-B-2301" if day < date(2024, 1, 20) else "LOT-B-2401"


def erp() -> list[dict[str, Any]]:
    write("erp/suppliers.csv", [
        {"supplier_id": "SUP-NB", "name": "Nordic Bearings AB", "country": "SE", "approved": "true"},
        {"supplier_id": "SUP-ST", "name": "SealTech GmbH", "country": "DE", "approved": "true"},
        {"supplier_id": "SUP-IC", "name": "Iberia Castings SA", "country": "ES", "approved": "true"},
    ])  # fmt: skip
    lots = [
        ("LOT-B-2301", "B-500", "SUP-NB", "2023-02-01", 80, "accepted"),
        (DEFECTIVE_LOT, "B-500", "SUP-NB", "2023-06-15", 80, "suspect"),
        ("LOT-B-2401", "B-500", "SUP-NB", "2024-01-18", 120, "accepted"),
        ("LOT-S-2301", "MS-600", "SUP-ST", "2023-02-10", 40, "accepted"),
        ("LOT-S-2401", "MS-610", "SUP-ST", "2024-02-20", 40, "accepted"),
        ("LOT-I-2301", "I-300", "SUP-IC", "2023-02-15", 60, "accepted"),
        ("LOT-C-2301", "C-700", "SUP-IC", "2023-02-15", 60, "accepted"),
        ("LOT-SH-2301", "S-400", "SUP-IC", "2023-02-15", 60, "accepted"),
        ("LOT-F-2301", "F-900", "SUP-IC", "2023-02-15", 500, "accepted"),
    ]
    write("erp/lots.csv", [
        {"lot_id": lot, "part_number": pn, "revision": "A", "supplier_id": sup, "received_date": day, "quantity": qty, "status": status}
        for lot, pn, sup, day, qty, status in lots
    ])  # fmt: skip
    write("erp/orders.csv", [
        {"order_number": "SO-1001", "customer": "Nordwater Utility", "site": "PLANT-NORTH", "order_date": "2023-02-01", "status": "delivered"},
        {"order_number": "SO-1002", "customer": "Southbay Utility", "site": "PLANT-SOUTH", "order_date": "2023-08-01", "status": "delivered"},
    ])  # fmt: skip
    units, genealogy = [], []
    for i in range(1, PUMPS + 1):
        built = build_date(i)
        serial, motor = f"SN-{i:04d}", f"MSN-{i:04d}"
        north = i <= 18
        installed = built + timedelta(days=10)
        motor_built = built - timedelta(days=7)
        units.append({"part_number": "M-200", "serial": motor, "revision": "A", "build_date": motor_built,
                      "order_number": "", "site": "", "install_date": "", "status": "in_service"})  # fmt: skip
        units.append({"part_number": "P-100", "serial": serial, "revision": "A" if i <= 24 else "B",
                      "build_date": built, "order_number": "SO-1001" if north else "SO-1002",
                      "site": "PLANT-NORTH" if north else "PLANT-SOUTH", "install_date": installed,
                      "status": "in_service"})  # fmt: skip
        seal, seal_lot = (
            ("MS-600", "LOT-S-2301") if i <= 24 or i == 30 else ("MS-610", "LOT-S-2401")
        )
        children = [
            ("M-200", motor, "", 1, "10"),
            ("", "", "LOT-I-2301", 1, "20"),
            ("", "", "LOT-SH-2301", 1, "30"),
            ("", "", bearing_lot(built), 2, "40"),
            ("", "", seal_lot, 1, "50"),
            ("", "", "LOT-C-2301", 1, "60"),
            ("", "", "LOT-F-2301", 8, "70"),
        ]
        for child_pn, child_serial, lot, qty, find in children:
            genealogy.append({"parent_part_number": "P-100", "parent_serial": serial, "child_part_number": child_pn,
                              "child_serial": child_serial, "child_lot": lot, "quantity": qty, "find_number": find,
                              "install_date": built})  # fmt: skip
        genealogy.append({"parent_part_number": "M-200", "parent_serial": motor, "child_part_number": "",
                          "child_serial": "", "child_lot": motor_bearing_lot(motor_built), "quantity": 2,
                          "find_number": "30", "install_date": motor_built})  # fmt: skip
        del seal
    write("erp/units.csv", units)
    write("erp/genealogy.csv", genealogy)
    return units


FAILING = {12: date(2024, 5, 14), 14: date(2024, 7, 2), 20: date(2024, 9, 10)}
"""Pumps whose defective bearings failed, and when (the vibration rises before)."""
SEAL_LEAKS = {3: date(2024, 4, 22), 8: date(2024, 10, 3)}
OPEN_ISSUE = (19, date(2025, 6, 12))


def maintenance() -> None:
    work: list[dict[str, Any]] = []
    replacements: list[dict[str, Any]] = []
    number = 5000

    def order(
        pump: int,
        opened: date,
        closed: date | None,
        kind: str,
        mode: str,
        component: str,
        text: str,
        hours: float,
    ) -> str:
        nonlocal number
        number += 1
        wo = f"WO-{number}"
        work.append({"work_order": wo, "part_number": "P-100", "serial": f"SN-{pump:04d}",
                     "opened": f"{opened.isoformat()}T08:00:00Z",
                     "closed": f"{closed.isoformat()}T16:00:00Z" if closed else "",
                     "type": kind, "failure_mode": mode, "component": component, "description": text,
                     "labour_hours": hours})  # fmt: skip
        return wo

    for pump in range(1, PUMPS + 1):
        day = build_date(pump) + timedelta(days=365)
        while day <= END:
            order(
                pump,
                day,
                day,
                "preventive",
                "",
                "P-100",
                "Annual inspection: alignment, vibration, seal check",
                3.0,
            )
            day += timedelta(days=365)
    for pump, failed in sorted(FAILING.items()):
        wo = order(pump, failed, failed + timedelta(days=2), "corrective", "BRG-WEAR", "B-500",
                   "High vibration, bearing noise; bearings replaced", 6.5)  # fmt: skip
        replacements.append({"work_order": wo, "date": failed + timedelta(days=1), "part_number": "P-100",
                             "serial": f"SN-{pump:04d}", "removed_part_number": "", "removed_serial": "",
                             "removed_lot": DEFECTIVE_LOT, "installed_part_number": "", "installed_serial": "",
                             "installed_lot": "LOT-B-2401", "quantity": 2, "find_number": "40"})  # fmt: skip
    for pump, leaked in sorted(SEAL_LEAKS.items()):
        wo = order(pump, leaked, leaked + timedelta(days=1), "corrective", "SEAL-LEAK", "MS-600",
                   "Seal leaking at the shaft; replaced by MS-610 per ECO-0007", 4.0)  # fmt: skip
        replacements.append({"work_order": wo, "date": leaked + timedelta(days=1), "part_number": "P-100",
                             "serial": f"SN-{pump:04d}", "removed_part_number": "", "removed_serial": "",
                             "removed_lot": "LOT-S-2301", "installed_part_number": "", "installed_serial": "",
                             "installed_lot": "LOT-S-2401", "quantity": 1, "find_number": "50"})  # fmt: skip
    pump, opened = OPEN_ISSUE
    order(
        pump,
        opened,
        None,
        "corrective",
        "BRG-WEAR",
        "B-500",
        "Bearing noise reported by operator; parts ordered",
        1.0,
    )
    work.sort(key=lambda row: row["opened"])
    write("maintenance/work-orders.csv", work)
    write("maintenance/replacements.csv", replacements)


CHANNELS = (("vibration", "vibration", "mm/s"), ("temperature", "temperature", "degC"),
            ("current", "current", "A"), ("flow", "flow", "m3/h"))  # fmt: skip


def sensors() -> None:
    rng = random.Random(100)
    registry, samples = [], []
    for pump in range(1, PUMPS + 1):
        sensor = f"PKG-SN-{pump:04d}"
        for name, quantity, unit in CHANNELS:
            registry.append({"sensor_id": sensor, "channel": name, "type": "pump monitoring package",
                             "quantity": quantity, "unit_of_measure": unit, "part_number": "P-100",
                             "serial": f"SN-{pump:04d}", "site": "", "description": ""})  # fmt: skip
        day = max(build_date(pump) + timedelta(days=10), START)
        base_vibration = rng.uniform(1.6, 2.4)
        while day <= END:
            wear = _wear(pump, day)
            load = 0.9 + 0.1 * math.sin(day.toordinal() / 58.0)
            values = {
                "vibration": base_vibration * (1 + 2.5 * wear) + rng.gauss(0, 0.08),
                "temperature": 48 + 22 * wear + 6 * load + rng.gauss(0, 0.6),
                "current": 13.5 * load * (1 + 0.08 * wear) + rng.gauss(0, 0.15),
                "flow": 128 * load * (1 - 0.05 * wear) + rng.gauss(0, 1.2),
            }
            for name, value in values.items():
                samples.append({"sensor_id": sensor, "channel": name, "timestamp": f"{day.isoformat()}T12:00:00Z",
                                "value": round(value, 3)})  # fmt: skip
            day += timedelta(days=3)
    write("sensors/sensors.csv", registry)
    write("sensors/telemetry.csv", samples)


def _wear(pump: int, day: date) -> float:
    """0 for a healthy bearing, rising to 1 over the 60 days before a failure."""
    failed = FAILING.get(pump) or (OPEN_ISSUE[1] if pump == OPEN_ISSUE[0] else None)
    if failed is None or day > failed:
        return 0.0
    days_left = (failed - day).days
    return max(0.0, 1 - days_left / 60) ** 2


if __name__ == "__main__":
    plm()
    erp()
    maintenance()
    sensors()
