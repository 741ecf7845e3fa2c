"""`thread trace|where-used|recall|as-of|diff|path`: the questions asked of a thread."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, cast

import typer
from rich.table import Table
from rich.tree import Tree

from thread.cli.output import out, print_json
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
        text = f"{item.name}{quantity}{supplier}  [dim]({find}{_span(item)})[/]"
        node = branch.add(
            text
            if item.current
            else f"[strike]{item.name}{quantity}[/] [dim]({find}{_span(item)})[/]"
        )
        _items(node, item.children)


def trace_tree(data: dict[str, Any], structure: list[Item]) -> Tree:
    props = data["properties"]
    tree = Tree(
        f"[bold]{data['label']}[/] {data['uid']}  [dim]{props.get('status', '')} built {props.get('build_date', '?')}[/]"
    )
    if "neighbours" in data:
        for n in data["neighbours"]:
            arrow = f"-[{n['type']}]->" if n["direction"] == "out" else f"<-[{n['type']}]-"
            tree.add(f"{arrow} {n['label']} {n['uid']}" + (f" ({n['name']})" if n["name"] else ""))
        return tree
    revision = data.get("revision")
    if revision:
        branch = tree.add(
            f"revision {revision['part_number']}/{revision['revision']} [dim]({revision['status']} {revision['release_date'] or ''})[/]"
        )
        for doc in revision["documents"]:
            branch.add(
                f"document {doc['doc_number']} {doc['title'] or ''} [dim](rev {doc['doc_revision']})[/]"
            )
        for req in revision["requirements"]:
            branch.add(f"requirement {req['req_id']}: {req['text'] or ''}")
        for co in revision["change_orders"]:
            branch.add(
                f"change order {co['co_number']} {co['title'] or ''} [dim]({co['role']}, {co['status']})[/]"
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
                f"{place['label']} {place['name']}"
                + (f" in {within}" if within else "")
                + f" [dim]({span})[/]"
            )
        for shape in location["representations"]:
            branch.add(f"shown as {shape['label']} {shape['name']}")
    for sensor in data.get("sensors", []):
        branch = tree.add(f"sensor {sensor['sensor_id']} [dim]{sensor['type'] or ''}[/]")
        for channel in sensor["channels"]:
            value = channel.get("last_value")
            shown = f"{value:.4g}" if isinstance(value, float) else str(value)
            flag = " [yellow](constant)[/]" if channel.get("constant") else ""
            branch.add(
                f"{channel['channel']}: {shown} {channel.get('unit_of_measure') or ''} at {channel.get('last')} [dim]({channel.get('count')} samples)[/]{flag}"
            )
    if "maintenance" in data:
        branch = tree.add(f"maintenance ({len(data['maintenance'])} work orders)")
        for event in data["maintenance"]:
            moved = "".join(f"; removed {u}" for u in event["removed"]) + "".join(
                f"; installed {u}" for u in event["installed"]
            )
            state = "[red]open[/]" if event["status"] == "open" else event["status"]
            mode = f" {event['failure_mode']}" if event["failure_mode"] else ""
            branch.add(
                f"{(event['opened'] or '')[:10]} {event['work_order']} {event['type']}{mode} {state}: {event['description'] or ''}{moved}"
            )
    if data.get("alerts"):
        branch = tree.add(f"alerts ({sum(a['status'] == 'open' for a in data['alerts'])} open)")
        for a in data["alerts"]:
            state = "[red]open[/]" if a["status"] == "open" else f"cleared {a['end']}"
            contributors = ", ".join(a["contributors"] or [])
            branch.add(
                f"{a['start']} {a['severity']} {state}: peak {a['peak_score']:.3g} / {a['threshold']:.3g} on {contributors} [dim]({a['uid']})[/]"
            )
    twin = data.get("twin")
    if twin:
        tree.add(
            f"twin {twin['uid']} [dim](failures {twin['failures']}, open work orders {twin['open_work_orders']})[/] of {twin['aggregate']} [dim]({twin['fleet_units']} units, {twin['fleet_failures']} failures)[/]"
        )
    if data.get("simulations"):
        branch = tree.add("simulation runs")
        for run in data["simulations"]:
            branch.add(", ".join(f"{k}={v}" for k, v in run.items()))
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
    for column in ("unit", "depth", "path", "status", "removed", "by", "now at"):
        table.add_column(column)
    for e in exposures:
        status = "[red]installed[/]" if e.status == "installed" else "removed"
        table.add_row(e.unit, str(e.depth), " > ".join(e.path[1:-1]) or "direct", status,
                      e.removed_on or "", e.removed_by or "", ", ".join(s["name"] for s in e.site))  # fmt: skip
    return table


def recall_cmd(
    ctx: typer.Context,
    uid: str = typer.Argument(..., help="A suspect lot, supplier, part revision or serial (unit)."),
    as_of_date: str | None = typer.Option(
        None, "--as-of", help="Only units that contained it on this date."
    ),
    json_output: bool = JSON,
    shape: Shape = FORMAT,
) -> None:
    """Every unit a suspect item reached, at any depth: still installed or removed, and where."""
    state: AppState = ctx.obj
    result = recall(state.store(), uid, as_of=as_of_date)
    if _emit(result.to_dict(), result.to_diagram(), json_output, shape):
        return
    when = f" on {as_of_date}" if as_of_date else ""
    out.print(
        f"{result.label} {uid} reached {len(result.units)} unit(s){when}; {len(result.still_installed)} still contain it"
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
) -> None:
    """Every assembly that contains a part (as designed) and every unit that does (as built)."""
    state: AppState = ctx.obj
    result = where_used(state.store(), part, revision=rev)
    if json_output:
        print_json(result.to_dict())
        return
    tree = Tree(f"[bold]Part[/] {result.uid} is used in")
    for usage in result.designed:
        top = " [bold](top)[/]" if usage.top else ""
        via = " < ".join(u for u in usage.path[1:-1] if u.startswith("rev:"))
        tree.add(
            f"{usage.part_number}/{usage.revision} level {usage.level}{top}"
            + (f" [dim]via {via}[/]" if via else "")
        )
    out.print(tree)
    if result.built:
        now = sorted({e.unit for e in result.built if e.status == "installed"})
        out.print(f"{len(now)} unit(s) contain it now")
        out.print(_exposures("units (as built and as maintained)", result.built))


def as_of_cmd(
    ctx: typer.Context,
    uid: str = typer.Argument(..., help="A unit uid."),
    date: str = typer.Argument(..., help="YYYY-MM-DD or a UTC ISO datetime."),
    json_output: bool = JSON,
) -> None:
    """The configuration of a unit on a date."""
    state: AppState = ctx.obj
    result = as_of(state.store(), uid, date)
    if json_output:
        print_json(result.to_dict())
        return
    tree = Tree(f"[bold]{uid}[/] on {date}")
    for place in result.location:
        tree.add(f"at {place['label']} {place['name']} [dim](since {place['valid_from']})[/]")
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
    out.print(f"[bold]{uid}[/] built {result.build_date} to {result.revision}")
    for title, differences in (
        ("as built", result.built),
        ("as maintained now", result.maintained),
    ):
        if not differences:
            out.print(f"{title}: matches the design")
            continue
        table = Table(title=f"{title}: {len(differences)} difference(s)", title_justify="left")
        for column in ("kind", "find", "expected", "found", "detail"):
            table.add_column(column)
        for d in differences:
            table.add_row(d.kind, d.find_number or "", d.expected or "", d.actual or "", d.detail)
        out.print(table)
    for co in result.unapplied_change_orders:
        reach = (
            f"serials from {co['serial_from']}"
            if "serial_from" in co
            else f"from {co.get('effective_date')}"
        )
        out.print(
            f"[yellow]not applied:[/] {co['co_number']} {co.get('title', '')} (to revision {co['to_revision']}, {reach})"
        )


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
        out.print(f"no path between {source} and {target} within {max_hops} relationships")
        return
    out.print(f"{len(result.hops)} relationship(s) from {source} to {target}:")
    for number, hop in enumerate(result.hops, 1):
        out.print(f"  {number}. {hop.sentence()}")
