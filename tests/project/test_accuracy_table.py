"""benchmarks/accuracy_table.py's recommended settings: by source-val, and with --reverse-val by the lowest
mean reverse-validation risk of the candidates' final checkpoints (scored through dann eval select's cache)."""
from __future__ import annotations

import json
from pathlib import Path

from benchmarks import accuracy_table


def test_reverse_val_recommends_the_candidate_with_the_lowest_mean_risk(tmp_path, monkeypatch):
    scored = []

    def fake_score(run_dir, step, name, registry=None, **_):
        config = json.loads((Path(run_dir) / "config.json").read_text())
        scored.append((name, step, config["method_options"].get("lambda")))
        return 0.1 if config["method_options"].get("lambda") == 1 else 0.3  # dann[lambda=1] "reverses" better

    monkeypatch.setattr("dann_evaluation.report.candidate_score", fake_score)
    code = accuracy_table.main(["--only", "moons", "--methods", "dann", "--seeds", "0", "--override", "moons.steps=20",
                                "--override", "moons.eval_every=10", "--reverse-val", "--out", str(tmp_path / "runs"),
                                "--write-prefix", str(tmp_path / "table")])
    assert code == 0
    assert sorted(scored) == [("reverse-val", 20, 1), ("reverse-val", 20, 6.0)]  # each candidate's final step, once
    line = next(line for line in (tmp_path / "table.md").read_text().splitlines() if line.startswith("| moons | dann |"))
    cells = [cell.strip() for cell in line.strip("|").split("|")]
    assert cells[5] == "dann[lambda=1]"  # by reverse-val
    assert "dann[lambda=1]" in cells[7] and "/ 0.1000 /" in cells[7] and "/ 0.3000 /" in cells[7]
    assert "--reverse-val" in (tmp_path / "table.md").read_text()
