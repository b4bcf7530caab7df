import json
from pathlib import Path

import torch

from codings import tour
from codings.cli import build_parser, main


def test_the_tour_runs_every_step_and_writes_its_figures(tmp_path, capsys):
    torch.set_num_threads(2)
    assert main(["tour", "--out", str(tmp_path), "--json"]) == 0
    assert torch.get_num_threads() == 2  # the tour's single thread is not left behind
    result = json.loads(capsys.readouterr().out)
    assert result["budgets"] == "quick"
    rows = {(r["step"], r["measure"]): r["value"] for r in result["rows"]}
    assert rows[("linear AE vs PCA (iris)", "MSE ratio")] <= 1.01
    assert rows[("linear AE vs PCA (iris)", "max angle (deg)")] <= 1.0
    # The stacked autoencoder beats PCA with as many components on the digits, even at the
    # quick budget, and the table says that budget.
    stacked = next(r for r in result["rows"] if r["step"].startswith("tied stacked AE"))
    assert stacked["value"] < float(stacked["reference"].split(":")[1].split(";")[0])
    assert "--full: 150" in stacked["reference"]
    # What the quick budgets still show: denoising helps, pretraining helps with 50 labels, the
    # codings of both generative models are near their prior.
    assert rows[("denoising sparse AE (digits)", "noisy MSE / plain")] <= 0.8
    frozen = rows[("classifier, 50 labels (digits)", "frozen accuracy")]
    assert frozen > rows[("classifier, 50 labels (digits)", "scratch accuracy")]
    assert rows[("vae (digits)", "MMD^2 codings-prior")] < 0.05
    assert rows[("aae (digits)", "MMD^2 codings-prior")] < 0.05
    assert len(result["figures"]) >= 10
    for f in result["figures"]:
        assert Path(f).stat().st_size > 1000, f
    # The page to open: every figure (inlined: the page travels alone), every row of the table.
    page = Path(result["page"])
    assert page == tmp_path / "index.html"
    text = page.read_text(encoding="utf-8")
    for f in result["figures"]:
        assert "base64," in text and f'alt="{Path(f).name}"' in text
    assert text.count("<tr><td>") == len(result["rows"])
    for r in result["rows"]:
        assert f'<td class="n">{r["value"]:.6g}</td>' in text
    assert "<script" not in text


def test_each_step_is_announced_as_it_starts_and_timed_as_it_ends(tmp_path, monkeypatch):
    seen = []

    def first(t):
        seen.append(("first", t.demo, torch.get_num_threads()))
        t.say("the first step")
        return [("a", "b", 1.0, "")]

    def second(t):
        seen.append(("second", t.demo, torch.get_num_threads()))
        t.say("the second step")
        return []

    monkeypatch.setattr(tour, "STEPS", [first, second])
    lines: list[str] = []
    torch.set_num_threads(2)
    result = tour.run_tour(tmp_path, log=lines.append)
    assert torch.get_num_threads() == 2
    assert seen == [("first", True, 1), ("second", True, 1)]  # quick, single-threaded
    # The folder is a run: its measures as metrics, its options, its lock released.
    from codings.runs import Run

    assert json.loads((tmp_path / "metrics.json").read_text()) == {"a: b": 1.0}
    assert json.loads((tmp_path / "options.json").read_text())["options"]["dataset"] == "digits"
    with Run.create(tmp_path, exist_ok=True):
        pass
    starts = [i for i, s in enumerate(lines) if s.endswith("step")]
    assert [lines[i] for i in starts] == ["1/2. the first step", "2/2. the second step"]
    done = [i for i, s in enumerate(lines) if " done in " in s]
    assert [lines[i].split(" done")[0] for i in done] == ["   step 1", "   step 2"]
    assert starts[0] < done[0] < starts[1] < done[1]  # each ends before the next starts
    assert result["budgets"] == "quick"
    assert any("--full" in s for s in lines)
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "<h2>1/2. the first step</h2>" in page and "<h2>2/2. the second step</h2>" in page
    assert '<tr><td>a</td><td>b</td><td class="n">1</td><td></td></tr>' in page
    assert lines[-2].endswith(f"open {tmp_path / 'index.html'}")  # the last says the budgets

    seen.clear()
    assert tour.run_tour(tmp_path, log=None, full=True)["budgets"] == "full"
    assert [s[1] for s in seen] == [False, False]


def test_full_is_a_flag_of_the_tour_command():
    parser = build_parser()
    assert parser.parse_args(["tour", "--full"]).full is True
    assert parser.parse_args(["tour"]).full is False
