"""The layers' boundaries: the runtime (what `rx-gateway serve` runs) does not import the tools
(the synthetic data generator, the demo, the benchmark), so none of their code or dependencies
is loaded in a gateway process."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import NamedTuple

import pytest

from rx_gateway.adapters.files.tables import TABLES
from rx_gateway.tools.synthetic.rows import FILE_OF

RUNTIME_MODULES = ("rx_gateway.bootstrap", "rx_gateway.grpc_api.server", "rx_gateway.cli")


def test_the_runtime_imports_no_tool() -> None:
    # a fresh interpreter: this test process has imported the tools already
    code = (
        "import importlib, json, sys\n"
        f"for name in {RUNTIME_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = json.loads(result.stdout)
    assert set(RUNTIME_MODULES) <= set(loaded)
    assert [name for name in loaded if name.startswith("rx_gateway.tools")] == []


@pytest.mark.parametrize("row_type", list(FILE_OF), ids=lambda t: t.__name__)
def test_each_synthetic_row_names_the_loaders_columns_in_order(
    row_type: type[NamedTuple],
) -> None:
    assert list(row_type._fields) == list(TABLES[FILE_OF[row_type]])


def test_every_loaded_table_has_a_synthetic_row() -> None:
    assert sorted(FILE_OF.values()) == sorted(TABLES)
