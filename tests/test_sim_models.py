"""The model contract: registry by name, declared parameters and roles, checked values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from thread.pipeline.imports import import_file
from thread.sim import get_model, model_names
from thread.sim.errors import MissingInputError, SimError, UnknownModelError
from thread.sim.inputs import ChannelInfo, read_series, resolve_roles
from thread.sim.model import parse_assignments
from thread.stores import GraphStore
from thread.telemetry.datasets import read_channel


def test_registry_lists_and_loads_models_by_name() -> None:
    assert model_names() == ["age-replacement", "rul-kernel", "thermal-pump", "weibull"]
    for name in model_names():
        model = get_model(name)
        schema = model.schema()
        assert schema["model"] == name and schema["version"] and schema["operations"]
        for operation in model.operations:
            assert callable(getattr(model, operation))
        for parameter in (*model.parameters, *model.scenario):
            assert parameter.lower <= parameter.default <= parameter.upper and parameter.unit
    with pytest.raises(UnknownModelError, match="did you mean thermal-pump"):
        get_model("thermal-pmp")


def test_values_are_checked_by_name_and_bounds() -> None:
    model = get_model("thermal-pump")
    assert model.checked({"c_motor": 5000}) == {"c_motor": 5000.0}
    with pytest.raises(SimError, match=r"outside its bounds \[0.0, 1.0\]"):
        model.checked({"loss_fraction": 1.5})
    with pytest.raises(SimError, match="has no parameter 'load'"):
        model.checked({"load": 1.2})  # a scenario variable, not a parameter
    assert model.checked({"load": 1.2}, scenario=True) == {"load": 1.2}
    assert parse_assignments(["load=1,1.5", "t_ambient=30"]) == {
        "load": [1.0, 1.5],
        "t_ambient": [30.0],
    }
    for bad in ("load", "load=x", "=3", "load="):
        with pytest.raises(SimError):
            parse_assignments([bad])


def test_roles_resolve_by_quantity_then_name() -> None:
    """SKAB's rig has two temperature channels: the names tell motor body from fluid."""
    channels = [
        ChannelInfo(f"channel:RIG/{name}", name, quantity, None, "time")
        for name, quantity in (("Voltage", "voltage"), ("Current", "current"),
                               ("Temperature", "temperature"), ("Thermocouple", "temperature"))
    ]  # fmt: skip
    roles = resolve_roles(get_model("thermal-pump").roles, channels, "unit:X/1")
    assert roles["motor_temperature"][0].channel == "Temperature"
    assert roles["fluid_temperature"][0].channel == "Thermocouple"
    swapped = resolve_roles(
        get_model("thermal-pump").roles,
        channels,
        "unit:X/1",
        {
            "motor_temperature": "channel:RIG/Thermocouple",
            "fluid_temperature": "channel:RIG/Temperature",
        },
    )
    assert swapped["motor_temperature"][0].channel == "Thermocouple"
    with pytest.raises(MissingInputError, match="--channel voltage="):
        resolve_roles(get_model("thermal-pump").roles, channels[1:], "unit:X/1")


def test_prediction_features_equal_the_training_features_at_the_last_cycle() -> None:
    """Predictions compute only the last cycle's features; they must be the same numbers."""
    import numpy as np

    from thread.sim.rul import _features, _last_features

    rng = np.random.default_rng(0)
    for length in (1, 2, 31, 40, 41, 200):
        values, age = rng.normal(size=(length, 5)), np.arange(1.0, length + 1)
        assert np.allclose(_features(values, age, 40, 30)[-1], _last_features(values, age, 40, 30))


def test_series_of_many_channels_read_at_once_match_each_channel(
    embedded_store: GraphStore, tmp_path: Path
) -> None:
    """Two sources feeding one channel with interleaved times, and a channel with one:
    the fleet reader returns each complete and sorted, as the one-channel reader does."""
    header = "sensor_id,channel,timestamp,value\n"
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text(
        header
        + "S1,temp,2025-01-01T00:00:00Z,1.0\nS1,temp,2025-01-01T00:02:00Z,3.0\n"
        + "S2,flow,2025-01-01T00:00:00Z,7.0\nS2,flow,2025-01-01T00:01:00Z,8.0\n"
    )
    second.write_text(
        header + "S1,temp,2025-01-01T00:01:00Z,2.0\nS1,temp,2025-01-01T00:03:00Z,4.0\n"
    )
    for path in (first, second):
        import_file(embedded_store, "telemetry", path)
    channels = [
        ChannelInfo("channel:S1/temp", "temp", None, None, "time"),
        ChannelInfo("channel:S2/flow", "flow", None, None, "time"),
    ]
    series = read_series(embedded_store.data_dir, channels)
    assert series["channel:S1/temp"].values.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert series["channel:S2/flow"].values.tolist() == [7.0, 8.0]
    for info in channels:
        table = read_channel(embedded_store.data_dir, info.uid)
        assert series[info.uid].values.tolist() == table.column("value").to_pylist()
        assert np.all(np.diff(series[info.uid].t) == 60.0)
