"""The OpenUSD importer on real assets and on small generated scenes.

Real files (../shared/data/usd, see its README.md):
- `Teapot/`: usd-wg/assets → full_assets/Teapot (CC0): assetInfo, a payload, variants.
- `Vehicles/USD_Mini_Car_Kit/`: usd-wg/assets → full_assets/Vehicles (CC0), by
  Robin-Yann Storm after Kenney: about 44 layers of references and variant sets.
"""

from __future__ import annotations

import importlib.util
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.graph import counts

from thread import ontology
from thread.errors import SourceError
from thread.pipeline.imports import ImportOptions, import_file
from thread.pipeline.write import ImportReport, Source, ThreadService
from thread.records import MAX_UID_BYTES, node
from thread.stores import GraphStore

ONTO = ontology.load()
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "pump-fleet"


def prim(store: GraphStore, scene: str, path: str) -> dict[str, Any]:
    rows = store.read("MATCH (p:Prim {uid: $uid}) RETURN p", {"uid": ONTO.uid("Prim", scene, path)})
    assert rows, f"no prim {path} in {scene}"
    return dict(rows[0]["p"])


def prim_paths(store: GraphStore, scene: str) -> set[str]:
    rows = store.read(
        "MATCH (p:Prim) WHERE p.scene = $s AND p._missing IS NULL RETURN p.prim_path AS path",
        {"s": scene},
    )
    return {row["path"] for row in rows}


def usd_paths(
    path: Path, *, payloads: bool = True, variants: dict[str, str] | None = None
) -> set[str]:
    """usd-core's own traversal of the composed stage (every prim, as TraverseAll)."""
    from pxr import Usd

    load = Usd.Stage.LoadAll if payloads else Usd.Stage.LoadNone
    stage = Usd.Stage.Open(str(path), load)
    stage.SetEditTarget(stage.GetSessionLayer())
    for name, value in (variants or {}).items():
        changed = True
        while changed:  # a selection can bring in prims with the same set
            changed = False
            for item in stage.TraverseAll():
                variant_set = item.GetVariantSets().GetVariantSet(name)
                if (
                    item.GetVariantSets().HasVariantSet(name)
                    and value in variant_set.GetVariantNames()
                    and variant_set.GetVariantSelection() != value
                ):
                    variant_set.SetVariantSelection(value)
                    changed = True
                    break
    return {str(p.GetPath()) for p in stage.TraverseAll()}


def import_usd(
    store: GraphStore, path: Path, mapping: Path | None = None, **options: Any
) -> ImportReport:
    return import_file(store, "usd", path, ImportOptions(mapping=mapping, options=options))


# ---------------------------------------------------------------- Teapot


def test_teapot_asset_info_is_extracted_exactly(store: GraphStore, shared_data: Path) -> None:
    """usd-wg/assets Teapot (CC0): the model's assetInfo, nested credits included."""
    report = import_usd(store, shared_data / "usd" / "Teapot" / "Teapot.usd")
    assert report.warnings == []
    teapot = prim(store, "Teapot.usd", "/Teapot")
    assert teapot["assetInfo.name"] == "Teapot"
    assert teapot["assetInfo.version"] == "1.0"
    assert teapot["assetInfo.identifier"] == "Teapot.usd"
    assert (
        teapot["assetInfo.credits.FancyTeapot"]
        == "PolyHaven | Public Domain - CC0 | https://polyhaven.com/a/tea_set_01"
    )
    assert teapot["assetInfo.credits.UtahTeapot"] == "Public Domain - CC0"
    assert (teapot["kind"], teapot["type_name"], teapot["specifier"]) == (
        "component",
        "Xform",
        "def",
    )
    assert teapot["variants.modelVariant"] == "Utah"
    assert not any(k.startswith("customData.") for k in teapot), "schema fallbacks are not data"
    scene = store.read("MATCH (s:Scene) RETURN s")[0]["s"]
    assert scene["uid"] == "scene:Teapot.usd" and scene["default_prim"] == "Teapot"
    assert Path(scene["file"]) == shared_data / "usd" / "Teapot" / "Teapot.usd"


@pytest.mark.parametrize("payloads", [True, False], ids=["payload-loaded", "payload-unloaded"])
def test_teapot_payload_loaded_and_not(
    store: GraphStore, shared_data: Path, payloads: bool
) -> None:
    """usd-wg/assets Teapot (CC0): its geometry and materials come through a payload."""
    path = shared_data / "usd" / "Teapot" / "Teapot.usd"
    import_usd(store, path, payloads=payloads)
    expected = usd_paths(path, payloads=payloads)
    assert prim_paths(store, "Teapot.usd") == expected
    assert ("/Teapot/Geometry" in expected) is payloads
    assert prim(store, "Teapot.usd", "/Teapot")["loaded"] is payloads
    arcs = store.read(
        "MATCH (:Scene)-[r:DEPENDS_ON]->(l:Layer) RETURN l.path AS path, r.arc AS arc, l.used AS used"
    )
    assert arcs == [{"path": "Teapot_Payload.usd", "arc": "payload", "used": payloads}]


# ---------------------------------------------------------------- Mini Car Kit


@pytest.mark.parametrize(
    ("variants", "vehicle"),
    [
        ({}, "tractor"),
        ({"wheels": "sedan"}, "sedan"),
        ({"wheels": "formula"}, "formula"),
        ({"wheels": "wheelRed"}, "tractor"),
    ],
    ids=["authored", "sedan", "formula", "red-wheels"],
)
def test_car_kit_prims_match_usd_core_per_variant(
    store: GraphStore, shared_data: Path, variants: dict[str, str], vehicle: str
) -> None:
    """usd-wg/assets Vehicles/USD_Mini_Car_Kit (CC0): the vehicle's variant set and each
    wheel's are both named 'wheels'; a selection applies where the set offers it."""
    kit = shared_data / "usd" / "Vehicles" / "USD_Mini_Car_Kit"
    path = kit / "assets" / "vehicles" / "vehicleVariants.usda"
    report = import_usd(store, path, variants=variants, root=str(kit))
    scene = "assets/vehicles/vehicleVariants.usda"
    expected = usd_paths(path, variants=variants)
    assert prim_paths(store, scene) == expected
    assert report.by_label["Prim"].created == len(expected)
    edges = store.read("MATCH (:Prim)-[r:HAS_CHILD]->(:Prim) RETURN count(r) AS c")[0]["c"]
    assert edges == len(expected) - 1  # one root prim, every other prim has a parent
    assert prim(store, scene, "/vehicleVariant")["variants.wheels"] == vehicle
    layers = store.read("MATCH (l:Layer) RETURN l.path AS path, l.used AS used, l.resolved AS ok")
    assert all(row["ok"] for row in layers)
    assert len(layers) == 43  # the kit's 44 layers but the root: all variants, used or not
    used = {row["path"] for row in layers if row["used"]}
    assert "assets/wheels/wheelVariants.usda" in used
    if variants.get("wheels") == "wheelRed":
        assert "assets/wheels/wheelRed/asset/wheelRedAsset.usda" in used
        assert any("wheels=wheelRed" in w and "vehicleVariant" in w for w in report.warnings)


def test_reimporting_the_same_scene_changes_nothing(store: GraphStore, shared_data: Path) -> None:
    """usd-wg/assets Vehicles/USD_Mini_Car_Kit (CC0)."""
    path = shared_data / "usd" / "Vehicles" / "USD_Mini_Car_Kit" / "assets" / "vehicles"
    first = import_usd(store, path / "vehicleVariants.usda")
    assert first.changed
    second = import_usd(store, path / "vehicleVariants.usda")
    assert not second.changed and second.run is None
    assert second.nodes.unchanged == first.nodes.created


def test_another_variant_replaces_the_prims_it_no_longer_composes(
    store: GraphStore, shared_data: Path
) -> None:
    """usd-wg/assets Vehicles/USD_Mini_Car_Kit (CC0): prims of the old selection are kept
    and marked missing, not deleted."""
    path = shared_data / "usd" / "Vehicles" / "USD_Mini_Car_Kit" / "assets" / "vehicles"
    import_usd(store, path / "vehicleVariants.usda")
    report = import_usd(store, path / "vehicleVariants.usda", variants={"wheels": "sedan"})
    assert report.by_label["Prim"].disappeared > 0 and report.by_label["Prim"].created > 0
    old = prim(store, "vehicleVariants.usda", "/vehicleVariant/tractorFullAsset")
    assert old["_missing"] is True


# ---------------------------------------------------------------- defects


def test_composition_errors_are_warnings_and_the_rest_is_imported(
    store: GraphStore, test_data: Path
) -> None:
    """tests/data/usd/broken: a missing sublayer, reference and payload, an unreadable
    MaterialX file, a reference to a prim that is not there, a dangling material binding."""
    report = import_usd(store, test_data / "usd" / "broken" / "scene.usda")
    assert prim_paths(store, "scene.usda") == {
        "/World",
        "/World/A",
        "/World/B",
        "/World/C",
        "/World/D",
        "/World/E",
        "/Other",
    }
    text = "\n".join(report.warnings)
    for expected in (
        "missing_sub.usda",
        "missing_ref.usda@ for reference introduced by",
        "look.mtlx",
        "missing_payload.usda@ for payload",
        "Unresolved reference prim path",
        "prim </World/D>: relationship material:binding targets </World/NoSuchMaterial>",
    ):
        assert expected in text
    layers = {
        row["path"]: row
        for row in store.read(
            "MATCH (:Scene)-[r:DEPENDS_ON]->(l:Layer) RETURN l.path AS path, r.arc AS arc, "
            "l.resolved AS resolved, l.readable AS readable, l.error AS error"
        )
    }
    assert layers["missing_sub.usda"] == {
        "path": "missing_sub.usda",
        "arc": "sublayer",
        "resolved": False,
        "readable": False,
        "error": "not found",
    }
    assert layers["missing_payload.usda"]["arc"] == "payload"
    assert layers["look.mtlx"]["resolved"] and not layers["look.mtlx"]["readable"]
    assert layers["ok_sub.usda"]["readable"] and layers["ok_sub.usda"]["error"] == ""


def test_prims_of_any_depth_get_bounded_uids(store: GraphStore, tmp_path: Path) -> None:
    """A prim path that would make a uid longer than the uid limit (a key that long used to
    crash the embedded server) gets a digest uid; its path stays whole in prim_path."""
    depth = 150
    text = "#usda 1.0\n"
    for level in range(depth):
        text += "    " * level + f'def Xform "Level{level:03d}"\n' + "    " * level + "{\n"
    for level in reversed(range(depth)):
        text += "    " * level + "}\n"
    (tmp_path / "deep.usda").write_text(text)
    import_usd(store, tmp_path / "deep.usda")
    rows = store.read(
        "MATCH (p:Prim) RETURN p.uid AS uid, p.prim_path AS path ORDER BY size(p.prim_path)"
    )
    assert len(rows) == depth
    deepest = rows[-1]
    assert deepest["path"] == "".join(f"/Level{level:03d}" for level in range(depth))
    assert deepest["uid"].startswith("prim:deep.usda:~")
    assert max(len(row["uid"].encode()) for row in rows) <= MAX_UID_BYTES
    chain = store.read(
        "MATCH (:Scene)-[:HAS_PRIM]->(top:Prim) MATCH (top)-[:HAS_CHILD*]->(p:Prim) "
        "RETURN count(DISTINCT p) AS below"
    )
    assert chain == [{"below": depth - 1}]


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("notes.usda", b"hello, this is not USD\n", "not a readable USD layer"),
        ("noise.usdc", bytes(random.Random(1).getrandbits(8) for _ in range(600)), "corrupt"),
        ("empty.usd", b"", "empty file"),
        ("cut.usda", None, "parse error"),
    ],
    ids=["text", "binary-noise", "empty", "truncated"],
)
def test_a_file_that_is_not_usd_is_a_clear_error_and_nothing_is_written(
    store: GraphStore,
    tmp_path: Path,
    shared_data: Path,
    name: str,
    content: bytes | None,
    reason: str,
) -> None:
    if content is None:  # a real scene cut short
        content = (shared_data / "usd" / "Teapot" / "DrawModes.usd").read_bytes()[:700]
    (tmp_path / name).write_bytes(content)
    import_usd(store, EXAMPLE / "scene" / "plant.usda")
    before = counts(store)
    with pytest.raises(SourceError) as excinfo:
        import_usd(store, tmp_path / name)
    assert name in str(excinfo.value) and reason in str(excinfo.value)
    assert "pxrInternal" not in str(excinfo.value)
    assert counts(store) == before


def test_bad_options_are_refused(store: GraphStore, shared_data: Path) -> None:
    with pytest.raises(SourceError, match="payload: Extra inputs are not permitted"):
        import_usd(store, shared_data / "usd" / "Teapot" / "Teapot.usd", payload=False)


# ---------------------------------------------------------------- bindings


def units(store: GraphStore, serials: list[str], part_number: str = "P-100") -> None:
    records = [node(ONTO, "Part", {"part_number": part_number})]
    records += [node(ONTO, "Unit", {"part_number": part_number, "serial": s}) for s in serials]
    ThreadService(store).import_records(records, Source("test", "units.csv"))


def test_prims_bind_to_units_and_unknown_serials_are_reported(store: GraphStore) -> None:
    """The example plant room: twelve pumps of P-100 and a spare whose serial no unit has."""
    units(store, [f"SN-{i:04d}" for i in range(1, 13)])
    report = import_usd(store, EXAMPLE / "scene" / "plant.usda")
    bound = store.read(
        "MATCH (p:Prim)-[:REPRESENTS]->(u:Unit) RETURN p.prim_path AS prim, u.serial AS serial "
        "ORDER BY serial"
    )
    assert len(bound) == 12
    assert bound[0] == {"prim": "/World/PumpRoom/Pump_01", "serial": "SN-0001"}
    assert report.warnings == [
        "examples/pump-fleet/scene/plant.usda: REPRESENTS prim:plant.usda:/World/PumpRoom/Pump_Spare"
        " -> unit:P-100/SN-9999 skipped: no Unit unit:P-100/SN-9999"
    ]
    spare = prim(store, "plant.usda", "/World/PumpRoom/Pump_Spare")
    assert (spare["bind_serial"], spare["bind_part_number"]) == ("SN-9999", "P-100")
    deps = store.read(
        "MATCH (:Scene)-[r:DEPENDS_ON]->(l:Layer) RETURN l.path AS path, r.arc AS arc"
    )
    assert deps == [{"path": "assets/pump.usda", "arc": "reference"}]


def test_binding_keys_in_asset_info_custom_data_and_a_mapping(
    store: GraphStore, test_data: Path, tmp_path: Path
) -> None:
    """tests/data/usd/bindings.usda: keys in assetInfo, a part only, a serial only, and
    keys of the scene's own that a mapping names."""
    units(store, ["SN-0001", "SN-0002", "SN-0003"])
    scene = test_data / "usd" / "bindings.usda"
    report = import_usd(store, scene)
    rows = store.read(
        "MATCH (p:Prim)-[:REPRESENTS]->(t) RETURN p.name AS prim, t.uid AS target ORDER BY prim"
    )
    assert rows == [
        {"prim": "ByAssetInfo", "target": "unit:P-100/SN-0001"},
        {"prim": "PartOnly", "target": "part:P-100"},
    ]
    assert any(
        "prim </Plant/SerialOnly> declares serial 'SN-0002' (thread:serial) but no part number" in w
        for w in report.warnings
    )
    mapping = tmp_path / "erp.toml"
    mapping.write_text('kind = "usd"\n[bindings]\nserial = "erp:sn"\npart_number = "erp:pn"\n')
    import_usd(store, scene, mapping=mapping)
    own = store.read("MATCH (p:Prim {name: 'OwnKeys'})-[:REPRESENTS]->(u) RETURN u.uid AS u")
    assert own == [{"u": "unit:P-100/SN-0003"}]


def test_a_bad_mapping_names_the_key(store: GraphStore, tmp_path: Path) -> None:
    mapping = tmp_path / "bad.toml"
    mapping.write_text('[bindings]\nserail = "x"\n')
    with pytest.raises(SourceError, match=r"bad.toml: bindings.serail: Extra inputs"):
        import_usd(store, EXAMPLE / "scene" / "plant.usda", mapping=mapping)
    mapping.write_text('kind = "ifc"\n')
    with pytest.raises(SourceError, match="this mapping is for 'ifc', not 'usd'"):
        import_usd(store, EXAMPLE / "scene" / "plant.usda", mapping=mapping)


def test_the_default_mapping_files_document_the_defaults() -> None:
    import tomllib

    from thread.importers import ifc
    from thread.importers.binding import parse_bindings
    from thread.usd import importing as usd

    folder = Path(__file__).resolve().parents[1] / "importers" / "mappings"
    for kind, module in (("usd", usd), ("ifc", ifc)):
        data = tomllib.loads((folder / f"{kind}.toml").read_text())
        assert parse_bindings(data, kind, module.DEFAULT_BINDINGS, kind) == module.DEFAULT_BINDINGS
        assert data["bindings"], "the file spells the defaults out"


# ---------------------------------------------------------------- the example


@pytest.fixture(scope="module")
def generator() -> Iterator[Any]:
    spec = importlib.util.spec_from_file_location("generate_scene", EXAMPLE / "generate_scene.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module


def _ifc_content(path: Path) -> list[tuple[str, str, str | None]]:
    import ifcopenshell

    model = ifcopenshell.open(str(path))
    return sorted((e.is_a(), e.GlobalId, e.Name) for e in model.by_type("IfcRoot"))


def _usd_content(path: Path) -> list[tuple[str, str, dict[str, Any]]]:
    from pxr import Usd

    stage = Usd.Stage.Open(str(path))
    return [(str(p.GetPath()), str(p.GetTypeName()), p.GetCustomData()) for p in stage.Traverse()]


def test_the_example_files_are_what_the_seeded_generator_writes(
    generator: Any, tmp_path: Path
) -> None:
    """The generator is deterministic, and the committed scene and building are its output
    (compared by content, so a newer usd-core or ifcopenshell may format them anew)."""
    generator.main(["--out", str(tmp_path / "a")])
    generator.main(["--out", str(tmp_path / "b")])
    for name in ("scene/plant.usda", "scene/assets/pump.usda", "building/plant-room.ifc"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
        assert (EXAMPLE / name).stat().st_size < 100_000
    assert _usd_content(tmp_path / "a" / "scene" / "plant.usda") == _usd_content(
        EXAMPLE / "scene" / "plant.usda"
    )
    assert _ifc_content(tmp_path / "a" / "building" / "plant-room.ifc") == _ifc_content(
        EXAMPLE / "building" / "plant-room.ifc"
    )
