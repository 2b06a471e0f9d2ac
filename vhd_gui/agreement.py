"""Agreement between people: how well reviewers agree with each other, and the model with them.

No Qt, no SQL. :func:`read_ratings` turns the store's decision histories into one row per item
that a person decided: each reviewer's standing decision (an undo takes back only its own
author's label), the model's verdict (the item's current debate) and the item's final label.
:func:`between_people` computes every figure from those rows.

What is compared (a *scheme* turns each decision into a value):

- **harmful or not**: the label, yes or no. Overall and per kind (image, video).
- **per category C**: "harmful with category C" (label yes and category C) against everything
  else (no, or harmful with another category or none). One group per category people used.
  Categories match after trimming, collapsing blanks, dropping a final full stop and ignoring
  case, so "Violence." and "violence" are one category.
- **label and category**: a nominal value per decision, "no" or the category of a yes (a yes
  without a category is its own value). Overall only.

Figures over all reviewers of a group (items with at least one person's decision; ratings of
the same item by different people form a unit, missing ratings allowed):

- *percent agreement*: over items rated by two or more people, the share of agreeing pairs of
  ratings within the item, averaged over items;
- *Fleiss' kappa* in Gwet's form for missing ratings: chance agreement ``sum_c pi_c**2`` with
  ``pi_c`` the mean over items (rated at least once) of the share of the item's ratings in c;
- *Krippendorff's alpha* (nominal): ``1 - (N - 1) * D_o / sum_{c != k} N_c N_k`` over the
  pairable values (items rated at least twice), ``D_o = sum_u (m_u**2 - sum_c n_uc**2) / (m_u - 1)``;
- *Gwet's AC1*: chance agreement ``sum_c pi_c (1 - pi_c) / (q - 1)`` with the same ``pi_c``.
  Kappa and alpha drop towards 0 when almost every item is "not harmful" even if people agree
  on nearly all of them (the kappa paradox); AC1 and the plain agreement stay near it.

Figures per pair (two reviewers, the model and a reviewer, the model and the final label), on
the items both rated: the share that agree, Cohen's kappa, and Gwet's AC1 for two raters. Pairs
are worked out for "harmful or not" (overall and per kind); the per-category and the label and
category groups give the figures over all reviewers only (20 reviewers make 210 pairs a group).

Intervals: 95 %, a seeded percentile bootstrap over items (:data:`RESAMPLES` resamples).
Every figure depends on the items only through how many items show each *pattern* (who said
what), so a resample of n items with replacement is a draw of the pattern counts (a
multinomial with the observed shares): the bootstrap draws those counts with numpy and
computes each figure for all resamples at once. The figures over all reviewers of a group
share the same resamples of the group's items, so they stay consistent with each other; a
pair's figures resample the items both rated (its q × q table's cells, as the
model-versus-human figures do). Resamples where a figure is undefined are left out of its
interval.

A figure that is not defined says why (one reviewer, no item rated by two, every rating the
same value) instead of being NaN. Only numpy is used; the tests check every formula against the
``krippendorff`` package, a per-item implementation of Gwet's formulas, hand-worked tables and
published worked examples (Krippendorff's reliability data with missing values, as also used in
Gwet's handbook; the Fleiss' kappa example of Wikipedia).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from vhd_gui.store import DecisionEntry, ItemRecord, standing_by_reviewer

RESAMPLES = 1000
DEFAULT_SEED = 20240711  # the same default seed as the model-versus-human figures
LABELS = ("no", "yes")
MODEL = "model"
FINAL = "final label"
UNNAMED = "(unnamed)"  # how a decision without a reviewer name is shown
HARMFUL = "harmful or not"
LABEL_AND_CATEGORY = "label and category"
NO_CATEGORY = "(no category)"

Interval = tuple[float, float]
Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


# --------------------------------------------------------------------------- ratings


@dataclass(frozen=True, slots=True)
class ItemRatings:
    """One item some person decided: who said what, the model and the final label.

    ``people`` maps a reviewer to (label, category); a decision without a reviewer name is
    kept under ''. ``model`` and ``final`` are (label, category) or None.
    """

    path: str
    kind: str
    people: Mapping[str, tuple[str, str]]
    model: tuple[str, str] | None = None
    final: tuple[str, str] | None = None


class _Records(Protocol):
    """What is read from a store: every item's record with its decision history."""

    def iter_records(self, kind: str | None = None, with_history: bool = True) -> Iterator[ItemRecord]: ...


def ratings_of(record: ItemRecord) -> ItemRatings | None:
    """The ratings of one stored item, or None when no person's decision stands on it."""
    standing: dict[str, DecisionEntry] = standing_by_reviewer(record.history)
    people = {name: (e.label, e.category) for name, e in standing.items() if e.label in LABELS}
    if not people:
        return None
    debate = record.debate
    model = None
    if debate is not None and debate.status == "debated" and debate.decision in LABELS:
        model = (debate.decision, debate.harmful_type if debate.decision == "yes" else "")
    final = (record.final_label, record.final_category) if record.final_label in LABELS else None
    return ItemRatings(record.path, record.kind, people, model, final)


def read_ratings(store: _Records) -> list[ItemRatings]:
    """Every item with at least one person's standing decision, in the store's name order."""
    out = []
    for record in store.iter_records(with_history=True):
        if record.history:
            rated = ratings_of(record)
            if rated is not None:
                out.append(rated)
    return out


def category_key(category: str) -> str:
    """The form under which categories are matched: trimmed, single blanks, no final full stop, no case."""
    return " ".join(category.split()).rstrip(".").strip().casefold()


def reviewer_name(name: str) -> str:
    return name or UNNAMED


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Estimate:
    """A figure with its 95 % interval; ``value`` None means not defined, and ``why`` says why."""

    value: float | None
    ci: Interval | None = None
    why: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "ci": list(self.ci) if self.ci is not None else None, "why_undefined": self.why or None}


@dataclass(frozen=True, slots=True)
class PairAgreement:
    """Two raters (reviewers, or the model and a reviewer or the final label) on the items both rated."""

    a: str
    b: str
    n: int
    agree: Estimate
    kappa: Estimate
    ac1: Estimate

    def to_json(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "n": self.n, "agree": self.agree.to_json(), "kappa": self.kappa.to_json(), "ac1": self.ac1.to_json()}


@dataclass(frozen=True, slots=True)
class GroupAgreement:
    """Every figure of one group of items under one scheme."""

    name: str
    items: int  # items in the group with at least one person's decision
    multi: int  # of those, items decided by two or more people
    reviewers: tuple[str, ...]  # people with a decision in the group
    percent: Estimate
    fleiss: Estimate
    alpha: Estimate
    ac1: Estimate
    pairs: tuple[PairAgreement, ...]  # each pair of reviewers with a shared item (harmful or not: overall and per kind)
    model: tuple[PairAgreement, ...]  # the model against each reviewer, then against the final label (idem)

    @property
    def defined(self) -> bool:
        """True when people can be compared at all (two reviewers and a shared item)."""
        return self.percent.value is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "items": self.items,
            "items_rated_by_two_or_more": self.multi,
            "reviewers": list(self.reviewers),
            "percent_agreement": self.percent.to_json(),
            "fleiss_kappa": self.fleiss.to_json(),
            "krippendorff_alpha": self.alpha.to_json(),
            "gwet_ac1": self.ac1.to_json(),
            "pairs": [p.to_json() for p in self.pairs],
            "model": [p.to_json() for p in self.model],
        }


@dataclass(frozen=True, slots=True)
class PeopleAgreement:
    """Agreement between people for a whole store: overall, per kind, per category."""

    items: int  # items with at least one person's decision
    reviewers: dict[str, int]  # reviewer → items decided, most first
    overall: GroupAgreement  # harmful or not, all items
    by_kind: dict[str, GroupAgreement]
    by_category: dict[str, GroupAgreement]  # "harmful with C" vs not, largest category first
    label_and_category: GroupAgreement
    resamples: int
    seed: int

    @property
    def comparable(self) -> bool:
        """Two or more reviewers decided at least one item in common."""
        return self.overall.defined

    def groups(self, by: str) -> dict[str, GroupAgreement]:
        """The groups of a split: ``kind`` or ``category``."""
        if by == "kind":
            return self.by_kind
        if by == "category":
            return self.by_category
        raise ValueError(f"agreement between people splits by kind or category, not {by!r}")

    def to_json(self, by: str | None = None) -> dict[str, Any]:
        """The stable JSON of ``metrics --between reviewers --json``; ``groups`` only with a split."""
        out: dict[str, Any] = {
            "items": self.items,
            "reviewers": self.reviewers,
            "comparable": self.comparable,
            "message": None if self.comparable else not_comparable_message(self),
            "interval": f"95% percentile bootstrap over items, {self.resamples} resamples, seed {self.seed}",
            "overall": self.overall.to_json(),
            "label_and_category": self.label_and_category.to_json(),
        }
        if by is not None:
            out["by"] = by
            out["groups"] = {k: g.to_json() for k, g in self.groups(by).items()}
        return out


# --------------------------------------------------------------------------- patterns and the bootstrap


@dataclass(frozen=True, slots=True)
class _Patterns:
    """Distinct rows of the item × rater matrix (codes 0..q-1, -1 for no rating) and their counts."""

    codes: npt.NDArray[np.int64]  # K × raters
    counts: Ints  # K
    q: int  # number of values

    @property
    def n(self) -> int:
        return int(self.counts.sum())


def _patterns(rows: Iterable[tuple[tuple[int, ...], int]], raters: int, q: int) -> _Patterns:
    tally: dict[tuple[int, ...], int] = {}
    for row, count in rows:
        tally[row] = tally.get(row, 0) + count
    if not tally:
        return _Patterns(np.zeros((0, raters), dtype=np.int64), np.zeros(0, dtype=np.int64), q)
    keys = list(tally)
    return _Patterns(np.array(keys, dtype=np.int64).reshape(len(keys), raters), np.array([tally[k] for k in keys], dtype=np.int64), q)


def _weights(counts: Ints, resamples: int, seed: int) -> Floats:
    """Row 0: the observed counts of each pattern; rows 1..: bootstrap resamples of the items.

    A resample draws n items with replacement and counts how many show each pattern: with few
    patterns for the items as one multinomial draw of the counts (its cost grows with the
    patterns), else by drawing the items themselves (its cost grows with the items). Both give
    the same distribution.
    """
    k, n = len(counts), int(counts.sum())
    out = np.empty((1 + max(0, resamples), k), dtype=np.float64)
    out[0] = counts
    if resamples <= 0 or n == 0:
        return out[:1]
    rng = np.random.default_rng(seed)
    if k * 8 <= n:
        out[1:] = rng.multinomial(n, counts / n, size=resamples)
        return out
    pattern_of_item = np.repeat(np.arange(k), counts)
    step = max(1, 4_000_000 // n)  # resamples per chunk: a few million drawn items at a time
    for start in range(0, resamples, step):
        rows = min(step, resamples - start)
        drawn = pattern_of_item[rng.integers(0, n, size=(rows, n))]
        drawn += (np.arange(rows) * k)[:, None]
        out[1 + start : 1 + start + rows] = np.bincount(drawn.ravel(), minlength=rows * k).reshape(rows, k)
    return out


def _counts(codes: npt.NDArray[np.int64], q: int) -> Floats:
    """K × q: how many of the given raters gave each value, per pattern."""
    return np.stack([(codes == c).sum(axis=1) for c in range(q)], axis=1).astype(np.float64)


def _divide(num: Floats, den: Floats) -> Floats:
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _many(r: Floats, q: int, w: Floats) -> dict[str, Floats]:
    """Percent agreement, Fleiss' kappa, Krippendorff's alpha and AC1 for each row of weights (NaN: undefined).

    ``r`` holds, per pattern, how many ratings gave each value: all these figures depend on an
    item only through that, not on who gave which rating.
    """
    m = r.sum(axis=1)
    one, two = m >= 1, m >= 2
    safe_m = np.where(one, m, 1.0)
    pairs = np.where(two, m * (m - 1), 1.0)
    agree_k = np.where(two, (r * (r - 1)).sum(axis=1) / pairs, 0.0)
    n1, n2 = w @ one.astype(np.float64), w @ two.astype(np.float64)
    pa = _divide(w @ agree_k, n2)
    share = np.where(one[:, None], r / safe_m[:, None], 0.0)
    pi = _divide(w @ share, n1[:, None])
    pe_fleiss = (pi**2).sum(axis=1)
    pe_ac1 = (pi * (1 - pi)).sum(axis=1) / (q - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        fleiss = np.where(pe_fleiss < 1 - 1e-12, (pa - pe_fleiss) / (1 - pe_fleiss), np.nan)
        ac1 = (pa - pe_ac1) / (1 - pe_ac1)
    paired = np.where(two[:, None], r, 0.0)
    nc = w @ paired
    total = nc.sum(axis=1)
    expected = total**2 - (nc**2).sum(axis=1)
    disagree_k = np.where(two, (m**2 - (r**2).sum(axis=1)) / np.where(two, m - 1, 1.0), 0.0)
    observed = w @ disagree_k
    with np.errstate(invalid="ignore", divide="ignore"):
        alpha = np.where(expected > 1e-9, 1 - (total - 1) * observed / expected, np.nan)
    return {"percent": pa, "fleiss": np.where(np.isnan(pa), np.nan, fleiss), "alpha": alpha, "ac1": np.where(np.isnan(pa), np.nan, ac1)}


def _pairs(p: _Patterns, which: Sequence[tuple[int, int]], resamples: int, seed: int) -> dict[str, Floats]:
    """n, agree, kappa and AC1 of each pair of raters (a, b) on the items both rated.

    Arrays of shape (pairs, 1 + resamples): column 0 observed, then the bootstrap resamples of
    the pair's shared items (a multinomial draw of its q × q table's cells). Pairs are computed
    together, a few dozen at a time (a group of 20 reviewers has 190 pairs).
    """
    step = max(1, 2_000_000 // ((1 + max(0, resamples)) * p.q * p.q))
    parts = [_some_pairs(p, which[i : i + step], resamples, seed) for i in range(0, len(which), step)]
    if not parts:
        return {key: np.zeros((0, 1 + max(0, resamples))) for key in ("n", "agree", "kappa", "ac1")}
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def _some_pairs(p: _Patterns, which: Sequence[tuple[int, int]], resamples: int, seed: int) -> dict[str, Floats]:
    q, by_rater = p.q, np.ascontiguousarray(p.codes.T)  # one contiguous row per rater
    cells = q * q
    flat = np.zeros((len(which), 1 + max(0, resamples), cells))
    for i, (a, b) in enumerate(which):
        ra, rb = by_rater[a], by_rater[b]
        both = (ra >= 0) & (rb >= 0)
        flat[i, 0] = np.bincount(ra[both] * q + rb[both], weights=p.counts[both], minlength=cells)
    if resamples > 0 and len(which):
        # One multinomial draw per pair and resample, as conditional binomials over the cells,
        # each drawn for every pair and resample at once.
        rng = np.random.default_rng([seed, *which[0]])
        observed = flat[:, 0, :]
        left = np.broadcast_to(observed.sum(axis=1), (resamples, len(which))).astype(np.int64)
        share_left = np.ones(len(which))
        total = np.where(observed.sum(axis=1) > 0, observed.sum(axis=1), 1.0)
        for c in range(cells - 1):
            share = observed[:, c] / total
            p_c = np.clip(np.divide(share, share_left, out=np.zeros_like(share), where=share_left > 1e-15), 0.0, 1.0)
            drawn = rng.binomial(left, p_c)
            flat[:, 1:, c] = drawn.T
            left = left - drawn
            share_left = share_left - share
        flat[:, 1:, cells - 1] = left.T
    table = flat.reshape(len(which), flat.shape[1], q, q)
    n = table.sum(axis=(2, 3))
    safe_n = np.where(n > 0, n, 1.0)
    po = np.where(n > 0, np.trace(table, axis1=2, axis2=3) / safe_n, np.nan)
    rows, cols = table.sum(axis=3) / safe_n[..., None], table.sum(axis=2) / safe_n[..., None]
    pe = (rows * cols).sum(axis=2)
    pi = (rows + cols) / 2
    pe_ac1 = (pi * (1 - pi)).sum(axis=2) / (q - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa = np.where((n > 0) & (pe < 1 - 1e-12), (po - pe) / (1 - pe), np.nan)
        ac1 = np.where(n > 0, (po - pe_ac1) / (1 - pe_ac1), np.nan)
    return {"n": n, "agree": po, "kappa": kappa, "ac1": ac1}


def _intervals(values: Floats) -> list[Interval | None]:
    """Per row: the 2.5th and 97.5th percentiles of the resamples (columns 1..) where the figure is defined."""
    v = np.sort(values[:, 1:], axis=1)  # NaN (undefined) sorts last
    m = np.isfinite(v).sum(axis=1)
    lo = np.rint(0.025 * np.maximum(m - 1, 0)).astype(np.int64)
    hi = np.rint(0.975 * np.maximum(m - 1, 0)).astype(np.int64)
    los = np.take_along_axis(v, lo[:, None], axis=1)[:, 0] if v.shape[1] else lo
    his = np.take_along_axis(v, hi[:, None], axis=1)[:, 0] if v.shape[1] else hi
    return [(float(a), float(b)) if k else None for a, b, k in zip(los, his, m, strict=True)]


def _estimates(values: Floats, why: str) -> list[Estimate]:
    """One estimate per row of ``values`` (column 0 observed, then the resamples)."""
    cis = _intervals(values)
    out = []
    for row, ci in zip(values, cis, strict=True):
        point = float(row[0])
        out.append(Estimate(None, None, why) if math.isnan(point) else Estimate(point, ci if len(row) > 1 else None))
    return out


def _estimate(values: Floats, why: str) -> Estimate:
    return _estimates(values[None, :], why)[0]


# --------------------------------------------------------------------------- one group


Value = str | None  # a decision's value under a scheme; None: no rating
Scheme = Callable[[tuple[str, str] | None], Value]


Rated = tuple[tuple[tuple[str, Value], ...], Value, Value]  # ((reviewer, value), ...), model, final


def group_agreement(
    name: str,
    items: Sequence[tuple[Mapping[str, Value], Value, Value]],
    values: Sequence[str],
    resamples: int = RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> GroupAgreement:
    """All figures of one group of items, for any nominal ratings.

    ``items`` are (reviewer → value, the model's value, the final label's value), a value being
    one of ``values`` or None (no rating).
    """
    tally: dict[Rated, int] = {}
    for people, model, final in items:
        key = (tuple(sorted(people.items())), model, final)
        tally[key] = tally.get(key, 0) + 1
    return _group(name, tally, values, resamples, seed)


def _group(name: str, tally: Mapping[Rated, int], values: Sequence[str], resamples: int, seed: int, pairs: bool = True) -> GroupAgreement:
    """:func:`group_agreement` on distinct rating patterns and how many items show each; without
    ``pairs``, only the figures over all reviewers (no pair tables)."""
    reviewers = sorted({r for people, _, _ in tally for r, v in people if v is not None})
    column = {r: i for i, r in enumerate(reviewers)}
    code = {v: i for i, v in enumerate(values)}
    q = max(2, len(values))
    width = len(reviewers) + 2

    def row(key: Rated) -> tuple[int, ...]:
        people, model, final = key
        out = [-1] * width
        for r, v in people:
            if v is not None:
                out[column[r]] = code[v]
        out[-2] = -1 if model is None else code[model]
        out[-1] = -1 if final is None else code[final]
        return tuple(out)

    p = _patterns(((row(key), count) for key, count in tally.items()), width, q)
    # The figures over all reviewers need only how many ratings of each value an item has:
    # far fewer distinct rows than who-said-what when there are many reviewers.
    values_per_item, inverse = np.unique(_counts(p.codes[:, : len(reviewers)], q), axis=0, return_inverse=True)
    items_per_row = np.bincount(inverse.ravel(), weights=p.counts, minlength=len(values_per_item)).astype(np.int64)
    multi = int(items_per_row[values_per_item.sum(axis=1) >= 2].sum()) if len(reviewers) else 0
    if len(reviewers) < 2 or not multi:
        why = "fewer than two reviewers" if len(reviewers) < 2 else "no item was decided by two or more people"
        percent = fleiss = alpha = ac1 = Estimate(None, None, why)
    else:
        many = _many(values_per_item, q, _weights(items_per_row, resamples, seed))
        same = "every rating has the same value"
        percent = _estimate(many["percent"], why="")
        fleiss = _estimate(many["fleiss"], same)
        alpha = _estimate(many["alpha"], "every rating on items decided by two or more people has the same value")
        ac1 = _estimate(many["ac1"], same)

    names = [reviewer_name(r) for r in reviewers]
    people_pairs = [(i, j) for i in range(len(reviewers)) for j in range(i + 1, len(reviewers))] if pairs else []
    model_pairs = [(width - 2, i) for i in range(len(reviewers))] + [(width - 2, width - 1)] if pairs else []
    figs = _pairs(p, people_pairs + model_pairs, resamples, seed)
    agree = _estimates(figs["agree"], "")
    kappa = _estimates(figs["kappa"], "both gave the same single value to every shared item")
    ac1s = _estimates(figs["ac1"], "")
    found = [
        PairAgreement(names[a] if a < len(names) else MODEL, names[b] if b < len(names) else FINAL, int(figs["n"][k, 0]), agree[k], kappa[k], ac1s[k])
        for k, (a, b) in enumerate(people_pairs + model_pairs)
    ]
    between = [x for x in found[: len(people_pairs)] if x.n]
    against = [x for x in found[len(people_pairs) :] if x.n]
    return GroupAgreement(
        name=name,
        items=p.n,
        multi=multi,
        reviewers=tuple(reviewer_name(r) for r in reviewers),
        percent=percent,
        fleiss=fleiss,
        alpha=alpha,
        ac1=ac1,
        pairs=tuple(between),
        model=tuple(against),
    )


# --------------------------------------------------------------------------- schemes and the whole store


Raw = tuple[str, tuple[tuple[str, str, str], ...], tuple[str, str] | None, tuple[str, str] | None]  # kind, people, model, final


def _compress(rows: Iterable[ItemRatings]) -> tuple[dict[Raw, int], dict[str, str]]:
    """Distinct (kind, people's decisions, model, final) with how many items show each; categories
    as their keys. Also each category key's spelling people used most (ties: the first in order)."""
    keys: dict[str, str] = {}
    spellings: dict[str, dict[str, int]] = {}

    def key_of(category: str) -> str:
        found = keys.get(category)
        if found is None:
            found = keys[category] = category_key(category)
        return found

    def norm(rating: tuple[str, str] | None) -> tuple[str, str] | None:
        return None if rating is None else (rating[0], key_of(rating[1]) if rating[0] == "yes" else "")

    tally: dict[Raw, int] = {}
    for it in rows:
        people = []
        for name, (label, category) in sorted(it.people.items()):
            ck = key_of(category) if label == "yes" else ""
            people.append((name, label, ck))
            if ck:
                spelled = spellings.setdefault(ck, {})
                words = " ".join(category.split()).rstrip(".").strip()
                spelled[words] = spelled.get(words, 0) + 1
        raw = (it.kind, tuple(people), norm(it.model), norm(it.final))
        tally[raw] = tally.get(raw, 0) + 1
    shown = {k: max(v.items(), key=lambda kv: (kv[1], kv[0]))[0] for k, v in spellings.items()}
    return tally, shown


def _scheme(tally: Mapping[Raw, int], value: Scheme, kind: str | None = None) -> dict[Rated, int]:
    out: dict[Rated, int] = {}
    for (k, people, model, final), count in tally.items():
        if kind is not None and k != kind:
            continue
        key = (tuple((name, value((label, ck))) for name, label, ck in people), value(model), value(final))
        out[key] = out.get(key, 0) + count
    return out


def _label(rating: tuple[str, str] | None) -> Value:
    return None if rating is None else rating[0]


def _is_category(key: str) -> Scheme:
    def value(rating: tuple[str, str] | None) -> Value:
        if rating is None:
            return None
        return "yes" if rating[0] == "yes" and rating[1] == key else "no"

    return value


def _label_and_category(rating: tuple[str, str] | None) -> Value:
    if rating is None:
        return None
    if rating[0] == "no":
        return "no"
    return rating[1] or NO_CATEGORY


def between_people(rows: Sequence[ItemRatings], resamples: int = RESAMPLES, seed: int = DEFAULT_SEED) -> PeopleAgreement:
    """Every figure of agreement between people, and of the model against each of them."""
    tally, spelling = _compress(rows)
    reviewers: dict[str, int] = {}
    category_items: dict[str, int] = {}
    for (_, people, _, _), count in tally.items():
        for name, _, _ in people:
            shown = reviewer_name(name)
            reviewers[shown] = reviewers.get(shown, 0) + count
        for ck in {ck for _, label, ck in people if ck}:
            category_items[ck] = category_items.get(ck, 0) + count
    overall = _group(HARMFUL, _scheme(tally, _label), LABELS, resamples, seed)
    by_kind = {kind: _group(kind, _scheme(tally, _label, kind), LABELS, resamples, seed) for kind in sorted({raw[0] for raw in tally})}
    by_category = {}
    for key in sorted(category_items, key=lambda k: (-category_items[k], k)):
        by_category[spelling[key]] = _group(spelling[key], _scheme(tally, _is_category(key)), LABELS, resamples, seed, pairs=False)
    nominal = _scheme(tally, _label_and_category)
    values = sorted({v for (people, m, f) in nominal for v in (*(v for _, v in people), m, f) if v is not None})
    label_and_category = _group(LABEL_AND_CATEGORY, nominal, values, resamples, seed, pairs=False)
    ordered = dict(sorted(reviewers.items(), key=lambda kv: (-kv[1], kv[0])))
    return PeopleAgreement(
        items=len(rows),
        reviewers=ordered,
        overall=overall,
        by_kind=by_kind,
        by_category=by_category,
        label_and_category=label_and_category,
        resamples=resamples,
        seed=seed,
    )


# --------------------------------------------------------------------------- words


def not_comparable_message(a: PeopleAgreement) -> str:
    """One line saying why people cannot be compared in this store."""
    n = len(a.reviewers)
    if n == 0:
        return "Agreement between people needs two reviewers who decided the same items: no item has a person's decision yet."
    names = ", ".join(a.reviewers)
    if n == 1:
        return f"Agreement between people needs two reviewers who decided the same items: only one reviewer ({names}) has decided items."
    return f"Agreement between people needs two reviewers who decided the same items: {n} reviewers ({names}) but no item decided by two of them."


def fraction(e: Estimate, as_pct: bool = False) -> str:
    """A figure and its interval in words: '0.812 [0.790, 0.833]', or '91.2 % [90.1, 92.3]'."""
    if e.value is None:
        return "not defined"
    if as_pct:
        text = f"{100 * e.value:.1f} %"
        return text + (f" [{100 * e.ci[0]:.1f}, {100 * e.ci[1]:.1f}]" if e.ci else "")
    text = f"{e.value + 0.0:.3f}"
    return text + (f" [{e.ci[0] + 0.0:.3f}, {e.ci[1] + 0.0:.3f}]" if e.ci else "")


# (label, attribute, as percent?) of the figures over all reviewers, in the order shown
GROUP_FIGURES: tuple[tuple[str, str, bool], ...] = (
    ("percent agreement", "percent", True),
    ("Fleiss' kappa", "fleiss", False),
    ("Krippendorff's alpha", "alpha", False),
    ("Gwet's AC1", "ac1", False),
)
PAIR_COLUMNS = ("n", "agree", "Cohen's kappa", "Gwet's AC1")


def pair_cells(p: PairAgreement) -> list[str]:
    return [f"{p.n:,}", fraction(p.agree, as_pct=True), fraction(p.kappa), fraction(p.ac1)]


def _table(header: Sequence[str], body: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    return [indent + "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)).rstrip() for r in [header, *body]]


def _undefined_reasons(g: GroupAgreement) -> list[str]:
    seen = []
    for _, attr, _ in GROUP_FIGURES:
        e: Estimate = getattr(g, attr)
        if e.value is None and e.why and e.why not in seen:
            seen.append(e.why)
    return seen


def format_group(g: GroupAgreement, title: str) -> str:
    """One group as terminal text: the figures over all reviewers, the pairs, the model."""
    lines = [f"{title}: {g.items:,} items decided by people, {g.multi:,} by two or more ({len(g.reviewers)} reviewers)"]
    body = [[label, fraction(getattr(g, attr), as_pct)] for label, attr, as_pct in GROUP_FIGURES]
    lines += _table(["measure", "value [95% interval]"], body)
    lines += [f"  not defined: {why}" for why in _undefined_reasons(g)]
    if g.pairs:
        lines.append("  pairs of people (items both decided)")
        lines += _table(["pair", *PAIR_COLUMNS], [[f"{p.a} / {p.b}", *pair_cells(p)] for p in g.pairs], "    ")
    if g.model:
        lines.append("  the model against each person and the final label")
        lines += _table(["against", *PAIR_COLUMNS], [[p.b, *pair_cells(p)] for p in g.model], "    ")
    return "\n".join(lines)


def format_groups(groups: Mapping[str, GroupAgreement], by: str) -> str:
    """One line per group with the figures over all reviewers."""
    header = [by, "items", "by 2+", *(label for label, _, _ in GROUP_FIGURES)]
    body = [[name, f"{g.items:,}", f"{g.multi:,}", *(fraction(getattr(g, a), p) for _, a, p in GROUP_FIGURES)] for name, g in groups.items()]
    return "\n".join(_table(header, body, ""))


def method_note(a: PeopleAgreement) -> str:
    return (
        f"95% intervals: percentile bootstrap over items ({a.resamples} resamples, seed {a.seed}). "
        "Per category: 'harmful with that category' against everything else."
    )


__all__ = [
    "DEFAULT_SEED",
    "FINAL",
    "MODEL",
    "RESAMPLES",
    "Estimate",
    "GroupAgreement",
    "ItemRatings",
    "PairAgreement",
    "PeopleAgreement",
    "between_people",
    "category_key",
    "format_group",
    "group_agreement",
    "format_groups",
    "fraction",
    "not_comparable_message",
    "ratings_of",
    "read_ratings",
]
