"""Audit and RDF speed on the fleet graph of the traceability benchmark (about 1,000,000
nodes, generated and loaded by bench/query_bench.py), on the embedded store.

1. Every built-in rule and the compiled ontology shapes, as `thread audit` runs them,
   each rule's time printed. Target (issue 8): under 30 s in total.
2. The compiled shapes against pySHACL on a subset of about 100,000 triples: the
   neighbourhood of top units (depth 1) exported, imported into a graph of its own with a
   few violations seeded, exported again (N-Triples); then the compiled shapes on that
   graph and pySHACL (rdflib parsing plus validation) on its export, with their
   violations compared. Target: at least 20 x faster, same violations.
3. N-Triples export of the whole graph to a file. Target: at least 100,000 triples/s.

    python bench/audit_bench.py [--units 10000] [--products 100] [--subset-triples 100000]
    python bench/audit_bench.py --units 300 --products 10 --lot-reach 5   # quick
    python bench/audit_bench.py --store embedded:/tmp/fleet   # reuse a loaded fleet
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import query_bench

from thread import ontology
from thread.audit import AuditOptions, all_rules, run_audit
from thread.audit.shacl import run_shapes, shapes_rule
from thread.audit.validate import shacl_results
from thread.pipeline.imports import import_file
from thread.rdf.export import export_rdf
from thread.rdf.vocabulary import lexical_form
from thread.stores import GraphStore, open_store
from thread.stores.falkordb_store import FalkorDBStore

AS_OF = query_bench.AS_OF

SEEDED = [
    "MATCH (u:Unit) WITH u ORDER BY u.uid LIMIT 20 REMOVE u.serial",
    "MATCH (l:Lot) WITH l ORDER BY l.uid LIMIT 10 SET l.lot_id = 42",
    "MATCH (u:Unit)-[:OF_REVISION]->(r) WITH u, r ORDER BY u.uid LIMIT 5 "
    "MATCH (x:PartRevision) WHERE x.uid <> r.uid WITH u, x LIMIT 5 CREATE (u)-[:OF_REVISION]->(x)",
    "MATCH (s:Sensor) WITH s ORDER BY s.uid LIMIT 5 MATCH (l:Lot) WITH s, l LIMIT 5 "
    "CREATE (s)-[:OBSERVES]->(l)",
]
"""Violations seeded into the subset: missing keys, wrong datatypes, too many revisions,
sensors observing lots."""


def _key(row: dict[str, Any]) -> tuple[str, str, str, str]:
    value = row["value"]
    shown = "" if value is None else value if isinstance(value, str) else lexical_form(value)
    return (str(row["uid"]), str(row["path"]), row["constraint"], shown)


def audit_all(store: GraphStore) -> float:
    rules = all_rules()
    start = time.perf_counter()
    report = run_audit(store, rules, AuditOptions(as_of=AS_OF, record=False))
    total = time.perf_counter() - start
    print(f"{'rule':<32}{'outcome':>9}{'targets':>10}{'violations':>12}{'seconds':>9}")
    for r in report.results:
        targets = "-" if r.targets is None else f"{r.targets:,}"
        print(f"{r.rule:<32}{r.outcome:>9}{targets:>10}{r.violations:>12,}{r.seconds:>9.2f}")
    print(f"all {len(rules)} rules: {total:.1f} s (target < 30 s)\n")
    return total


def subset_uids(store: GraphStore, wanted: int) -> list[str]:
    """Top units whose neighbourhoods (depth 1) hold about `wanted` triples."""
    rows = store.read(
        "MATCH (u:Unit) WHERE NOT (u)<-[:CONTAINS]-(:Unit) RETURN u.uid AS uid ORDER BY uid LIMIT 2000"
    )
    uids = [row["uid"] for row in rows]
    probe = tempfile.SpooledTemporaryFile(mode="w+")  # noqa: SIM115 (a sink for counting)
    one = export_rdf(store, probe, "nt", twins=uids[:1], depth=1).triples  # type: ignore[arg-type]
    return uids[: max(1, min(len(uids), wanted // max(1, one)))]


def shapes_vs_pyshacl(store: GraphStore, folder: Path, wanted: int) -> None:
    subset = folder / "subset.nt"
    with open(subset, "w", encoding="utf-8") as handle:
        first = export_rdf(store, handle, "nt", twins=subset_uids(store, wanted), depth=1)
    with open_store(f"embedded:{folder / 'subset-store'}") as small:
        import_file(small, "rdf", subset)
        for query in SEEDED:
            small.write(query)
        seeded = folder / "seeded.nt"
        with open(seeded, "w", encoding="utf-8") as handle:
            export = export_rdf(small, handle, "nt", provenance=True)
        start = time.perf_counter()
        rows, targets = run_shapes(small, shapes_rule().shapes)
        compiled = time.perf_counter() - start
    from rdflib import Graph

    start = time.perf_counter()
    graph = Graph().parse(seeded, format="nt")
    parsed = time.perf_counter() - start
    start = time.perf_counter()
    oracle = shacl_results(graph, ontology.shapes_graph())
    validated = time.perf_counter() - start
    same = sorted(map(_key, rows)) == sorted(map(_key, oracle))
    print(
        f"subset: {first.triples:,} triples around {first.nodes:,} nodes; seeded graph exported "
        f"as {export.triples:,} triples, {targets:,} shape targets"
    )
    print(f"compiled shapes in the store: {compiled:.2f} s, {len(rows)} violations")
    print(
        f"pySHACL: parse {parsed:.2f} s + validate {validated:.2f} s = {parsed + validated:.2f} s, "
        f"{len(oracle)} violations"
    )
    print(
        f"compiled is {(parsed + validated) / compiled:.0f} x faster (target >= 20 x); "
        f"same violations: {'yes' if same else 'NO'}\n"
    )


def export_all(store: GraphStore, folder: Path) -> None:
    path = folder / "fleet.nt"
    with open(path, "w", encoding="utf-8") as handle:
        report = export_rdf(store, handle, "nt")
    size = path.stat().st_size / 2**20
    print(
        f"N-Triples export: {report.triples:,} triples ({report.nodes:,} nodes, "
        f"{report.relationships:,} relationships, {size:,.0f} MiB) in {report.seconds:.1f} s = "
        f"{report.triples_per_second:,.0f} triples/s (target >= 100,000)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--units", type=int, default=10_000, help="top-level units")
    parser.add_argument("--products", type=int, default=100, help="product models")
    parser.add_argument("--lot-reach", type=int, default=100, help="top units per lot")
    parser.add_argument("--subset-triples", type=int, default=100_000)
    parser.add_argument("--store", help="an embedded store holding the fleet (loaded if empty)")
    args = parser.parse_args()
    fleet = query_bench.Fleet(args.units, args.products, 4, args.lot_reach, 8, 0.05, 0.10)
    with tempfile.TemporaryDirectory(prefix="thread-audit-bench-") as tmp:
        folder = Path(tmp)
        spec = args.store or f"embedded:{folder / 'fleet'}"
        with open_store(spec) as store:
            assert isinstance(store, FalkorDBStore)
            if not store.read("MATCH (u:Unit) RETURN count(u) AS c")[0]["c"]:
                start = time.perf_counter()
                query_bench.load(store, fleet)
                print(f"loaded the fleet in {time.perf_counter() - start:.0f} s")
            query_bench.settle(store)
            nodes = store.read("MATCH (n) RETURN count(n) AS c")[0]["c"]
            rels = store.read("MATCH ()-[r]->() RETURN count(r) AS c")[0]["c"]
            print(f"graph: {nodes:,} nodes, {rels:,} relationships\n")
            audit_all(store)
            shapes_vs_pyshacl(store, folder, args.subset_triples)
            export_all(store, folder)


if __name__ == "__main__":
    main()
