"""`vhd-annotator metrics` as a subprocess: the table, the stable JSON keys, --by, --against on
a generated VHD11K CSV, and the exit codes."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vhd_gui.record import DebateRecord, EndpointInfo
from vhd_gui.store import Store

REPO = Path(__file__).resolve().parents[1]
KEYS = ["n", "acc_harmful", "acc_unharmful", "acc_mean", "precision", "recall", "f1", "kappa"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "vhd_gui", "metrics", *args], capture_output=True, text=True, env=env, cwd=REPO)


def verdict(path: str, decision: str, kind: str = "image") -> DebateRecord:
    return DebateRecord(
        path=path,
        kind=kind,
        status="debated",
        decision=decision,
        harmful_type="violence" if decision == "yes" else "",
        endpoints={"judge": EndpointInfo("http://localhost:8000/v1", "gpt-4o")},
        preset_name="vhd11k-image",
    )


# Wikipedia's kappa example: (human, model) → count; κ = 0.4
CELLS = {("yes", "yes"): 20, ("yes", "no"): 5, ("no", "yes"): 10, ("no", "no"): 15}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    with Store.for_folder(folder) as store, store.transaction():
        i = 0
        for (human, model), count in CELLS.items():
            for _ in range(count):
                path = f"set/{'clip' if i % 5 == 0 else 'pic'}_{i:03}.{'mp4' if i % 5 == 0 else 'png'}"
                store.record_debate(verdict(path, model, "video" if i % 5 == 0 else "image"))
                store.record_decision(path, human, category="gore" if human == "yes" and i % 2 else ("violence" if human == "yes" else ""))
                i += 1
        store.record_debate(verdict("set/unreviewed.png", "yes"))
    return folder / ".vhd-annotator" / "annotations.sqlite"


def test_table(project: Path) -> None:
    result = run("--store", str(project))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "model verdict vs human decision: 50 items with both" in out
    assert "accuracy on harmful       80.0 %  [60.9, 91.1]" in out  # Wilson for 20/25
    assert "Cohen's kappa              0.400" in out
    assert "  human yes            20          5" in out and "  human no             10         15" in out


def test_json_has_the_stable_keys(project: Path) -> None:
    result = run("--store", str(project), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    for key in KEYS:
        assert key in data
        if key != "n":
            assert isinstance(data[key + "_ci"], list) and len(data[key + "_ci"]) == 2
    assert data["n"] == 50 and data["kappa"] == pytest.approx(0.4) and data["acc_mean"] == pytest.approx(0.7)
    assert data["confusion"] == {"yes": {"yes": 20, "no": 5}, "no": {"yes": 10, "no": 15}}
    assert data["acc_harmful_ci"] == pytest.approx([0.6087, 0.9114], abs=1e-4)
    assert json.loads(run("--store", str(project), "--json").stdout) == data  # seeded: same every run


@pytest.mark.parametrize("by", ["kind", "category", "model"])
def test_by(project: Path, by: str) -> None:
    result = run("--store", str(project), "--json", "--by", by)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["by"] == by and sum(g["n"] for g in data["groups"].values()) == 50
    expected = {"kind": {"image", "video"}, "category": {"gore", "violence", "(not harmful)"}, "model": {"gpt-4o / vhd11k-image"}}
    assert set(data["groups"]) == expected[by]
    table = run("--store", str(project), "--by", by).stdout
    assert f"\n{by}" in table and "kappa" in table


def test_against_a_generated_vhd11k_csv(project: Path, tmp_path: Path) -> None:
    # Another team's labels for the same files, written with other folders, as VHD11K publishes
    # them: they call everything the store's model found harmful harmful, except pic_001 (the
    # first of the model's yes verdicts); a row for a file the store lacks; the unreviewed item.
    with Store.open(project) as store:
        rows = store.verdict_rows()
    lines = []
    for r in rows:
        label = r.model_label
        if r.path == "set/pic_001.png":
            label = "no"
        lines.append([f"/data/VHD11K/harmful_images/{r.path.split('/')[-1]}", label, "violence" if label == "yes" else "fine"])
    lines.append(["/data/VHD11K/missing.png", "yes", "gore"])
    target = tmp_path / "theirs.csv"
    with target.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["imagePath", "decision", "harmfulType", "affirmativeDebater_argument_0", "negativeDebater_argument_0"])
        writer.writerows(row + ["None", "None"] for row in lines)

    result = run("--store", str(project), "--against", str(target), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    # 51 store items with a model verdict, all matched by name; one disagreement (pic_001)
    assert data["against"]["matched"] == 51 and data["against"]["unmatched"] == 1
    assert data["n"] == 51
    assert data["confusion"] == {"yes": {"yes": 30, "no": 0}, "no": {"yes": 1, "no": 20}}
    text = run("--store", str(project), "--against", str(target)).stdout
    assert "52 rows, 51 matched to items in the store, 1 without a matching item" in text
    assert f"model verdict vs labels in {target}: 51 items with both" in text


def test_no_items_with_both_is_said_plainly(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    with Store.for_folder(tmp_path / "p") as store:
        store.record_debate(verdict("a.png", "yes"))
        path = store.path
    result = run("--store", str(path))
    assert result.returncode == 0
    assert result.stdout.strip() == (
        "No item has both a model verdict and a human decision yet (1 items, 1 with a model verdict, 0 with a human decision)."
    )
    data = json.loads(run("--store", str(path), "--json").stdout)
    assert data["n"] == 0 and data["kappa"] is None and data["kappa_ci"] is None and data["acc_mean"] is None
    assert data["confusion"] == {"yes": {"yes": 0, "no": 0}, "no": {"yes": 0, "no": 0}}


def test_usage_errors_exit_2_with_one_line(project: Path, tmp_path: Path) -> None:
    for args, reason in (
        (["--store", str(tmp_path / "nope.sqlite")], "no annotation store at"),
        (["--store", str(tmp_path)], "is a folder"),
        (["--store", str(project), "--against", str(tmp_path / "gone.csv")], "--against: no such file"),
    ):
        result = run(*args)
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1 and reason in result.stderr and result.stdout == ""
    bad = tmp_path / "bad.csv"
    bad.write_text("name,label\na.png,yes\n", encoding="utf-8")
    result = run("--store", str(project), "--against", str(bad))
    assert result.returncode == 2 and "no imagePath or videoPath column" in result.stderr
    assert not (tmp_path / "nope.sqlite").exists()  # a missing store is not created
