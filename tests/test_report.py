"""The report page, opened as a person would: headless Chromium through Selenium.

The browser tests need Chromium, its driver and selenium (`.ci/run` installs them where they
are missing and sets CODINGS_REQUIRE_BROWSER=1, so that in CI a missing browser fails rather
than skips).
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from codings.cli import main
from codings.report import image, page, write_report
from codings.runs import Run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser():
    missing = [n for n, ok in (("chromium", CHROMIUM), ("chromedriver", DRIVER)) if not ok]
    try:
        from selenium import webdriver
    except ImportError:
        missing.append("selenium")
    if missing:
        why = f"no {', '.join(missing)} (apt-get install chromium chromium-driver)"
        if os.environ.get("CODINGS_REQUIRE_BROWSER"):
            pytest.fail(why)
        pytest.skip(why)
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium fetch a driver
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,900"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(DRIVER))
    yield driver
    driver.quit()


def look(driver, path: Path) -> list[str]:
    """What a person would see wrong on the page at ``path``: console errors, images that did
    not decode, no metrics table, a blank screen. [] when nothing is."""
    from matplotlib.image import imread

    driver.get(path.resolve().as_uri())
    problems = [f"console: {e['message']}" for e in driver.get_log("browser")]
    problems = [p for p in problems if "favicon.ico" not in p]  # file:// pages have none
    images = driver.execute_script(
        "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt]);"
    )
    problems += [f"image not decoded: {alt}" for done, width, alt in images if not (done and width)]
    if not driver.execute_script("return document.querySelectorAll('table#metrics td').length"):
        problems.append("no metrics table")
    shot = imread(io.BytesIO(driver.get_screenshot_as_png()), format="png")[..., :3]
    if shot.std() < 0.01:
        problems.append("blank screenshot")
    return problems


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    args = ["train", "stacked", "--dataset", "digits", "--hidden", "16,8", "--epochs", "3"]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    return out


def test_train_writes_a_report_and_the_browser_sees_every_part_of_it(run_dir, browser, capsys):
    report = run_dir / "report.html"
    assert report.exists()
    assert look(browser, report) == []
    n_images = browser.execute_script("return document.images.length")
    # learning curves + the run's figures (reconstructions, filters)
    assert n_images == 1 + len([p for p in run_dir.glob("*.png") if p.name != "curves.png"])
    text = browser.find_element("tag name", "body").text
    run = Run.open(run_dir)
    assert f"{sum(p.numel() for p in run.model.parameters()):,} parameters" in text
    assert "val_mse" in text and "fingerprint" in text and "batch_size" in text


def test_the_report_is_one_file_that_needs_no_network(run_dir, tmp_path):
    out = write_report(run_dir, tmp_path / "alone.html")
    html = out.read_text()
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert 'src="data:image/png;base64,' in html
    shutil.copy(out, tmp_path / "moved.html")  # nothing relative to the run's folder


def test_the_checker_fails_on_a_missing_image_and_on_a_console_error(browser, tmp_path):
    png = tmp_path / "fig.png"
    from codings.plots import _plt

    plt = _plt()
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot(np.arange(5))
    fig.savefig(png)
    plt.close(fig)
    good = page(
        "good",
        [image(png), '<table id="metrics"><tr><td>1</td></tr></table>'],
        tmp_path / "good.html",
    )
    assert look(browser, good) == []
    broken = page(
        "broken",
        [
            '<p><img src="data:image/png;base64,AAAA" alt="lost"></p>',
            '<table id="metrics"><tr><td>1</td></tr></table>',
        ],
        tmp_path / "broken.html",
    )
    assert look(browser, broken) == ["image not decoded: lost"]
    failing = page("script", ["<script>undefined_function()</script>"], tmp_path / "s.html")
    problems = look(browser, failing)
    assert any(p.startswith("console:") and "undefined_function" in p for p in problems)
    assert "no metrics table" in problems


def test_the_tour_page_is_made_the_same_way(browser, tmp_path):
    from codings.plots import _plt
    from codings.tour import Tour, write_page

    plt = _plt()
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot(np.arange(5))
    fig.savefig(tmp_path / "step.png")
    plt.close(fig)
    t = Tour(out=tmp_path / "tour", log=None)
    t.out.mkdir()
    sections = [(["1/1. A step", "   a line it said"], [str(tmp_path / "step.png")])]
    path = write_page(t, sections, [("a step", "a measure", 0.5, "a reference")], 1.0)
    assert 'src="data:image/png;base64,' in path.read_text()  # inlined: the page travels alone
    assert look(browser, path) == []


def test_codings_report_writes_the_page_where_asked(run_dir, tmp_path, capsys):
    assert main(["report", str(run_dir), "--out", str(tmp_path / "r.html"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["report"] == str(tmp_path / "r.html") and out["bytes"] > 10_000
    assert main(["report", str(run_dir), "--out", str(run_dir / "model.safetensors")]) == 1
    assert "is the input file" in capsys.readouterr().err
