"""The built-in rules: what quality, configuration and maintenance engineers check.

Every rule is read-only, parameterised Cypher returning one row per violation (`uid`,
`message`, and the facts that prove it), plus a `targets` query counting what it examined.
The queries do not sort: the runner reports rows sorted by uid and message, which costs
less in Python than in the store on a large answer.
Messages name dates and part numbers but never values that drift from run to run (ages,
counts), so that a baseline keeps recognising a known violation.

Conventions the rules rely on (all documented properties of the graph):
- dates compare as ISO strings; `substring(x, 0, 10)` reduces a timestamp to its day;
- an interval [valid_from, valid_to) is in effect on day D when valid_from <= D and
  (valid_to is null or valid_to > D);
- `$as_of` is the audit date, `$units` the audited twin's units (null: the whole thread);
- a lot counts as suspect when its status is one of `$statuses`;
- a Deviation covers a unit's configuration departures when it is approved (status absent
  or 'approved'), not expired (`expires` absent or after the audit date) and names no
  change order; with a `find_number` it covers that BOM position only. One with a
  `change_order` (a CO number) waives that change order for the unit instead;
- life limits: `life_limit_years`, `life_limit_cycles`, `life_limit_hours` on the unit or
  its part, against the unit's `build_date`, `cycles`, `hours`;
- a scrapped unit carries `scrap_date`; a sensor's calibration is due on `calibration_due`.
"""

from __future__ import annotations

from thread.audit.model import CypherRule, ParamSpec, Rule, Severity

__all__ = ["SUSPECT_LOT_INSTALLED", "SUSPECT_STATUSES", "builtin_rules"]

SUSPECT_STATUSES = ["suspect", "quarantined", "recalled", "rejected"]

_SCOPE_U = "($units IS NULL OR u.uid IN $units)"
_UNITS = f"MATCH (u:Unit) WHERE {_SCOPE_U} RETURN count(u) AS count"
_IN_EFFECT = "r.valid_from <= $as_of AND (r.valid_to IS NULL OR r.valid_to > $as_of)"

SUSPECT_LOT_INSTALLED = (
    "path = (u:Unit)-[:CONTAINS*1..10]->(l:Lot)",
    f"l.status IN $statuses AND all(r IN relationships(path) WHERE {_IN_EFFECT})",
)
"""What makes unit `u` hold a suspect lot `l` on day `$as_of` (a MATCH pattern binding
`path`, and its WHERE condition; `$statuses` are the suspect statuses): a path of
containments, all in effect that day, from the unit to a lot whose status is suspect.
The `suspect-lot-installed` rule and a unit's health (`thread.queries.health`) share it."""

_SCOPED_REVISIONS = (
    "UNWIND CASE WHEN $units IS NULL THEN [null] ELSE $units END AS scope_uid "
    "OPTIONAL MATCH (:Unit {uid: scope_uid})-[:OF_REVISION]->(sr:PartRevision) "
    "WITH collect(DISTINCT sr.uid) AS scoped "
)


def _join(items: str) -> str:
    """Cypher joining a list of strings with ', '."""
    return f"reduce(s = '', p IN {items} | s + CASE WHEN s = '' THEN '' ELSE ', ' END + coalesce(p, '?'))"


def _rule(
    rule_id: str,
    severity: Severity,
    description: str,
    query: str,
    targets: str,
    **params: ParamSpec,
) -> Rule:
    return CypherRule(
        id=rule_id,
        severity=severity,
        description=description,
        params=params,
        query=" ".join(query.split()),
        targets=" ".join(targets.split()),
    )


# Measured on FalkorDB: a pattern predicate (`NOT (u)-[:R]->()`) or comprehension costs
# several times an OPTIONAL MATCH, and keeping the rows whose match is null (an anti-join)
# costs a third of counting the matches, so rules that scan every unit use the former.

# ----------------------------------------------------------------------------- identity


def _identity() -> list[Rule]:
    return [
        _rule(
            "unit-has-revision",
            "error",
            "Every unit says which part revision it was built to; without it nothing can be certified.",
            f"""MATCH (u:Unit) WHERE {_SCOPE_U}
            OPTIONAL MATCH (u)-[r:OF_REVISION]->(:PartRevision)
            WITH u, r WHERE r IS NULL
            RETURN u.uid AS uid, u.uid + ' has no part revision (OF_REVISION)' AS message,
            u.part_number AS part_number, u.serial AS serial""",
            _UNITS,
        ),
        _rule(
            "unit-has-twin",
            "warning",
            "Every unit has an instance twin, so fleet and simulation views see all of it.",
            f"""MATCH (u:Unit) WHERE {_SCOPE_U}
            OPTIONAL MATCH (u)<-[t:TWIN_OF]-(:InstanceTwin)
            WITH u, t WHERE t IS NULL
            RETURN u.uid AS uid, u.uid + ' has no instance twin' AS message""",
            _UNITS,
        ),
        _rule(
            "installed-lot-traceable",
            "error",
            "A lot installed in a unit has a supplier and a received date, or a recall cannot reach its source.",
            f"""MATCH (u:Unit)-[:CONTAINS]->(l:Lot) WHERE {_SCOPE_U}
            WITH DISTINCT l
            WITH l, size([(l)-[:SUPPLIED_BY]->(s:Supplier) | s]) AS suppliers
            WHERE suppliers = 0 OR l.received_date IS NULL
            RETURN l.uid AS uid, l.uid + ' is installed but has ' +
              CASE WHEN suppliers = 0 AND l.received_date IS NULL THEN 'no supplier and no received date'
                   WHEN suppliers = 0 THEN 'no supplier' ELSE 'no received date' END AS message,
            suppliers, l.received_date AS received_date""",
            f"""MATCH (u:Unit)-[:CONTAINS]->(l:Lot) WHERE {_SCOPE_U}
            RETURN count(DISTINCT l) AS count""",
        ),
        _rule(
            "serial-installed-twice",
            "error",
            "A serial is in one place at a time: two CONTAINS intervals into it must not overlap.",
            """MATCH (a:Unit)-[r1:CONTAINS]->(c:Unit)<-[r2:CONTAINS]-(b:Unit)
            WHERE (a.uid < b.uid OR (a.uid = b.uid AND r1.valid_from < r2.valid_from))
              AND r1.valid_from < coalesce(r2.valid_to, '9999-12-31')
              AND r2.valid_from < coalesce(r1.valid_to, '9999-12-31')
              AND ($units IS NULL OR c.uid IN $units OR a.uid IN $units OR b.uid IN $units)
            RETURN c.uid AS uid, c.uid + ' is in ' + a.uid + ' from ' + r1.valid_from +
              ' and in ' + b.uid + ' from ' + r2.valid_from + ' at the same time' AS message,
            a.uid AS first, r1.valid_from AS first_from, r1.valid_to AS first_to,
            b.uid AS second, r2.valid_from AS second_from, r2.valid_to AS second_to""",
            f"""MATCH (:Unit)-[:CONTAINS]->(u:Unit) WHERE {_SCOPE_U}
            RETURN count(DISTINCT u) AS count""",
        ),
        _rule(
            "duplicate-serial",
            "error",
            "A serial names one unit of a part: serials that differ only in case or blanks are duplicates.",
            """MATCH (u:Unit) WHERE u.serial IS NOT NULL
            WITH u.part_number AS part_number, toUpper(trim(u.serial)) AS serial, collect(u.uid) AS uids
            WHERE size(uids) > 1
            RETURN uids[0] AS uid, 'serial ' + serial + ' of part ' + part_number + ' is held by ' +
              """
            + _join("uids")
            + """ AS message, uids""",
            "MATCH (u:Unit) WHERE u.serial IS NOT NULL RETURN count(u) AS count",
        ),
        _rule(
            "installed-before-built",
            "error",
            "A unit is installed (in another unit or a place) on or after the day it was built.",
            f"""MATCH (p:Unit)-[r:CONTAINS]->(u:Unit)
            WHERE u.build_date IS NOT NULL AND substring(r.valid_from, 0, 10) < u.build_date AND {_SCOPE_U}
            RETURN u.uid AS uid, u.uid + ' was installed in ' + p.uid + ' on ' + r.valid_from +
              ', before it was built on ' + u.build_date AS message, p.uid AS into, r.valid_from AS installed,
              u.build_date AS built
            UNION ALL
            MATCH (u:Unit)-[r:LOCATED_IN]->(l)
            WHERE u.build_date IS NOT NULL AND substring(r.valid_from, 0, 10) < u.build_date AND {_SCOPE_U}
            RETURN u.uid AS uid, u.uid + ' was located in ' + l.uid + ' from ' + r.valid_from +
              ', before it was built on ' + u.build_date AS message, l.uid AS into, r.valid_from AS installed,
              u.build_date AS built""",
            f"MATCH (u:Unit) WHERE u.build_date IS NOT NULL AND {_SCOPE_U} RETURN count(u) AS count",
        ),
        _rule(
            "removed-before-installed",
            "error",
            "An interval ends on or after it starts: nothing is removed before it was installed.",
            f"""MATCH (u:Unit)-[r:CONTAINS|LOCATED_IN]->(x)
            WHERE r.valid_to IS NOT NULL AND r.valid_to < r.valid_from AND {_SCOPE_U}
            RETURN u.uid AS uid, type(r) + ' ' + u.uid + ' -> ' + x.uid + ' ends on ' + r.valid_to +
              ', before it starts on ' + r.valid_from AS message, x.uid AS other, type(r) AS relationship,
              r.valid_from AS valid_from, r.valid_to AS valid_to""",
            f"""MATCH (u:Unit)-[r:CONTAINS|LOCATED_IN]->() WHERE r.valid_to IS NOT NULL AND {_SCOPE_U}
            RETURN count(r) AS count""",
        ),
        _rule(
            "activity-after-scrap",
            "error",
            "Nothing happens to a unit after it was scrapped: no installation, location or work order.",
            f"""MATCH (u:Unit)-[r:CONTAINS|LOCATED_IN]-(x)
            WHERE u.scrap_date IS NOT NULL AND {_SCOPE_U}
              AND (r.valid_from > u.scrap_date OR coalesce(r.valid_to, '9999-12-31') > u.scrap_date)
            RETURN u.uid AS uid, u.uid + ' was scrapped on ' + u.scrap_date + ' but ' + type(r) + ' ' +
              startNode(r).uid + ' -> ' + endNode(r).uid + ' runs from ' + r.valid_from + ' to ' +
              coalesce(r.valid_to, 'now') AS message, u.scrap_date AS scrap_date, x.uid AS other
            UNION ALL
            MATCH (m:MaintenanceEvent)-[:PERFORMED_ON]->(u:Unit)
            WHERE u.scrap_date IS NOT NULL AND {_SCOPE_U} AND substring(m.opened, 0, 10) > u.scrap_date
            RETURN u.uid AS uid, u.uid + ' was scrapped on ' + u.scrap_date + ' but work order ' +
              m.uid + ' was opened on ' + m.opened AS message, u.scrap_date AS scrap_date, m.uid AS other""",
            f"MATCH (u:Unit) WHERE u.scrap_date IS NOT NULL AND {_SCOPE_U} RETURN count(u) AS count",
        ),
        _rule(
            "unresolved-links",
            "warning",
            "Links an import could not resolve (a binding to an unknown serial, a skipped reference).",
            """MATCH (r:ImportRun) WHERE r.status = 'succeeded' AND r.importer <> 'audit'
            WITH r.source_id AS source_id, max(r.finished) AS finished
            MATCH (r:ImportRun) WHERE r.source_id = source_id AND r.finished = finished
            UNWIND r.warnings AS warning
            WITH r, warning WHERE warning CONTAINS ' skipped: no ' OR warning CONTAINS 'not bound'
            RETURN r.uid AS uid, warning AS message, r.importer AS importer, r.source AS source""",
            """MATCH (r:ImportRun) WHERE r.status = 'succeeded' AND r.importer <> 'audit'
            RETURN count(DISTINCT r.source_id) AS count""",
        ),
    ]


# ----------------------------------------------------------------------------- configuration


def _configuration(
    rule_id: str, severity: Severity, at: str, description: str, *, maintained: bool
) -> Rule:
    """As designed vs the configuration on day `at` (a Cypher expression).

    As built covers every unit; as maintained (`maintained`) covers the units whose
    configuration changed after they were built (something installed after the build
    date, or removed, on or before the audit date): an untouched unit is as it was built,
    which the as-built rule reports.

    BOM lines are those of the unit's revision effective on its build date. An item sits at
    a BOM position when its CONTAINS carries that find number; items without a known
    position match a line of the same part that has no item at its position. Missing is
    reported only for parts the thread tracks (parts with units or lots): untracked make
    parts never appear in a genealogy. An item's revision is checked (through its
    OF_REVISION) only where a BOM line names a child revision.

    The two branches are whole queries joined by UNION ALL rather than a CALL {}
    subquery: FalkorDB (4.16) does not treat a node returned by CALL {} as bound in a
    later OPTIONAL MATCH.

    Shaped for FalkorDB's costs on a million nodes: the contents of each unit are grouped
    into parallel lists of plain values (grouping maps, or carrying the BOM through every
    contents row, costs several times more), the units are then grouped by revision so
    that each revision's BOM is read once, a unit whose items match its lines one to one
    (position, part and quantity) is passed without the full comparison, and units with
    nothing inside on that day but a BOM come in through a second branch."""
    scope = f"{_SCOPE_U} AND u.build_date IS NOT NULL AND u.build_date <= $as_of"
    changed = (
        "MATCH (u)-[m:CONTAINS]->() WHERE m.valid_from <= $as_of "
        "AND (m.valid_from > u.build_date OR m.valid_to IS NOT NULL) WITH DISTINCT u"
        if maintained
        else ""
    )
    in_effect = "c.valid_from <= at AND (c.valid_to IS NULL OR c.valid_to > at)"
    compare = f"""
        MATCH (u)-[:OF_REVISION]->(rev:PartRevision)
        WITH rev, collect({{unit: u, uids: uids, finds: finds, parts: parts, qtys: qtys}}) AS units
        WITH units, [(rev)-[l:HAS_COMPONENT]->(p:Part) | {{find: l.find_number, part: p.part_number,
          qty: l.quantity, rev: l.child_revision, from: l.effective_from, to: l.effective_to}}] AS bom
        UNWIND units AS unit
        WITH unit.unit AS u, unit.uids AS uids, unit.finds AS finds, unit.parts AS parts,
          unit.qtys AS qtys, bom
        WITH u, uids, finds, parts, qtys, [l IN bom WHERE (l.from IS NULL OR l.from <= u.build_date)
          AND (l.to IS NULL OR l.to >= u.build_date)] AS lines
        WITH u, lines, uids, finds, parts, qtys, range(0, size(uids) - 1) AS idx,
          [l IN lines | coalesce(l.find, '') + '|' + l.part + '|' + coalesce(toString(l.qty), '')] AS line_keys
        WITH u, lines, uids, finds, parts, qtys, idx, line_keys,
          [i IN idx | finds[i] + '|' + parts[i] + '|' + toString(qtys[i])] AS item_keys
        WHERE NOT (size(lines) = size(uids) AND none(l IN lines WHERE l.rev IS NOT NULL)
          AND all(k IN item_keys WHERE k IN line_keys)
          AND all(k IN line_keys WHERE size([j IN item_keys WHERE j = k]) = 1))
        WITH u, lines, uids, finds, parts, qtys, idx,
          [l IN lines WHERE l.find IS NOT NULL | l.find] AS line_finds
        WITH u, uids, finds, parts, qtys, idx, line_finds, [l IN lines | {{line: l, matched:
          CASE WHEN l.find IS NOT NULL AND l.find IN finds THEN [i IN idx WHERE finds[i] = l.find]
               ELSE [i IN idx WHERE parts[i] = l.part AND NOT finds[i] IN line_finds] END}}] AS matches
        WITH u, [m IN matches WHERE size(m.matched) = 0 |
            {{kind: 'missing', find: m.line.find, expected: m.line.part, actual: [], items: [],
              text: 'the design has ' + m.line.part + ', the unit has none'}}] +
          [m IN matches WHERE size(m.matched) > 0 AND NOT m.line.part IN [i IN m.matched | parts[i]] |
            {{kind: 'substituted', find: m.line.find, expected: m.line.part,
              actual: [i IN m.matched | parts[i]], items: [i IN m.matched | uids[i]],
              text: {_join("[i IN m.matched | parts[i]]")} + ' where the design has ' + m.line.part}}] +
          [m IN matches WHERE size(m.matched) > 0 AND m.line.part IN [i IN m.matched | parts[i]]
             AND m.line.qty IS NOT NULL
             AND abs(reduce(s = 0.0, i IN m.matched | s + qtys[i]) - m.line.qty) > 0.000001 |
            {{kind: 'quantity', find: m.line.find, expected: m.line.part,
              actual: [i IN m.matched | parts[i]], items: [i IN m.matched | uids[i]],
              design_quantity: m.line.qty, found_quantity: reduce(s = 0.0, i IN m.matched | s + qtys[i]),
              text: 'the quantity of ' + m.line.part + ' differs from the design'}}] +
          [m IN matches WHERE m.line.rev IS NOT NULL AND size(m.matched) > 0
             AND m.line.part IN [i IN m.matched | parts[i]] |
            {{kind: 'revision', find: m.line.find, expected: m.line.part, want: m.line.rev,
              actual: [i IN m.matched | parts[i]], items: [i IN m.matched | uids[i]], text: ''}}] +
          [i IN idx WHERE NOT (finds[i] IN line_finds OR any(m IN matches WHERE i IN m.matched)) |
            {{kind: 'extra', find: CASE WHEN finds[i] = '' THEN null ELSE finds[i] END, expected: null,
              actual: [parts[i]], items: [uids[i]],
              text: CASE WHEN parts[i] = '' THEN '?' ELSE parts[i] END + ' (' + uids[i] + ') is not in the design'}}]
          AS differences
        WHERE size(differences) > 0"""
    within = f"""
        MATCH (u:Unit) WHERE {scope} {changed}
        WITH u, {at} AS at
        MATCH (u)-[c:CONTAINS]->(x) WHERE {in_effect}
        WITH u, collect(x.uid) AS uids, collect(coalesce(c.find_number, '')) AS finds,
          collect(coalesce(x.part_number, '')) AS parts, collect(coalesce(c.quantity, 1.0)) AS qtys
        {compare}
        """
    without = f"""
        MATCH (rev:PartRevision)-[:HAS_COMPONENT]->() WITH DISTINCT rev
        MATCH (u:Unit)-[:OF_REVISION]->(rev) WHERE {scope} {changed}
        WITH u, {at} AS at
        OPTIONAL MATCH (u)-[c:CONTAINS]->() WHERE {in_effect}
        WITH u, c WHERE c IS NULL
        WITH u, [] AS uids, [] AS finds, [] AS parts, [] AS qtys
        {compare}
        """
    finish = f"""
        OPTIONAL MATCH (d:Deviation)-[:COVERS]->(u) WHERE d.change_order IS NULL
          AND coalesce(d.status, 'approved') = 'approved' AND (d.expires IS NULL OR d.expires > $as_of)
        WITH u, differences, [w IN collect(CASE WHEN d IS NULL THEN null ELSE coalesce(d.find_number, '*') END) WHERE w IS NOT NULL] AS waived
        UNWIND differences AS x
        WITH u, x WHERE NOT ('*' IN waived OR coalesce(x.find IN waived, false))
        UNWIND CASE WHEN x.kind = 'revision' THEN x.items ELSE [null] END AS item
        OPTIONAL MATCH (:Entity {{uid: item}})-[:OF_REVISION]->(ir:PartRevision)
        WITH u, x, collect(CASE WHEN ir.revision <> x.want THEN ir.revision END) AS wrong
        WHERE x.kind <> 'revision' OR size(wrong) > 0
        OPTIONAL MATCH (tracked:Part {{part_number: x.expected}})-[:HAS_REVISION]->(:PartRevision)<-[:OF_REVISION]-()
        WHERE x.kind = 'missing'
        WITH u, x, wrong, count(tracked) > 0 AS tracked WHERE x.kind <> 'missing' OR tracked
        RETURN u.uid AS uid, u.uid + ': ' + x.kind + ' at find number ' + coalesce(x.find, '-') + ': ' +
          CASE WHEN x.kind = 'revision' THEN x.expected + ' at revision ' + {_join("wrong")} +
            ' where the design has revision ' + x.want ELSE x.text END AS message,
          x.kind AS kind, x.find AS find_number, x.expected AS expected, x.actual AS actual, x.items AS items,
          x.design_quantity AS design_quantity, x.found_quantity AS found_quantity"""
    query = f"{within} {finish} UNION ALL {without} {finish}"
    targets = f"""MATCH (u:Unit)-[:OF_REVISION]->(:PartRevision)
        WHERE {scope} {changed} RETURN count(u) AS count"""
    return _rule(rule_id, severity, description, query, targets)


def _configuration_rules() -> list[Rule]:
    return [
        _configuration(
            "as-built-configuration",
            "error",
            "u.build_date",
            "Physical configuration audit: as built matches the revision's BOM (missing, extra, substituted, quantity, revision) unless a deviation covers it.",
            maintained=False,
        ),
        _configuration(
            "as-maintained-configuration",
            "warning",
            "$as_of",
            "A unit changed since it was built still matches the revision's BOM: a replacement with another part needs a deviation or a new revision.",
            maintained=True,
        ),
        _rule(
            "revision-released-at-build",
            "error",
            "A unit is built to a revision that was released on its build date.",
            f"""MATCH (u:Unit)-[:OF_REVISION]->(r:PartRevision)
            WHERE u.build_date IS NOT NULL AND {_SCOPE_U}
              AND ((r.release_date IS NOT NULL AND substring(r.release_date, 0, 10) > u.build_date)
                OR (r.release_date IS NULL AND coalesce(r.status, '') <> 'released'))
            RETURN u.uid AS uid, u.uid + ' was built on ' + u.build_date + ' to ' + r.uid + ', ' +
              CASE WHEN r.release_date IS NULL THEN 'which has no release date (status ' + coalesce(r.status, 'none') + ')'
                   ELSE 'released only on ' + r.release_date END AS message,
            r.uid AS revision, r.status AS status, r.release_date AS release_date, u.build_date AS build_date""",
            f"""MATCH (u:Unit)-[:OF_REVISION]->(:PartRevision) WHERE u.build_date IS NOT NULL AND {_SCOPE_U}
            RETURN count(u) AS count""",
        ),
        _rule(
            "unapplied-change-order",
            "error",
            "A released change order whose effectivity (serial range, else date) covers a unit is applied to it.",
            f"""MATCH (co:ChangeOrder)-[e:CHANGES_TO]->(target:PartRevision)<-[:HAS_REVISION]-(p:Part)
            WHERE coalesce(co.status, 'released') = 'released'
              AND (e.effective_date IS NULL OR e.effective_date <= $as_of)
            OPTIONAL MATCH (co)-[:CHANGES_FROM]->(old:PartRevision)
            WITH co, e, target, p, collect(old.uid) AS olds
            MATCH (p)-[:HAS_REVISION]->(mine:PartRevision)<-[:OF_REVISION]-(u:Unit)
            WHERE mine.uid <> target.uid AND (size(olds) = 0 OR mine.uid IN olds) AND {_SCOPE_U}
              AND (((e.serial_from IS NOT NULL OR e.serial_to IS NOT NULL)
                    AND coalesce(e.serial_from, '') <= u.serial AND (e.serial_to IS NULL OR u.serial <= e.serial_to))
                OR (e.serial_from IS NULL AND e.serial_to IS NULL AND e.effective_date IS NOT NULL
                    AND u.build_date IS NOT NULL AND e.effective_date <= u.build_date))
            OPTIONAL MATCH (d:Deviation)-[:COVERS]->(u)
            WHERE d.change_order = co.co_number AND coalesce(d.status, 'approved') = 'approved'
              AND (d.expires IS NULL OR d.expires > $as_of)
            WITH co, e, target, mine, u, count(d) AS waivers WHERE waivers = 0
            RETURN u.uid AS uid, u.uid + ' is still ' + mine.uid + ': ' + co.co_number +
              ' to ' + target.uid + ' covers it and is not applied' AS message,
            co.uid AS change_order, mine.uid AS revision, target.uid AS to_revision,
            e.effective_date AS effective_date, e.serial_from AS serial_from, e.serial_to AS serial_to""",
            f"""MATCH (co:ChangeOrder)-[:CHANGES_TO]->(:PartRevision)<-[:HAS_REVISION]-(p:Part)
            WHERE coalesce(co.status, 'released') = 'released'
            MATCH (p)-[:HAS_REVISION]->(:PartRevision)<-[:OF_REVISION]-(u:Unit) WHERE {_SCOPE_U}
            RETURN count(DISTINCT u) AS count""",
        ),
        _rule(
            "released-revision-documented",
            "warning",
            "A released revision has its documents and the requirements it satisfies.",
            _SCOPED_REVISIONS
            + """MATCH (r:PartRevision) WHERE r.status = 'released' AND ($units IS NULL OR r.uid IN scoped)
            WITH r, size([(r)-[:DOCUMENTED_BY]->(d:Document) | d]) AS documents,
              size([(r)-[:SATISFIES]->(q:Requirement) | q]) AS requirements
            WHERE documents = 0 OR requirements = 0
            RETURN r.uid AS uid, r.uid + ' is released without ' +
              CASE WHEN documents = 0 AND requirements = 0 THEN 'documents or requirements'
                   WHEN documents = 0 THEN 'documents' ELSE 'requirements' END AS message,
            documents, requirements""",
            _SCOPED_REVISIONS
            + """MATCH (r:PartRevision) WHERE r.status = 'released' AND ($units IS NULL OR r.uid IN scoped)
            RETURN count(r) AS count""",
        ),
    ]


# ----------------------------------------------------------------------------- recall


def _recall() -> list[Rule]:
    return [
        _rule(
            "suspect-lot-installed",
            "error",
            "Recall readiness: no unit still contains (at any depth) an item from a lot marked suspect.",
            f"""MATCH (l:Lot) WHERE l.status IN $statuses
            MATCH {SUSPECT_LOT_INSTALLED[0]}
            WHERE {_SCOPE_U} AND {SUSPECT_LOT_INSTALLED[1]}
            WITH u, l, min(length(path)) AS depth
            RETURN u.uid AS uid, u.uid + ' still contains ' + l.uid + ' (' + l.status + ')' AS message,
            l.uid AS lot, l.status AS status, depth""",
            _UNITS,
            statuses=ParamSpec("list", SUSPECT_STATUSES, "lot statuses that make a lot suspect"),
        ),
    ]


# ----------------------------------------------------------------------------- maintenance and sensors


def _maintenance() -> list[Rule]:
    open_at = (
        "m.opened IS NOT NULL AND substring(m.opened, 0, 10) <= $as_of "
        "AND ((m.closed IS NOT NULL AND substring(m.closed, 0, 10) > $as_of) "
        "OR (m.closed IS NULL AND coalesce(m.status, 'open') <> 'closed'))"
    )
    in_service = "coalesce(u.status, 'in_service') = 'in_service'"
    programme = (
        "MATCH (pm:MaintenanceEvent)-[:PERFORMED_ON]->(x:Unit) WHERE pm.type = 'preventive' "
        "WITH collect(DISTINCT x.part_number) AS programme "
        f"MATCH (u:Unit) WHERE u.part_number IN programme AND {in_service} AND {_SCOPE_U} "
        "AND coalesce(u.install_date, u.build_date) IS NOT NULL "
        "AND substring(coalesce(u.install_date, u.build_date), 0, 10) <= $as_of "
    )
    limits = (
        "coalesce({0}.life_limit_years, {0}.life_limit_cycles, {0}.life_limit_hours) IS NOT NULL"
    )
    # units of parts with limits, and units with their own: the limited part numbers are
    # collected once, so no unit needs a lookup of its part to be left out
    limited = (
        "OPTIONAL MATCH (lp:Part) WHERE " + limits.format("lp") + " "
        "WITH collect(DISTINCT lp.part_number) AS limited_parts "
        "MATCH (u:Unit) WHERE (u.part_number IN limited_parts OR " + limits.format("u") + ") "
        f"AND {_SCOPE_U} AND {in_service} "
        "OPTIONAL MATCH (p:Part {part_number: u.part_number}) "
    )
    channel_scope = (
        "OPTIONAL MATCH (s:Sensor)-[:HAS_CHANNEL]->(c) OPTIONAL MATCH (s)-[:OBSERVES]->(o) "
        "WITH c, collect(DISTINCT o.uid) AS observed "
        "WHERE $units IS NULL OR any(x IN observed WHERE x IN $units) "
    )
    return [
        _rule(
            "preventive-maintenance-overdue",
            "warning",
            "Units of parts on a preventive programme had preventive maintenance (or entered service) since the due date.",
            programme
            + """OPTIONAL MATCH (m:MaintenanceEvent)-[:PERFORMED_ON]->(u)
            WHERE m.type = 'preventive' AND substring(m.opened, 0, 10) <= $as_of
            WITH u, max(substring(m.opened, 0, 10)) AS last
            WITH u, last, coalesce(last, substring(coalesce(u.install_date, u.build_date), 0, 10)) AS since
            WHERE since < $due_before
            RETURN u.uid AS uid, CASE WHEN last IS NULL
              THEN u.uid + ' has had no preventive maintenance since it entered service on ' + since
              ELSE u.uid + ' has had no preventive maintenance since ' + last END AS message,
            last AS last_preventive, since, $due_before AS due_before""",
            programme + "RETURN count(u) AS count",
            due_before=ParamSpec(
                "date",
                "today-365d",
                "preventive maintenance older than this is overdue (default: a year before the audit date)",
            ),
        ),
        _rule(
            "work-order-open-too-long",
            "warning",
            "Work orders do not stay open past a threshold.",
            f"""MATCH (m:MaintenanceEvent) WHERE {open_at} AND substring(m.opened, 0, 10) < $opened_before
            OPTIONAL MATCH (m)-[:PERFORMED_ON]->(u:Unit)
            WITH m, u WHERE {_SCOPE_U}
            RETURN m.uid AS uid, m.uid + ' on ' + coalesce(u.uid, 'no unit') + ' has been open since ' +
              substring(m.opened, 0, 10) AS message, u.uid AS unit, m.type AS type, m.opened AS opened""",
            f"""MATCH (m:MaintenanceEvent) WHERE {open_at}
            OPTIONAL MATCH (m)-[:PERFORMED_ON]->(u:Unit)
            WITH m, u WHERE {_SCOPE_U} RETURN count(m) AS count""",
            opened_before=ParamSpec(
                "date",
                "today-30d",
                "a work order opened before this and still open is reported (default: 30 days)",
            ),
        ),
        _rule(
            "unit-past-life-limit",
            "warning",
            "Units in service are within their life limits (age, cycles, hours) set on the unit or its part.",
            f"""{limited}
            WITH u, coalesce(u.life_limit_years, p.life_limit_years) AS years,
              coalesce(u.life_limit_cycles, p.life_limit_cycles) AS cycles,
              coalesce(u.life_limit_hours, p.life_limit_hours) AS hours
            WITH u, years, cycles, hours, CASE WHEN years IS NOT NULL AND u.build_date IS NOT NULL
              THEN toString(toInteger(substring(u.build_date, 0, 4)) + toInteger(years)) + substring(u.build_date, 4, 6)
              END AS expires
            WITH u, years, cycles, hours, expires, [reason IN [
              CASE WHEN expires IS NOT NULL AND expires <= $as_of THEN 'age limit of ' + toString(toInteger(years)) + ' years reached on ' + expires END,
              CASE WHEN cycles IS NOT NULL AND u.cycles >= cycles THEN 'cycle limit of ' + toString(toInteger(cycles)) + ' reached' END,
              CASE WHEN hours IS NOT NULL AND u.hours >= hours THEN 'hour limit of ' + toString(toInteger(hours)) + ' reached' END
            ] WHERE reason IS NOT NULL] AS reasons
            WHERE size(reasons) > 0
            RETURN u.uid AS uid, u.uid + ': ' + {_join("reasons")} AS message,
            u.build_date AS build_date, u.cycles AS cycles, u.hours AS hours, years AS limit_years,
            cycles AS limit_cycles, hours AS limit_hours""",
            f"{limited} RETURN count(DISTINCT u) AS count",
        ),
        _rule(
            "channel-stale",
            "warning",
            "Every time-stamped channel has data newer than a threshold (a stale channel hides a failing sensor).",
            "MATCH (c:Channel) "
            + channel_scope
            + """WITH c WHERE c.last IS NULL OR coalesce(toStringOrNull(c.last) = c.last, false)
            WITH c WHERE c.last IS NULL OR substring(c.last, 0, 10) < $stale_before
            RETURN c.uid AS uid, CASE WHEN c.last IS NULL THEN c.uid + ' has no data'
              ELSE c.uid + ' has no data since ' + substring(c.last, 0, 10) END AS message,
            c.last AS last, c.count AS count""",
            "MATCH (c:Channel) "
            + channel_scope
            + """WITH c WHERE c.last IS NULL OR coalesce(toStringOrNull(c.last) = c.last, false)
            RETURN count(c) AS count""",
            stale_before=ParamSpec(
                "date",
                "today-7d",
                "a channel whose last sample is older than this is stale (default: 7 days)",
            ),
        ),
        _rule(
            "channel-constant",
            "warning",
            "A channel with enough samples is not constant (a stuck sensor reads one value).",
            "MATCH (c:Channel) WHERE c.count >= $min_samples "
            + channel_scope
            + """WITH c WHERE c.constant = true
            RETURN c.uid AS uid, c.uid + ' is constant over its samples' AS message,
            c.count AS count, c.last_value AS value""",
            "MATCH (c:Channel) WHERE c.count >= $min_samples "
            + channel_scope
            + "RETURN count(c) AS count",
            min_samples=ParamSpec("int", 10, "channels with fewer samples are not judged"),
        ),
        _rule(
            "sensor-observes-nothing",
            "warning",
            "Every sensor observes a unit, a place or a building element, or its data means nothing.",
            """MATCH (s:Sensor) WHERE NOT (s)-[:OBSERVES]->()
            RETURN s.uid AS uid, s.uid + ' observes nothing' AS message""",
            "MATCH (s:Sensor) RETURN count(s) AS count",
        ),
        _rule(
            "calibration-overdue",
            "warning",
            "Sensors with a calibration due date are calibrated before it.",
            """MATCH (s:Sensor) WHERE s.calibration_due IS NOT NULL
            AND substring(s.calibration_due, 0, 10) < $as_of
            OPTIONAL MATCH (s)-[:OBSERVES]->(o)
            WITH s, collect(o.uid) AS observed
            WHERE $units IS NULL OR any(x IN observed WHERE x IN $units)
            RETURN s.uid AS uid, s.uid + ' was due for calibration on ' + s.calibration_due AS message,
            s.calibration_due AS calibration_due, observed""",
            """MATCH (s:Sensor) WHERE s.calibration_due IS NOT NULL
            OPTIONAL MATCH (s)-[:OBSERVES]->(o)
            WITH s, collect(o.uid) AS observed
            WHERE $units IS NULL OR any(x IN observed WHERE x IN $units)
            RETURN count(s) AS count""",
        ),
    ]


# ----------------------------------------------------------------------------- bindings


def _bindings() -> list[Rule]:
    declared = "(n.bind_serial IS NOT NULL OR n.bind_part_number IS NOT NULL) AND NOT (n)-[:REPRESENTS]->()"
    explain = """
        OPTIONAL MATCH (x:Unit) WHERE x.serial = n.bind_serial AND x.part_number = n.bind_part_number
        OPTIONAL MATCH (p:Part) WHERE p.part_number = n.bind_part_number
        WITH n, count(DISTINCT x) AS units, count(DISTINCT p) AS parts
        RETURN n.uid AS uid, n.uid + ' declares ' + CASE
          WHEN n.bind_serial IS NOT NULL AND n.bind_part_number IS NULL
            THEN 'serial ' + n.bind_serial + ' but no part number'
          WHEN n.bind_serial IS NOT NULL AND units = 0
            THEN 'serial ' + n.bind_serial + ' of part ' + n.bind_part_number + ': no such unit'
          WHEN n.bind_serial IS NOT NULL
            THEN 'serial ' + n.bind_serial + ' of part ' + n.bind_part_number + ', which exists but is not bound: import the file again'
          WHEN parts = 0 THEN 'part ' + n.bind_part_number + ': no such part'
          ELSE 'part ' + n.bind_part_number + ', which exists but is not bound: import the file again' END AS message,
        n.bind_serial AS serial, n.bind_part_number AS part_number"""
    located = f"size([(u)-[r:LOCATED_IN]->(l) WHERE {_IN_EFFECT} | l])"
    contained = f"size([(p:Unit)-[r:CONTAINS]->(u) WHERE {_IN_EFFECT} | p])"
    top_units = (
        "MATCH (b:Building) WITH count(b) AS buildings WHERE buildings > 0 "
        f"MATCH (u:Unit) WHERE {_SCOPE_U} AND coalesce(u.status, 'in_service') = 'in_service' "
        f"AND u.build_date <= $as_of WITH u, {contained} AS containers WHERE containers = 0 "
    )
    return [
        _rule(
            "binding-unresolved",
            "warning",
            "Scene prims and IFC elements that declare a serial or part bind to one that exists.",
            f"MATCH (n:Prim) WHERE {declared} {explain} UNION ALL MATCH (n:BuildingElement) WHERE {declared} {explain}",
            """MATCH (n:Prim) WHERE n.bind_serial IS NOT NULL OR n.bind_part_number IS NOT NULL
            RETURN count(n) AS count UNION ALL
            MATCH (n:BuildingElement) WHERE n.bind_serial IS NOT NULL OR n.bind_part_number IS NOT NULL
            RETURN count(n) AS count""",
        ),
        _rule(
            "unit-without-location",
            "warning",
            "When the thread has a building, every unit in service that is not inside another unit has a location.",
            top_units
            + f"""WITH u, {located} AS places WHERE places = 0
            RETURN u.uid AS uid, u.uid + ' has no location' AS message""",
            top_units + "RETURN count(u) AS count",
        ),
    ]


def builtin_rules() -> list[Rule]:
    """Every built-in rule except the ontology shapes (see thread.audit.shacl), in the
    order they are reported."""
    return [
        *_identity(),
        *_configuration_rules(),
        *_recall(),
        *_maintenance(),
        *_bindings(),
    ]
