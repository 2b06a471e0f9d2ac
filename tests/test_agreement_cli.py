"""`vhd-annotator metrics --between reviewers` as a subprocess on real SQLite stores filled
through the Store API: the table, the JSON, --by, the one line when people cannot be compared,
and the options that do not apply."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vhd_gui.record import DebateRecord
from vhd_gui.store import Store

REPO = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "vhd_gui", "metrics", *args], capture_output=True, text=True, env=env, cwd=REPO)


# Wikipedia's Cohen's kappa table, as (ann, bob) → items: kappa 0.4, agreement 70 %.
CELLS = {("yes", "yes"): 20, ("yes", "no"): 5, ("no", "yes"): 10, ("no", "no"): 15}


def make_store(folder: Path, people: dict[str, list[tuple[str, str, str]]], kinds: dict[str, str] | None = None) -> Path:
    """``people``: reviewer → (path, label, category) decisions; the model says yes on every item."""
    folder.mkdir()
    paths = sorted({path for decisions in people.values() for path, _, _ in decisions})
    with Store.for_folder(folder) as store:
        with store.transaction():
            for path in paths:
                kind = (kinds or {}).get(path, "image")
                store.record_debate(DebateRecord(path=path, kind=kind, status="debated", decision="yes", harmful_type="violence"))
        for reviewer, decisions in people.items():
            for path, label, category in decisions:
                store.record_decision(path, label, category, reviewer=reviewer)
        return store.path


@pytest.fixture
def two_people(tmp_path: Path) -> Path:
    ann, bob = [], []
    kinds = {}
    i = 0
    for (a, b), count in CELLS.items():
        for _ in range(count):
            path = f"set/item_{i:03}.{'mp4' if i % 5 == 0 else 'png'}"
            kinds[path] = "video" if i % 5 == 0 else "image"
            ann.append((path, a, "violence" if a == "yes" else ""))
            bob.append((path, b, ("Violence." if i % 2 else "gore") if b == "yes" else ""))
            i += 1
    ann.append(("set/only_ann.png", "no", ""))
    return make_store(tmp_path / "project", {"ann": ann, "bob": bob}, kinds)


def test_table(two_people: Path) -> None:
    result = run("--store", str(two_people), "--between", "reviewers")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Agreement between people: 2 reviewers (items decided: ann 51, bob 50)" in out
    assert "harmful or not: 51 items decided by people, 50 by two or more (2 reviewers)" in out
    assert "percent agreement      70.0 % [" in out
    pair_line = next(line for line in out.splitlines() if line.strip().startswith("ann / bob"))
    assert "  50  70.0 % [" in pair_line and "0.400 [" in pair_line
    # The model said yes everywhere: it agrees with ann on her 25 harmful items of 51.
    model_line = next(line for line in out.splitlines() if line.strip().startswith("ann ") and "/" not in line and "%" in line)
    assert "51  49.0 %" in model_line
    assert "final label" in out
    assert "percentile bootstrap over items (1000 resamples" in out


def test_json_and_seeded(two_people: Path) -> None:
    result = run("--store", str(two_people), "--between", "reviewers", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["between"] == "reviewers" and data["comparable"] is True and data["message"] is None
    assert data["reviewers"] == {"ann": 51, "bob": 50} and data["items"] == 51
    overall = data["overall"]
    for key in ("percent_agreement", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1"):
        assert set(overall[key]) == {"value", "ci", "why_undefined"}
        lo, hi = overall[key]["ci"]
        assert lo <= overall[key]["value"] <= hi
    (pair,) = overall["pairs"]
    assert (pair["a"], pair["b"], pair["n"]) == ("ann", "bob", 50)
    assert pair["kappa"]["value"] == pytest.approx(0.4) and pair["agree"]["value"] == pytest.approx(0.7)
    assert [m["b"] for m in overall["model"]] == ["ann", "bob", "final label"]
    assert "groups" not in data
    assert json.loads(run("--store", str(two_people), "--between", "reviewers", "--json").stdout) == data


def test_by_kind_and_category(two_people: Path) -> None:
    result = run("--store", str(two_people), "--between", "reviewers", "--by", "category")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    start = lines.index("by category (harmful with it vs not)")
    names = [line.split()[0] for line in lines[start + 2 :] if line.strip() and not line.startswith("95%")]
    assert names == ["violence", "gore"]  # "Violence." is violence; the largest category first
    data = json.loads(run("--store", str(two_people), "--between", "reviewers", "--by", "kind", "--json").stdout)
    assert data["by"] == "kind" and set(data["groups"]) == {"image", "video"}
    assert data["groups"]["video"]["items"] == 10 and data["groups"]["image"]["items"] == 41


def test_one_reviewer_and_no_shared_item_one_line(tmp_path: Path) -> None:
    one = make_store(tmp_path / "one", {"ann": [("a.png", "yes", "gore"), ("b.png", "no", "")]})
    result = run("--store", str(one), "--between", "reviewers")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Agreement between people needs two reviewers who decided the same items: only one reviewer (ann) has decided items."
    ]
    data = json.loads(run("--store", str(one), "--between", "reviewers", "--json").stdout)
    assert data["comparable"] is False and data["overall"]["fleiss_kappa"]["why_undefined"] == "fewer than two reviewers"
    apart = make_store(tmp_path / "apart", {"ann": [("a.png", "yes", "")], "bob": [("b.png", "no", "")]})
    result = run("--store", str(apart), "--between", "reviewers")
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 1
    assert "2 reviewers (ann, bob) but no item decided by two of them" in result.stdout


def test_options_that_do_not_apply(two_people: Path, tmp_path: Path) -> None:
    result = run("--store", str(two_people), "--between", "reviewers", "--by", "model")
    assert result.returncode == 2 and "splits by kind or category, not by model" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    other = tmp_path / "labels.csv"
    other.write_text("imagePath,decision,harmfulType\nset/item_000.mp4,yes,gore\n")
    result = run("--store", str(two_people), "--between", "reviewers", "--against", str(other))
    assert result.returncode == 2 and "does not apply to --between reviewers" in result.stderr
    result = run("--store", str(tmp_path / "missing.sqlite"), "--between", "reviewers")
    assert result.returncode == 2 and "no annotation store" in result.stderr
    result = run("--store", str(two_people), "--between", "people")
    assert result.returncode == 2 and "invalid choice" in result.stderr
