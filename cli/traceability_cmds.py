"""`thread trace|where-used|recall|as-of|diff|path`: the questions asked of a thread."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, cast

import typer
from rich.table import Table
from rich.tree import Tree

from thread.cli.output import CSV, check_formats, literal, out, print_csv, print_json
from thread.cli.state import AppState
from thread.diagram import Diagram, DiagramFormat, render_diagram
from thread.queries.as_of import Item, as_of
from thread.queries.diff import diff
from thread.queries.path import shortest_path
from thread.queries.recall import Exposure, recall
from thread.queries.trace import SECTIONS, Section, trace
from thread.queries.where_used import where_used

JSON = typer.Option(False, "--json", help="Print JSON (the shape is documented in the README).")


class Shape(StrEnum):
    tree = "tree"
    mermaid = "mermaid"
    dot = "dot"


_DIAGRAM_FORMATS: dict[Shape, DiagramFormat] = {Shape.mermaid: "mermaid", Shape.dot: "dot"}

FORMAT = typer.Option(
    Shape.tree, "--format", "-f", help="tree for people, mermaid or dot to draw the graph."
)


def _emit(data: dict[str, Any], diagram: Diagram, json_output: bool, shape: Shape) -> bool:
    """Print JSON or a diagram and return True, or return False to let the caller draw a tree."""
    if json_output:
        print_json(data)
        return True
    fmt = _DIAGRAM_FORMATS.get(shape)
    if fmt is not None:
        out.file.write(render_diagram(diagram, fmt))
        return True
    return False


def _span(item: Item) -> str:
    text = f"since {item.valid_from}" if item.valid_from else ""
    if item.valid_to:
        text += f", removed {item.valid_to}" + (f" by {item.removed_by}" if item.removed_by else "")
    if item.installed_by:
        text += f", installed by {item.installed_by}"
    return text


def _items(branch: Tree, items: list[Item]) -> None:
    for item in items:
        quantity = f" x{item.quantity:g}" if item.quantity and item.quantity != 1 else ""
        supplier = f" from {item.supplier_name}" if item.supplier_name else ""
        find = f"find {item.find_number}, " if item.find_number else ""
        name, detail = literal(item.name), literal(f"{find}{_span(item)}")
        text = f"{name}{quantity}{literal(supplier)}  [dim]({detail})[/]"
        node = branch.add(
            text if item.current else f"[strike]{name}{quantity}[/] [dim]({detail})[/]"
        )
        _items(node, item.children)


def trace_tree(data: dict[str, Any], structure: list[Item]) -> Tree:
    props = data["properties"]
    tree = Tree(
        f"[bold]{literal(data['label'])}[/] {literal(data['uid'])}  [dim]{literal(props.get('status', ''))} built {literal(props.get('build_date', '?'))}[/]"
    )
    if "neighbours" in data:
        for n in data["neighbours"]:
            arrow = f"-[{n['type']}]->" if n["direction"] == "out" else f"<-[{n['type']}]-"
            name = f" ({n['name']})" if n["name"] else ""
            tree.add(literal(f"{arrow} {n['label']} {n['uid']}{name}"))
        return tree
    revision = data.get("revision")
    if revision:
        branch = tree.add(
            f"revision {literal(revision['part_number'])}/{literal(revision['revision'])} [dim]({literal(revision['status'])} {literal(revision['release_date'])})[/]"
        )
        for doc in revision["documents"]:
            branch.add(
                f"document {literal(doc['doc_number'])} {literal(doc['title'])} [dim](rev {literal(doc['doc_revision'])})[/]"
            )
        for req in revision["requirements"]:
            branch.add(literal(f"requirement {req['req_id']}: {req['text'] or ''}"))
        for co in revision["change_orders"]:
            branch.add(
                f"change order {literal(co['co_number'])} {literal(co['title'])} [dim]({literal(co['role'])}, {literal(co['status'])})[/]"
            )
    if "structure" in data:
        _items(tree.add("structure"), structure)
    location = data.get("location")
    if location:
        branch = tree.add("location")
        for place in location["places"]:
            within = " in ".join(w["name"] for w in place["within"])
            span = f"since {place['valid_from']}" + (
                f" until {place['valid_to']}" if place["valid_to"] else ""
            )
            branch.add(
                literal(f"{place['label']} {place['name']}" + (f" in {within}" if within else ""))
                + f" [dim]({literal(span)})[/]"
            )
        for shape in location["representations"]:
            branch.add(literal(f"shown as {shape['label']} {shape['name']}"))
    for sensor in data.get("sensors", []):
        branch = tree.add(
            f"sensor {literal(sensor['sensor_id'])} [dim]{literal(sensor['type'])}[/]"
        )
        for channel in sensor["channels"]:
            value = channel.get("last_value")
            shown = f"{value:.4g}" if isinstance(value, float) else str(value)
            flag = " [yellow](constant)[/]" if channel.get("constant") else ""
            reading = f"{channel['channel']}: {shown} {channel.get('unit_of_measure') or ''} at {channel.get('last')}"
            branch.add(f"{literal(reading)} [dim]({channel.get('count')} samples)[/]{flag}")
    if "maintenance" in data:
        branch = tree.add(f"maintenance ({len(data['maintenance'])} work orders)")
        for event in data["maintenance"]:
            moved = "".join(f"; removed {u}" for u in event["removed"]) + "".join(
                f"; installed {u}" for u in event["installed"]
            )
            state = "[red]open[/]" if event["status"] == "open" else literal(event["status"])
            mode = f" {event['failure_mode']}" if event["failure_mode"] else ""
            head = f"{(event['opened'] or '')[:10]} {event['work_order']} {event['type']}{mode}"
            branch.add(
                f"{literal(head)} {state}: {literal(event['description'] or '')}{literal(moved)}"
            )
    if data.get("alerts"):
        branch = tree.add(f"alerts ({sum(a['status'] == 'open' for a in data['alerts'])} open)")
        for a in data["alerts"]:
            state = "[red]open[/]" if a["status"] == "open" else literal(f"cleared {a['end']}")
            contributors = ", ".join(a["contributors"] or [])
            branch.add(
                f"{literal(a['start'])} {literal(a['severity'])} {state}: peak {a['peak_score']:.3g} / {a['threshold']:.3g} on {literal(contributors)} [dim]({literal(a['uid'])})[/]"
            )
    twin = data.get("twin")
    if twin:
        tree.add(
            f"twin {literal(twin['uid'])} [dim](failures {twin['failures']}, open work orders {twin['open_work_orders']})[/] of {literal(twin['aggregate'])} [dim]({twin['fleet_units']} units, {twin['fleet_failures']} failures)[/]"
        )
        health = twin.get("health")
        if health:
            why = f": {'; '.join(health['reasons'])}" if health["reasons"] else ""
            tree.add(f"health {literal(health['level'])}{literal(why)}")
    if data.get("simulations"):
        branch = tree.add("simulation runs")
        for run in data["simulations"]:
            branch.add(literal(", ".join(f"{k}={v}" for k, v in run.items())))
    return tree


def trace_cmd(
    ctx: typer.Context,
    uid: str = typer.Argument(..., help="A unit (unit:P-100/SN-0042) or any entity."),
    sections: str = typer.Option(
        ",".join(SECTIONS), "--sections", help="Comma-separated sections to show."
    ),
    depth: int | None = typer.Option(
        None, "--depth", min=1, help="Levels of the as-built structure (all by default)."
    ),
    json_output: bool = JSON,
    shape: Shape = FORMAT,
) -> None:
    """The whole thread of a unit: revision, structure, location, sensors, maintenance, twin."""
    chosen = tuple(s.strip() for s in sections.split(",") if s.strip())
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        raise typer.BadParameter(
            f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}",
            param_hint="--sections",
        )
    state: AppState = ctx.obj
    result = trace(state.store(), uid, sections=cast(tuple[Section, ...], chosen), depth=depth)
    data = result.to_dict()
    if not _emit(data, result.to_diagram(), json_output, shape):
        out.print(trace_tree(data, result.sections.get("structure", [])))


def _exposures(title: str, exposures: list[Exposure]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("unit", "lot", "depth", "path", "status", "removed", "by", "now at"):
        table.add_column(column, overflow="fold")
    for e in exposures:
        status = "[red]installed[/]" if e.status == "installed" else "removed"
        table.add_row(literal(e.unit), literal(e.lot), str(e.depth), literal(" > ".join(e.path[1:-1]) or "direct"), status,
                      literal(e.removed_on), literal(e.removed_by), literal(", ".join(s["name"] for s in e.site)))  # fmt: skip
    return table


EXPOSURE_COLUMNS = ("unit", "depth", "path", "status", "removed_on", "removed_by", "site")
WHERE_USED_COLUMNS = (
    "use",
    "uid",
    "level",
    "path",
    "top",
    "status",
    "removed_on",
    "removed_by",
    "site",
)


def _exposure_rows(exposures: list[Exposure]) -> list[dict[str, Any]]:
    """The exposures table as CSV rows: the whole path (suspect first), sites by name."""
    return [
        {"unit": e.unit, "depth": e.depth, "path": " > ".join(e.path), "status": e.status,
         "removed_on": e.removed_on, "removed_by": e.removed_by,
         "site": ", ".join(str(s["name"]) for s in e.site)}
        for e in exposures
    ]  # fmt: skip


def recall_cmd(
    ctx: typer.Context,
    uid: str = typer.Argument(..., help="A suspect lot, supplier, part revision or serial (unit)."),
    as_of_date: str | None = typer.Option(
        None, "--as-of", help="Only units that contained it on this date (YYYY-MM-DD)."
    ),
    json_output: bool = JSON,
    csv_output: bool = CSV,
    shape: Shape = FORMAT,
) -> None:
    """Every unit a suspect item reached, at any depth: still installed or removed, and where."""
    check_formats(json_output, csv_output)
    state: AppState = ctx.obj
    result = recall(state.store(), uid, as_of=as_of_date)
    if csv_output:
        print_csv(_exposure_rows(result.exposures), EXPOSURE_COLUMNS)
        return
    if _emit(result.to_dict(), result.to_diagram(), json_output, shape):
        return
    when = f" on {as_of_date}" if as_of_date else ""
    out.print(
        f"{result.label} {uid} reached {len(result.top_units)} top-level unit(s) and {len(result.sub_units)} sub-unit(s){when}; "
        f"{len(result.top_still_installed)} top-level and {len(result.sub_still_installed)} sub-unit(s) still contain it",
        markup=False,
    )
    if result.exposures:
        out.print(_exposures("units reached", result.exposures))


def where_used_cmd(
    ctx: typer.Context,
    part: str = typer.Argument(..., help="Part number (B-500) or part uid (part:B-500)."),
    rev: str | None = typer.Option(
        None, "--rev", help="Only serials and lots of this revision (as built)."
    ),
    json_output: bool = JSON,
    csv_output: bool = CSV,
) -> None:
    """Every assembly that contains a part (as designed) and every unit that does (as built).

    With --csv, one row per use: `designed` rows name the assembly's revision (level,
    path, top), `built` rows the unit (depth as level, path, status, removal, site)."""
    check_formats(json_output, csv_output)
    state: AppState = ctx.obj
    result = where_used(state.store(), part, revision=rev)
    if json_output:
        print_json(result.to_dict())
        return
    if csv_output:
        designed = [
            {"use": "designed", "uid": u.assembly, "level": u.level, "path": " > ".join(u.path),
             "top": u.top} for u in result.designed
        ]  # fmt: skip
        built = [
            {"use": "built", "uid": row.pop("unit"), "level": row.pop("depth"), **row}
            for row in _exposure_rows(result.built)
        ]
        print_csv([*designed, *built], WHERE_USED_COLUMNS)
        return
    tree = Tree(f"[bold]Part[/] {literal(result.uid)} is used in")
    for usage in result.designed:
        top = " [bold](top)[/]" if usage.top else ""
        via = " < ".join(u for u in usage.path[1:-1] if u.startswith("rev:"))
        tree.add(
            literal(f"{usage.part_number}/{usage.revision} level {usage.level}")
            + top
            + (f" [dim]via {literal(via)}[/]" if via else "")
        )
    out.print(tree)
    if result.built:
        now = sorted({e.unit for e in result.built if e.status == "installed"})
        out.print(f"{len(now)} unit(s) contain it now")
        out.print(_exposures("units (as built and as maintained)", result.built))


def as_of_cmd(
    ctx: typer.Context,
    uid: str = typer.Argument(..., help="A unit uid."),
    date: str = typer.Argument(..., help="YYYY-MM-DD or a UTC time YYYY-MM-DDTHH:MM:SS[Z]."),
    json_output: bool = JSON,
) -> None:
    """The configuration of a unit on a date."""
    state: AppState = ctx.obj
    result = as_of(state.store(), uid, date)
    if json_output:
        print_json(result.to_dict())
        return
    tree = Tree(f"[bold]{literal(uid)}[/] on {literal(date)}")
    for place in result.location:
        tree.add(
            literal(f"at {place['label']} {place['name']}")
            + f" [dim](since {literal(place['valid_from'])})[/]"
        )
    _items(tree, result.items)
    out.print(tree)


def diff_cmd(
    ctx: typer.Context, uid: str = typer.Argument(..., help="A unit uid."), json_output: bool = JSON
) -> None:
    """As designed vs as built vs as maintained, and change orders not applied."""
    state: AppState = ctx.obj
    result = diff(state.store(), uid)
    if json_output:
        print_json(result.to_dict())
        return
    out.print(
        f"[bold]{literal(uid)}[/] {literal(f'built {result.build_date} to {result.revision}')}"
    )
    for title, differences in (
        ("as built", result.built),
        ("as maintained now", result.maintained),
    ):
        if not differences:
            out.print(f"{title}: matches the design", markup=False)
            continue
        table = Table(title=f"{title}: {len(differences)} difference(s)", title_justify="left")
        for column in ("kind", "find", "expected", "found", "detail"):
            table.add_column(column, overflow="fold")
        for d in differences:
            table.add_row(
                *(literal(v) for v in (d.kind, d.find_number, d.expected, d.actual, d.detail))
            )
        out.print(table)
    for co in result.unapplied_change_orders:
        reach = (
            f"serials from {co['serial_from']}"
            if "serial_from" in co
            else f"from {co.get('effective_date')}"
        )
        what = f"{co['co_number']} {co.get('title', '')} (to revision {co['to_revision']}, {reach})"
        out.print(f"[yellow]not applied:[/] {literal(what)}")


def path_cmd(
    ctx: typer.Context,
    source: str = typer.Argument(..., help="One entity's uid."),
    target: str = typer.Argument(..., help="The other's."),
    max_hops: int = typer.Option(
        12, "--max-hops", min=1, help="Give up beyond this many relationships."
    ),
    json_output: bool = JSON,
    shape: Shape = FORMAT,
) -> None:
    """The shortest chain of relationships between two entities, and why."""
    state: AppState = ctx.obj
    result = shortest_path(state.store(), source, target, max_hops=max_hops)
    if _emit(result.to_dict(), result.to_diagram(), json_output, shape):
        return
    if not result.found:
        out.print(
            f"no path between {source} and {target} within {max_hops} relationships", markup=False
        )
        return
    out.print(f"{len(result.hops)} relationship(s) from {source} to {target}:", markup=False)
    for number, hop in enumerate(result.hops, 1):
        out.print(f"  {number}. {hop.sentence()}", markup=False)
