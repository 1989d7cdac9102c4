"""The algorithm side must run on the plain algorithm image (stdlib, pandas, numpy, httpx,
tenacity)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from tests.algorithm.helpers import DEMO_DIR, REPO

ALLOWED_COMMON = {"vantage6_common", "vantage6_common.envcoding", "vantage6_common.serialization"}
ALLOWED_COMMON |= {"vantage6_common.status", "vantage6_common.retry"}
ALLOWED_COMMON |= {"vantage6_common.datasources"}

_PROBE = textwrap.dedent(
    """
    import json, sys
    import numpy, pandas, httpx, tenacity  # what the image provides
    baseline = set(sys.modules)
    import vantage6_algorithm
    import vantage6_algorithm.client, vantage6_algorithm.data, vantage6_algorithm.decorators
    import vantage6_algorithm.mock_client, vantage6_algorithm.util, vantage6_algorithm.wrap
    import v6demo
    import vantage6_datasource_csv, vantage6_datasource_parquet
    import vantage6_datasource_excel, vantage6_datasource_sql
    new = set(sys.modules) - baseline
    print(json.dumps(sorted(new)))
    """
)


def test_algorithm_side_imports_only_what_the_image_has():
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "plugins"), str(DEMO_DIR)])
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    new = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "vantage6_algorithm.wrap" in new and "v6demo.regression" in new
    ours = {"vantage6_algorithm", "v6demo", "vantage6_common"}
    ours |= {m.split(".")[0] for m in new if m.startswith("vantage6_datasource_")}
    foreign = sorted(
        {m.split(".")[0] for m in new} - ours - set(sys.stdlib_module_names) - {"__main__"}
    )
    assert foreign == [], f"the algorithm side imports packages the image lacks: {foreign}"
    common = {m for m in new if m.split(".")[0] == "vantage6_common"}
    assert common <= ALLOWED_COMMON, common - ALLOWED_COMMON
