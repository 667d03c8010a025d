"""The Dagster UI renders the regdml asset graph in a real (headless) browser, with nothing loaded from
outside. Screenshots go to test-artifacts/ (gitignored) for a human to look at."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(
    sys.platform == "win32",
    reason="Debian's Chromium and a web server stopped by process group (os.killpg): POSIX only",
)

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
GROUPS = (
    "raw",
    "staging",
    "cohort",
    "treatment",
    "outcomes",
    "covariates",
    "analysis",
    "estimation",
    "report",
)
# The analysis group's page shows the analysis table with its neighbours.
ANALYSIS_GROUP_PATH = "/locations/__repository__@pipelines.definitions/asset-groups/analysis"


def _services():
    """tests/pipelines/services.py under one module name, so every test module shares its server cache."""
    name = "regdml_pipeline_test_services"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("services.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def ui_server(small_run, small_delivery, tmp_path_factory):
    """The web server of test_pl_ui_graphql (the same process when both modules run in one session)."""
    services = _services()
    services.ensure_chromium()
    server = services.start_webserver(
        small_run["dagster_home"], small_run["workdir"], small_delivery, tmp_path_factory.mktemp("webserver")
    )
    # A first visit shows a community pop-up over the graph; this dismisses it for the instance.
    assert services.graphql(server["url"], "mutation { setNuxSeen }")["setNuxSeen"] is True
    yield server
    services.stop_webserver(server)


def _assert_rendered_png(path: Path) -> None:
    import matplotlib.image as mpimg

    assert path.is_file(), f"no screenshot at {path}"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 20_000, f"screenshot suspiciously small ({path.stat().st_size} bytes)"
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] >= 800 and img.shape[1] >= 1200, img.shape
    rgb = img[..., :3].reshape(-1, 3)
    assert float(rgb.std()) > 0.02, "screenshot is blank"
    # A rendered UI has text, icons and lines in many shades, not one colour and an error line.
    colours = np.unique((rgb * 255).round().astype(np.uint8), axis=0)
    assert len(colours) > 50, f"only {len(colours)} colours: the page did not render"


@pytest.mark.slow
def test_global_asset_graph_screenshot_and_dom(ui_server, tmp_path):
    services = _services()
    url = ui_server["url"] + "/asset-groups"
    out = ARTIFACTS / "dagster-ui-asset-graph.png"
    out.unlink(missing_ok=True)
    proc = services.chromium_screenshot(url, out, tmp_path / "profile")
    assert proc.returncode == 0, proc.stderr[-2000:]
    _assert_rendered_png(out)
    dom = services.chromium_dump_dom(url, tmp_path / "profile")
    assert "Internal Server Error" not in dom
    assert "Global asset lineage" in dom
    missing = [g for g in GROUPS if f">{g}<" not in dom]
    assert missing == [], f"groups missing from the rendered graph: {missing}"


@pytest.mark.slow
def test_analysis_group_graph_shows_the_analysis_table(ui_server, tmp_path):
    services = _services()
    url = ui_server["url"] + ANALYSIS_GROUP_PATH
    out = ARTIFACTS / "dagster-ui-analysis-group.png"
    out.unlink(missing_ok=True)
    proc = services.chromium_screenshot(url, out, tmp_path / "profile")
    assert proc.returncode == 0, proc.stderr[-2000:]
    _assert_rendered_png(out)
    dom = services.chromium_dump_dom(url, tmp_path / "profile")
    assert "Internal Server Error" not in dom
    for name in ("analysis_table", "eligible_meetings", "meeting_covariates", "meeting_outcomes"):
        assert name in dom, f"{name} not in the rendered analysis group graph"
    # The node of the analysis table shows its checks passed.
    assert "Passed" in dom


@pytest.mark.slow
def test_asset_catalog_lists_every_asset(ui_server, tmp_path):
    dom = _services().chromium_dump_dom(ui_server["url"] + "/assets", tmp_path / "profile")
    for name in (
        "dream",
        "samtaler",
        "benefit_spells",
        "eligible_meetings",
        "analysis_table",
        "estimates",
        "report",
    ):
        assert name in dom, f"{name} not in the asset catalog page"
