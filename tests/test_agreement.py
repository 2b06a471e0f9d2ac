"""Agreement between people: every coefficient against published worked examples, tables worked
out by hand, the ``krippendorff`` package and a plain per-item implementation of Gwet's formulas;
degenerate inputs; and the ratings read from a real store built through the Store API."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import krippendorff
import numpy as np
import pytest

from vhd_gui import agreement, metrics
from vhd_gui.agreement import ItemRatings, between_people, group_agreement
from vhd_gui.record import DebateRecord
from vhd_gui.store import Store

Matrix = Sequence[Sequence[str | None]]  # items × raters


def as_items(matrix: Matrix, raters: Sequence[str] | None = None) -> list[tuple[dict[str, str | None], str | None, str | None]]:
    names = raters or [f"r{j}" for j in range(len(matrix[0]))]
    return [({names[j]: v for j, v in enumerate(row)}, None, None) for row in matrix]


def values_of(matrix: Matrix) -> list[str]:
    return sorted({v for row in matrix for v in row if v is not None})


# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the example with missing
# values: 4 observers, 12 units, values 1-5. Gwet's handbook (4th ed.) uses the same ratings.
# Published: nominal alpha 0.743; Gwet's AC1 0.77544 (pa 0.81818, pe 0.19032), Fleiss' kappa
# 0.76117 (pe 0.23872).
KRIPPENDORFF_2011 = [
    [1, 1, None, 1],
    [2, 2, 3, 2],
    [3, 3, 3, 3],
    [3, 3, 3, 3],
    [2, 2, 2, 2],
    [1, 2, 3, 4],
    [4, 4, 4, 4],
    [1, 1, 2, 1],
    [2, 2, 2, 2],
    [None, 5, 5, 5],
    [None, None, 1, 1],
    [None, None, 3, None],
]


def test_published_example_with_missing_ratings() -> None:
    matrix = [[None if v is None else str(v) for v in row] for row in KRIPPENDORFF_2011]
    g = group_agreement("example", as_items(matrix), values_of(matrix), resamples=200, seed=1)
    assert g.items == 12 and g.multi == 11
    assert g.percent.value == pytest.approx(0.81818, abs=5e-6)
    assert g.fleiss.value == pytest.approx(0.76117, abs=5e-6)
    assert g.ac1.value == pytest.approx(0.77544, abs=5e-6)
    assert g.alpha.value == pytest.approx(0.743, abs=5e-4)
    for e in (g.percent, g.fleiss, g.alpha, g.ac1):
        assert e.ci is not None and e.ci[0] <= e.value <= e.ci[1]  # type: ignore[operator]


# The worked example of the Wikipedia article on Fleiss' kappa: 10 subjects, 14 ratings each,
# 5 categories (counts per category). Published: P = 0.378, Pe = 0.213, kappa = 0.210.
FLEISS_COUNTS = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def test_fleiss_worked_example() -> None:
    matrix = [[str(c) for c, k in enumerate(counts, start=1) for _ in range(k)] for counts in FLEISS_COUNTS]
    g = group_agreement("fleiss", as_items(matrix), values_of(matrix), resamples=0, seed=1)
    assert g.percent.value == pytest.approx(0.378, abs=5e-4)
    assert g.fleiss.value == pytest.approx(0.210, abs=5e-4)
    assert g.fleiss.ci is None  # no resamples asked


# Wikipedia's Cohen's kappa example (also the model-vs-human CLI test's): 50 items,
# yes/yes 20, yes/no 5, no/yes 10, no/no 15 → kappa 0.4. AC1 worked by hand:
# pi_yes = (25/50 + 30/50) / 2 = 0.55, pe = 2 * 0.55 * 0.45 = 0.495, AC1 = (0.7 - 0.495) / 0.505.
def cells_matrix(yy: int, yn: int, ny: int, nn: int) -> list[list[str | None]]:
    return [["yes", "yes"]] * yy + [["yes", "no"]] * yn + [["no", "yes"]] * ny + [["no", "no"]] * nn


def test_cohen_kappa_and_two_rater_ac1_by_hand() -> None:
    g = group_agreement("pair", as_items(cells_matrix(20, 5, 10, 15), ["ann", "bob"]), ["no", "yes"], resamples=500, seed=3)
    (pair,) = g.pairs
    assert (pair.a, pair.b, pair.n) == ("ann", "bob", 50)
    assert pair.agree.value == pytest.approx(0.7)
    assert pair.kappa.value == pytest.approx(0.4)
    assert pair.ac1.value == pytest.approx(0.205 / 0.505)
    # Two raters, nothing missing: percent agreement is the pair's; Fleiss' kappa is Scott's pi.
    assert g.percent.value == pytest.approx(0.7)
    scott_pe = 0.55**2 + 0.45**2
    assert g.fleiss.value == pytest.approx((0.7 - scott_pe) / (1 - scott_pe))
    # The same table, bootstrapped the way metrics.py does it, gives a comparable interval.
    ours = pair.kappa.ci
    theirs = metrics.bootstrap_intervals(metrics.Confusion(20, 5, 10, 15))["kappa"]
    assert ours is not None and theirs is not None
    assert abs(ours[0] - theirs[0]) < 0.08 and abs(ours[1] - theirs[1]) < 0.08


def test_kappa_paradox_ac1_stays_high() -> None:
    """91 % agreement on a rare class: kappa 0.135 by hand, AC1 0.900 (pe = 2 * 0.055 * 0.945)."""
    g = group_agreement("rare", as_items(cells_matrix(1, 4, 5, 90)), ["no", "yes"], resamples=0, seed=1)
    (pair,) = g.pairs
    assert pair.kappa.value == pytest.approx((0.91 - 0.896) / 0.104)
    assert pair.ac1.value == pytest.approx((0.91 - 0.10395) / 0.89605)
    assert g.ac1.value is not None and g.alpha.value is not None and g.ac1.value > 0.85 > 0.2 > g.alpha.value


def random_matrix(rng: random.Random, items: int, raters: int, values: Sequence[str], missing: float) -> list[list[str | None]]:
    out = []
    for _ in range(items):
        truth = rng.choice(values)
        row = [None if rng.random() < missing else (truth if rng.random() < 0.7 else rng.choice(values)) for _ in range(raters)]
        out.append(row)
    return out


def gwet_by_items(matrix: Matrix, values: Sequence[str]) -> tuple[float, float, float]:
    """(percent agreement, Fleiss' kappa, AC1) item by item, as Gwet's handbook writes them."""
    q = len(values)
    rated = [[v for v in row if v is not None] for row in matrix]
    rated = [r for r in rated if r]
    multi = [r for r in rated if len(r) >= 2]
    pa = sum(sum(r.count(c) * (r.count(c) - 1) for c in values) / (len(r) * (len(r) - 1)) for r in multi) / len(multi)
    pi = [sum(r.count(c) / len(r) for r in rated) / len(rated) for c in values]
    pe_f = sum(p * p for p in pi)
    pe_g = sum(p * (1 - p) for p in pi) / (q - 1)
    return pa, (pa - pe_f) / (1 - pe_f), (pa - pe_g) / (1 - pe_g)


@pytest.mark.parametrize("seed", range(6))
def test_against_krippendorff_package_and_gwet_item_by_item(seed: int) -> None:
    rng = random.Random(seed)
    values = ["no", "yes"] if seed % 2 else ["no", "gore", "violence", "drugs"]
    matrix = random_matrix(rng, items=rng.randint(20, 300), raters=rng.randint(2, 6), values=values, missing=0.4)
    matrix = [row for row in matrix if any(v is not None for v in row)]
    g = group_agreement("random", as_items(matrix), values, resamples=0, seed=1)
    codes = np.array([[np.nan if v is None else values.index(v) for v in row] for row in matrix], dtype=float).T
    assert g.alpha.value == pytest.approx(krippendorff.alpha(reliability_data=codes, level_of_measurement="nominal"), abs=1e-9)
    pa, fleiss, ac1 = gwet_by_items(matrix, values)
    assert g.percent.value == pytest.approx(pa) and g.fleiss.value == pytest.approx(fleiss) and g.ac1.value == pytest.approx(ac1)
    # Each pair's kappa matches the model-vs-human code's (binary) on the items both rated.
    if len(values) == 2:
        for p in g.pairs:
            a, b = int(p.a[1:]), int(p.b[1:])
            pairs = [(row[a], row[b]) for row in matrix if row[a] is not None and row[b] is not None]
            c = metrics.Confusion.from_pairs(pairs)  # type: ignore[arg-type]
            assert p.n == c.n
            if metrics.cohen_kappa(c) is not None:
                assert p.kappa.value == pytest.approx(metrics.cohen_kappa(c))


def test_intervals_are_seeded_and_narrow_with_more_items() -> None:
    rng = random.Random(7)
    small = random_matrix(rng, 40, 3, ["no", "yes"], 0.2)
    big = random_matrix(rng, 4000, 3, ["no", "yes"], 0.2)
    a1 = group_agreement("s", as_items(small), ["no", "yes"], resamples=400, seed=5)
    a2 = group_agreement("s", as_items(small), ["no", "yes"], resamples=400, seed=5)
    assert a1 == a2
    b = group_agreement("b", as_items(big), ["no", "yes"], resamples=400, seed=5)
    for attr in ("percent", "fleiss", "alpha", "ac1"):
        lo_s, hi_s = getattr(a1, attr).ci
        lo_b, hi_b = getattr(b, attr).ci
        assert hi_b - lo_b < (hi_s - lo_s) / 3
        assert lo_b <= getattr(b, attr).value <= hi_b


# --------------------------------------------------------------------------- degenerate inputs


def rating(people: dict[str, tuple[str, str]], kind: str = "image", model: tuple[str, str] | None = None, path: str = "x.png") -> ItemRatings:
    return ItemRatings(path, kind, people, model, None)


def test_nothing_and_one_reviewer_say_why() -> None:
    empty = between_people([])
    assert not empty.comparable and empty.items == 0
    assert "no item has a person's decision yet" in agreement.not_comparable_message(empty)
    one = between_people([rating({"ann": ("yes", "gore")}, model=("yes", "gore")), rating({"ann": ("no", "")}, model=("yes", "x"))])
    assert not one.comparable
    assert one.overall.fleiss == agreement.Estimate(None, None, "fewer than two reviewers")
    assert "only one reviewer (ann)" in agreement.not_comparable_message(one)
    # The model can still be compared with the one person.
    (vs_ann,) = one.overall.model
    assert (vs_ann.b, vs_ann.n, vs_ann.agree.value) == ("ann", 2, 0.5)
    assert "not defined" in agreement.format_group(one.overall, "people")


def test_reviewers_without_a_shared_item() -> None:
    a = between_people([rating({"ann": ("yes", "")}), rating({"bob": ("no", "")})])
    assert not a.comparable and a.overall.pairs == ()
    assert a.overall.percent.why == "no item was decided by two or more people"
    assert "2 reviewers (ann, bob) but no item decided by two of them" in agreement.not_comparable_message(a)


def test_all_one_label_kappa_and_alpha_undefined_ac1_is_one() -> None:
    rows = [rating({"ann": ("no", ""), "bob": ("no", "")}) for _ in range(5)]
    g = between_people(rows, resamples=50).overall
    assert g.percent.value == 1.0 and g.ac1.value == 1.0
    assert g.fleiss.value is None and g.fleiss.why == "every rating has the same value"
    assert g.alpha.value is None and "same value" in g.alpha.why
    (pair,) = g.pairs
    assert pair.kappa.value is None and pair.kappa.why and pair.ac1.value == 1.0
    text = agreement.format_group(g, "harmful or not")
    assert "nan" not in text.lower() and "not defined: every rating has the same value" in text
    data = g.to_json()
    assert data["fleiss_kappa"] == {"value": None, "ci": None, "why_undefined": "every rating has the same value"}


# --------------------------------------------------------------------------- kinds, categories, the model


def test_groups_by_kind_and_category_and_the_model() -> None:
    rows = [
        ItemRatings("a.png", "image", {"ann": ("yes", "Violence."), "bob": ("yes", "violence")}, ("yes", "violence"), ("yes", "Violence.")),
        ItemRatings("b.png", "image", {"ann": ("yes", "gore"), "bob": ("yes", "violence")}, ("no", ""), ("yes", "gore")),
        ItemRatings("c.mp4", "video", {"ann": ("no", ""), "bob": ("no", "")}, ("no", ""), ("no", "")),
        ItemRatings("d.mp4", "video", {"ann": ("no", ""), "bob": ("yes", "gore")}, ("yes", "gore"), ("no", "")),
    ]
    a = between_people(rows, resamples=100)
    assert a.comparable and a.reviewers == {"ann": 4, "bob": 4}
    assert a.overall.percent.value == pytest.approx(0.75)
    assert list(a.by_kind) == ["image", "video"]
    assert a.by_kind["image"].percent.value == 1.0 and a.by_kind["video"].percent.value == 0.5
    # "Violence." and "violence" are one category, shown as people spelled it most.
    assert set(a.by_category) == {"violence", "gore"}
    violence = a.by_category["violence"]  # ann: yes no no no, bob: yes yes no no
    assert violence.percent.value == pytest.approx(0.75)
    assert a.label_and_category.percent.value == pytest.approx(0.5)  # items a and c agree on both
    vs = {p.b: p for p in a.overall.model}
    assert list(vs) == ["ann", "bob", agreement.FINAL]
    assert vs["ann"].agree.value == pytest.approx(0.5) and vs["bob"].agree.value == pytest.approx(0.75)
    assert vs[agreement.FINAL].agree.value == pytest.approx(0.5)
    data = a.to_json()
    assert data["overall"]["pairs"][0]["kappa"]["value"] == pytest.approx(a.overall.pairs[0].kappa.value)
    assert data["comparable"] is True and data["message"] is None


# --------------------------------------------------------------------------- from a real store


def verdict(path: str, decision: str, category: str = "", kind: str = "image") -> DebateRecord:
    return DebateRecord(path=path, kind=kind, status="debated", decision=decision, harmful_type=category)


def test_ratings_from_a_store(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    with Store.for_folder(folder) as store:
        store.record_debate(verdict("a.png", "yes", "gore"))
        store.record_debate(verdict("b.mp4", "no", kind="video"))
        store.record_debate(verdict("c.png", "yes", "drugs"))  # nobody decides it
        store.add_item("d.png", "image")  # no debate, two people
        store.record_decision("a.png", "yes", "gore", reviewer="ann")
        store.record_decision("a.png", "no", reviewer="bob")
        store.record_decision("b.mp4", "yes", "violence", reviewer="ann")
        store.record_decision("b.mp4", "no", reviewer="bob")
        store.undo_decision("b.mp4", reviewer="ann")  # takes back ann's label only
        store.record_decision("d.png", "no", reviewer="ann")
        store.record_decision("d.png", "no", reviewer="")
        rows = agreement.read_ratings(store)
    by_path = {r.path: r for r in rows}
    assert list(by_path) == ["a.png", "b.mp4", "d.png"]
    assert by_path["a.png"].people == {"ann": ("yes", "gore"), "bob": ("no", "")}
    assert by_path["a.png"].model == ("yes", "gore") and by_path["a.png"].final is not None
    assert by_path["b.mp4"].people == {"bob": ("no", "")} and by_path["b.mp4"].kind == "video"
    assert by_path["d.png"].model is None and set(by_path["d.png"].people) == {"ann", ""}
    a = between_people(rows, resamples=50)
    assert a.reviewers == {"ann": 2, "bob": 2, agreement.UNNAMED: 1}
    assert {(p.a, p.b) for p in a.overall.pairs} == {("ann", "bob"), (agreement.UNNAMED, "ann")}
