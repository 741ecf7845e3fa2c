"""`thread init|status|show|query`: the graph itself."""

from __future__ import annotations

import typer
from rich.table import Table
from rich.tree import Tree

from thread.cli import output
from thread.cli.output import err, literal, out, print_json, print_rows, rows_table
from thread.cli.state import AppState
from thread.queries.query import parse_params, run_query
from thread.queries.show import get_entity
from thread.queries.status import store_status

JSON = typer.Option(False, "--json", help="Print JSON for scripts.")


def init(ctx: typer.Context) -> None:
    """Create the store (embedded folder or Neo4j schema) with its constraints and indexes."""
    state: AppState = ctx.obj
    store = state.store()
    out.print(f"ready: {store.description}", markup=False)


def status(ctx: typer.Context, json_output: bool = JSON) -> None:
    """The store, its server, counts per label and relationship type, recent import runs."""
    state: AppState = ctx.obj
    info = store_status(state.store(), repair=True)
    if json_output:
        print_json(info.to_dict())
        return
    for repair in info.repaired:
        err.print(f"repaired: {repair}", markup=False)
    out.print(f"[bold]{literal(info.store)}[/]")
    server = info.server
    if info.kind == "embedded":
        lifetime = "pinned" if server["pinned"] else "per command"
        out.print(
            f"server: pid {server['pid']}, socket {server['socket']}, lifetime {lifetime}",
            markup=False,
        )
    else:
        out.print(
            f"server: {server['agent']} at {server['address']}, Bolt {server['protocol']}",
            markup=False,
        )
    counts = Table(title=f"{info.nodes} nodes")
    counts.add_column("label", overflow="fold")
    counts.add_column("count", justify="right")
    for label, count in info.labels.items():
        counts.add_row(literal(label), str(count))
    out.print(counts)
    rels = Table(title=f"{sum(info.relationships.values())} relationships")
    rels.add_column("type", overflow="fold")
    rels.add_column("count", justify="right")
    for rel_type, count in info.relationships.items():
        rels.add_row(literal(rel_type), str(count))
    out.print(rels)
    if info.import_runs:
        out.print(rows_table(info.import_runs, title="recent import runs"))
    if info.audit_runs:
        out.print(rows_table(info.audit_runs, title="recent audits"))


def show(
    ctx: typer.Context,
    uid: str = typer.Argument(..., help="The entity's uid, e.g. unit:P-100/SN-0042."),
    json_output: bool = JSON,
) -> None:
    """One entity: its properties, provenance and neighbours, as a tree."""
    state: AppState = ctx.obj
    view = get_entity(state.store(), uid)
    if json_output:
        print_json(view.to_dict())
        return
    tree = Tree(f"[bold]{literal(view.label)}[/] {literal(view.uid)}")
    props = tree.add("properties")
    for name, value in view.props.items():
        props.add(f"{literal(name)} = {literal(value)}")
    if view.provenance:
        prov = tree.add("provenance")
        for name, value in view.provenance.items():
            prov.add(f"{literal(name)} = {literal(value)}")
    groups: dict[str, Tree] = {}
    for n in view.neighbours:
        arrow = f"-[{n.type}]->" if n.direction == "out" else f"<-[{n.type}]-"
        branch = groups.get(arrow) or groups.setdefault(arrow, tree.add(literal(arrow)))
        details = ", ".join(f"{literal(k)}={literal(v)}" for k, v in n.props.items())
        name = f" ({n.name})" if n.name else ""
        branch.add(
            literal(f"{n.label} {n.uid}{name}") + (f"  [dim]{details}[/]" if details else "")
        )
    out.print(tree)


def query(
    ctx: typer.Context,
    cypher: str = typer.Argument(..., help="Cypher; pass values with --param, never inline."),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="NAME=VALUE (VALUE read as JSON when it parses)."
    ),
    write: bool = typer.Option(False, "--write", help="Allow the query to write."),
    json_output: bool = JSON,
    csv_output: bool = output.CSV,
) -> None:
    """Run a Cypher query, read-only unless --write."""
    output.check_formats(json_output, csv_output)
    state: AppState = ctx.obj
    params = parse_params(param)  # a usage error before the store is opened
    rows = run_query(state.store(), cypher, params, write=write)
    if csv_output:
        output.print_csv(rows)
        return
    print_rows(rows, json_output)
