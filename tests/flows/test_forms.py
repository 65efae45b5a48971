"""The forms the Prefect UI draws for each deployment: every parameter says what it is for."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from prefect import Flow
from prefect.utilities.callables import parameter_schema

FLOWS = Path(__file__).parents[2] / "flows"
FLOW_MODULES = sorted(path.stem for path in FLOWS.glob("*.py") if path.stem != "__init__")


@pytest.mark.parametrize("module", FLOW_MODULES)
def test_every_flow_parameter_has_a_description_in_its_form(module: str) -> None:
    flows = [obj for obj in vars(importlib.import_module(f"flows.{module}")).values() if isinstance(obj, Flow)]
    assert flows, module
    for flow in flows:
        properties = parameter_schema(flow.fn).properties
        undescribed = [name for name, field in properties.items() if not field.get("description")]
        assert not undescribed, f"{flow.name}: {undescribed}"
