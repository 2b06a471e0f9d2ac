"""Model-versus-human agreement, suspicion scores, the review queue and audit samples.

No Qt, no SQL: everything starts from :meth:`vhd_gui.store.Store.verdict_rows`, one compact
bulk read, so the figures for 100,000 items take well under a second.

Figures (the VHD11K paper's measures first). "Harmful" is the positive class; the
confusion matrix is keyed human → model:

- accuracy on harmful items (human yes) and on unharmful items (human no), and their mean;
- precision, recall and F1 for harmful (recall is the accuracy on harmful items);
- Cohen's κ, and the plain share of agreeing items (``accuracy``).

Intervals are 95 %: Wilson score intervals for the proportions; a seeded percentile bootstrap
(:data:`BOOTSTRAP_RESAMPLES` resamples) for κ, F1 and the mean accuracy. Every one of these
depends on the items only through the 2×2 confusion matrix, so resampling n items with
replacement is the same as drawing the four cell counts from a multinomial with the observed
cell shares: the bootstrap draws that multinomial (three conditional binomials) instead of
touching items, which keeps it exact and cheap at any n. Only the standard library is used
(``math``, ``statistics``, ``random``); numpy is not a dependency of the package.

Suspicion (see :class:`SuspicionWeights` for the weights): what the debate itself shows about a
verdict. The review queue lists items that have a model verdict and no human decision, most
suspicious first; ties keep the store's name order.

Audit: a seeded random sample of model-only verdicts, stratified by (model verdict, kind) with
proportional allocation. Once people have decided the sampled items, the agreement within each
stratum estimates the accuracy of the model-only verdicts nobody reviewed, weighted by how many
of them each stratum holds (see :func:`estimate_rest_accuracy`).
"""

from __future__ import annotations

import html
import math
import random
import re
import statistics
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from vhd_gui.gcpause import collector_paused
from vhd_gui.store import Store, VerdictRow

Z95 = statistics.NormalDist().inv_cdf(0.975)  # 1.959963984540054
BOOTSTRAP_RESAMPLES = 1000
DEFAULT_SEED = 20240711
GROUPINGS = ("kind", "category", "model")
NOT_HARMFUL_GROUP = "(not harmful)"
NO_CATEGORY_GROUP = "(no category)"

Interval = tuple[float, float]


# --------------------------------------------------------------------------- intervals


def wilson_interval(successes: int, n: int, z: float = Z95) -> Interval | None:
    """Wilson score interval for ``successes`` out of ``n`` (None when n is 0)."""
    if n <= 0:
        return None
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be between 0 and n ({n}), not {successes}")
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    lo, hi = max(0.0, centre - half), min(1.0, centre + half)
    # The exact ends: no rounding noise at 0 successes or all successes.
    return (0.0 if successes == 0 else lo, 1.0 if successes == n else hi)


def _binomial(rng: random.Random, n: int, p: float) -> int:
    """One draw from Binomial(n, p) by inversion, searching outward from the mode.

    The cumulative probability is spent on the mode first, then alternately on the next value
    above and below, so the expected work is about 1.6 standard deviations: fast for any n.
    """
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    q = 1.0 - p
    mode = min(n, int((n + 1) * p))
    log_pm = math.lgamma(n + 1) - math.lgamma(mode + 1) - math.lgamma(n - mode + 1) + mode * math.log(p) + (n - mode) * math.log(q)
    pm = math.exp(log_pm)
    u = rng.random() - pm
    if u <= 0.0:
        return mode
    ratio = p / q
    lo = hi = mode
    p_lo = p_hi = pm
    while lo > 0 or hi < n:
        if hi < n:
            p_hi *= (n - hi) / (hi + 1) * ratio
            hi += 1
            u -= p_hi
            if u <= 0.0:
                return hi
        if lo > 0:
            p_lo *= lo / ((n - lo + 1) * ratio)
            lo -= 1
            u -= p_lo
            if u <= 0.0:
                return lo
    return mode  # rounding left a sliver of probability unspent


# --------------------------------------------------------------------------- the confusion matrix


@dataclass(frozen=True, slots=True)
class Confusion:
    """Counts keyed human → model: ``yes_no`` is human yes, model no (a missed harmful item)."""

    yes_yes: int = 0
    yes_no: int = 0
    no_yes: int = 0
    no_no: int = 0

    @property
    def n(self) -> int:
        return self.yes_yes + self.yes_no + self.no_yes + self.no_no

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> Confusion:
        """From (human label, model label) pairs, each 'yes' or 'no'."""
        counts = {("yes", "yes"): 0, ("yes", "no"): 0, ("no", "yes"): 0, ("no", "no"): 0}
        for pair in pairs:
            counts[pair] += 1
        return cls(counts["yes", "yes"], counts["yes", "no"], counts["no", "yes"], counts["no", "no"])

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {"yes": {"yes": self.yes_yes, "no": self.yes_no}, "no": {"yes": self.no_yes, "no": self.no_no}}

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(
            self.yes_yes + other.yes_yes, self.yes_no + other.yes_no, self.no_yes + other.no_yes, self.no_no + other.no_no
        )


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


# The statistics below take the four cells (human yes/model yes, yes/no, no/yes, no/no) as
# plain ints: the bootstrap calls them thousands of times.


def _kappa(a: int, b: int, c: int, d: int) -> float | None:
    n = a + b + c + d
    if not (a + b) or not (c + d):  # people saw one class only: kappa would be 0 by construction
        return None
    human_yes, model_yes = (a + b) / n, (a + c) / n
    pe = human_yes * model_yes + (1 - human_yes) * (1 - model_yes)
    if pe >= 1.0:
        return None
    return ((a + d) / n - pe) / (1 - pe)


def _f1(a: int, b: int, c: int, d: int) -> float | None:
    if not (a + b):  # no harmful item per people: recall, hence F1, is undefined
        return None
    return 2 * a / (2 * a + b + c)


def _mean_acc(a: int, b: int, c: int, d: int) -> float | None:
    if not (a + b) or not (c + d):
        return None
    return (a / (a + b) + d / (c + d)) / 2


def cohen_kappa(c: Confusion) -> float | None:
    """Cohen's κ of the two raters.

    None when people (the reference) labelled every item alike, e.g. within one harmful
    category: κ is then 0 whatever the model does, which says nothing. A model that always
    answers alike does get κ = 0 (it is no better than chance), as in the usual definition.
    """
    return _kappa(c.yes_yes, c.yes_no, c.no_yes, c.no_no)


def f1_score(c: Confusion) -> float | None:
    return _f1(c.yes_yes, c.yes_no, c.no_yes, c.no_no)


def mean_accuracy(c: Confusion) -> float | None:
    """The paper's mean of the accuracy on harmful and on unharmful items (None if one is missing)."""
    return _mean_acc(c.yes_yes, c.yes_no, c.no_yes, c.no_no)


CellStatistic = Callable[[int, int, int, int], "float | None"]
BOOTSTRAPPED: dict[str, CellStatistic] = {"acc_mean": _mean_acc, "f1": _f1, "kappa": _kappa}


def bootstrap_intervals(
    c: Confusion,
    stats: Mapping[str, CellStatistic] = BOOTSTRAPPED,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> dict[str, Interval | None]:
    """95 % percentile bootstrap intervals of several statistics from the same resamples.

    Each resample draws n items with replacement, i.e. the four cells from a multinomial with
    the observed shares (three conditional binomials). A statistic that is undefined for the
    observed matrix gets None; resamples where it is undefined are left out of its interval.
    """
    n = c.n
    cells = (c.yes_yes, c.yes_no, c.no_yes, c.no_no)
    live = {k: f for k, f in stats.items() if n and f(*cells) is not None}
    values: dict[str, list[float]] = {k: [] for k in live}
    if live:
        rng = random.Random(seed)
        a, b, d = cells[0], cells[1], cells[2]
        left_after_a, left_after_b = n - a, n - a - b
        for _ in range(resamples):
            k1 = _binomial(rng, n, a / n)
            rest = n - k1
            k2 = _binomial(rng, rest, b / left_after_a) if left_after_a else 0
            rest -= k2
            k3 = _binomial(rng, rest, d / left_after_b) if left_after_b else 0
            k4 = rest - k3
            for key, f in live.items():
                value = f(k1, k2, k3, k4)
                if value is not None:
                    values[key].append(value)
    out: dict[str, Interval | None] = {}
    for key in stats:
        v = sorted(values.get(key, ()))
        out[key] = (v[round(0.025 * (len(v) - 1))], v[round(0.975 * (len(v) - 1))]) if v else None
    return out


# --------------------------------------------------------------------------- agreement


@dataclass(frozen=True, slots=True)
class Agreement:
    """Every agreement figure of one group of items; None where a figure is undefined."""

    confusion: Confusion
    acc_harmful: float | None
    acc_harmful_ci: Interval | None
    acc_unharmful: float | None
    acc_unharmful_ci: Interval | None
    acc_mean: float | None
    acc_mean_ci: Interval | None
    precision: float | None
    precision_ci: Interval | None
    recall: float | None
    recall_ci: Interval | None
    f1: float | None
    f1_ci: Interval | None
    kappa: float | None
    kappa_ci: Interval | None
    accuracy: float | None
    accuracy_ci: Interval | None

    @property
    def n(self) -> int:
        return self.confusion.n

    def to_json(self) -> dict[str, Any]:
        """The stable JSON keys of ``vhd-annotator metrics --json`` (intervals as [lo, hi])."""
        out: dict[str, Any] = {"n": self.n}
        for key in ("acc_harmful", "acc_unharmful", "acc_mean", "precision", "recall", "f1", "kappa", "accuracy"):
            out[key] = getattr(self, key)
            ci = getattr(self, key + "_ci")
            out[key + "_ci"] = list(ci) if ci is not None else None
        out["confusion"] = self.confusion.as_dict()
        return out


def agreement_from_confusion(
    c: Confusion, seed: int = DEFAULT_SEED, resamples: int = BOOTSTRAP_RESAMPLES
) -> Agreement:
    """All figures and intervals for one confusion matrix (deterministic for a given seed)."""
    human_yes, model_yes = c.yes_yes + c.yes_no, c.yes_yes + c.no_yes
    agree = c.yes_yes + c.no_no
    boot = bootstrap_intervals(c, BOOTSTRAPPED, resamples, seed)
    return Agreement(
        confusion=c,
        acc_harmful=_ratio(c.yes_yes, human_yes),
        acc_harmful_ci=wilson_interval(c.yes_yes, human_yes),
        acc_unharmful=_ratio(c.no_no, c.no_yes + c.no_no),
        acc_unharmful_ci=wilson_interval(c.no_no, c.no_yes + c.no_no),
        acc_mean=mean_accuracy(c),
        acc_mean_ci=boot["acc_mean"],
        precision=_ratio(c.yes_yes, model_yes),
        precision_ci=wilson_interval(c.yes_yes, model_yes),
        recall=_ratio(c.yes_yes, human_yes),
        recall_ci=wilson_interval(c.yes_yes, human_yes),
        f1=f1_score(c),
        f1_ci=boot["f1"],
        kappa=cohen_kappa(c),
        kappa_ci=boot["kappa"],
        accuracy=_ratio(agree, c.n),
        accuracy_ci=wilson_interval(agree, c.n),
    )


def _labelled(rows: Iterable[VerdictRow]) -> Iterable[VerdictRow]:
    """Rows with both a model verdict and a human (or reference) label."""
    return (r for r in rows if r.model_label in ("yes", "no") and r.human_label in ("yes", "no"))


def confusion_of(rows: Iterable[VerdictRow]) -> Confusion:
    return Confusion.from_pairs((r.human_label, r.model_label) for r in _labelled(rows))  # type: ignore[misc]


def agreement(rows: Iterable[VerdictRow], seed: int = DEFAULT_SEED) -> Agreement:
    """Model verdict against human decision over the items that have both."""
    return agreement_from_confusion(confusion_of(rows), seed)


def model_key(row: VerdictRow) -> str:
    """The "model / preset" a verdict came from: the judge's model and the prompt preset."""
    return f"{row.judge_model or 'unknown model'} / {row.preset_name or 'no preset'}"


def category_key(row: VerdictRow) -> str:
    """The human category of a harmful item; one group for every item people found harmless."""
    if row.human_label == "no":
        return NOT_HARMFUL_GROUP
    return row.human_category.strip() or NO_CATEGORY_GROUP


_GROUP_KEYS: dict[str, Callable[[VerdictRow], str]] = {
    "kind": lambda r: r.kind,
    "category": category_key,
    "model": model_key,
}


def agreement_by(rows: Iterable[VerdictRow], by: str, seed: int = DEFAULT_SEED) -> dict[str, Agreement]:
    """Agreement per kind, per human category or per model/preset, largest group first."""
    if by not in _GROUP_KEYS:
        raise ValueError(f"by must be one of {', '.join(GROUPINGS)}, not {by!r}")
    key = _GROUP_KEYS[by]
    cells: dict[str, dict[tuple[str, str], int]] = {}
    for r in _labelled(rows):
        group = cells.setdefault(key(r), {})
        pair = (r.human_label or "", r.model_label or "")  # _labelled: both are set
        group[pair] = group.get(pair, 0) + 1
    confusions = {
        k: Confusion(v.get(("yes", "yes"), 0), v.get(("yes", "no"), 0), v.get(("no", "yes"), 0), v.get(("no", "no"), 0))
        for k, v in cells.items()
    }
    order = sorted(confusions, key=lambda k: (k == NOT_HARMFUL_GROUP, -confusions[k].n, k))
    return {k: agreement_from_confusion(confusions[k], seed) for k in order}


# --------------------------------------------------------------------------- --against another file


@dataclass(slots=True)
class ReferenceLabels:
    """Labels read from another annotation file, matched to the store's items by file name."""

    file: str
    format: str
    rows: int
    labels: dict[str, tuple[str, str]]  # store path → (label, category)
    unmatched: list[str] = field(default_factory=list)  # the file's paths no store item matches
    ambiguous: list[str] = field(default_factory=list)  # names that match several store items
    conflicts: int = 0  # rows that name an item already labelled differently in the same file
    malformed: int = 0


def reference_labels(store: Store, file: str | Path) -> ReferenceLabels:
    """Read ``file`` exactly as ``import --as human`` reads it, and match its rows to ``store``.

    The file goes through :func:`vhd_gui.formats.import_file` into a throwaway store (so every
    format, encoding and malformed-row rule is the import's own), then each row's path is matched
    to this store's items with :class:`vhd_gui.formats.MediaIndex` (exact path, else file name,
    CP437 mojibake included). Raises :class:`vhd_gui.formats.FormatError` for an unreadable file.
    """
    from vhd_gui.formats import MediaIndex, import_file

    with tempfile.TemporaryDirectory(prefix="vhd-against-") as tmp:
        with Store.open(Path(tmp) / "reference.sqlite", root=store.root) as scratch:
            report = import_file(scratch, file, as_human=True, scan_disk=False)
            theirs = [(r.path, r.human_label, r.human_category) for r in scratch.verdict_rows() if r.human_label]
    index = MediaIndex(store, scan_disk=False)
    out = ReferenceLabels(
        file=str(file),
        format=report.format,
        rows=report.rows,
        labels={},
        conflicts=len(report.conflicts),
        malformed=len(report.malformed),
    )
    for raw, label, category in theirs:
        rel, candidates = index.match(raw)
        if candidates:
            out.ambiguous.append(raw)
        elif rel is None:
            out.unmatched.append(raw)
        else:
            out.labels[rel] = (label or "", category)
    return out


def with_reference_labels(rows: Iterable[VerdictRow], reference: ReferenceLabels) -> list[VerdictRow]:
    """The store's rows with the file's labels in place of the human decisions."""
    out: list[VerdictRow] = []
    for r in rows:
        label, category = reference.labels.get(r.path, (None, ""))
        out.append(r._replace(human_label=label, human_category=category))
    return out


# --------------------------------------------------------------------------- suspicion and the queue


@dataclass(frozen=True, slots=True)
class SuspicionWeights:
    """What each sign in a debate adds to an item's suspicion score.

    Each sign is 0 or 1, except the judge's uncertainty, ``1 - |2p - 1|`` for the judge's
    probability ``p`` of answering yes (1 at p = 0.5, 0 at p = 0 or 1), present only when the
    server returned log-probabilities. The score is the weighted sum (0 to 13.5 by default).
    The largest weight goes to an answer the judge did not give in the expected form (the
    verdict is then harmful by rule, not by judgment); runs or models that disagree on the same
    item come next; refusals and a dissenting critic, and a coin-flip judge, follow.
    """

    judge_unparsed: float = 3.0
    verdicts_differ: float = 2.5
    api_refused: float = 2.0
    debater_refused: float = 2.0
    critic_disagrees: float = 2.0
    judge_uncertain: float = 2.0


DEFAULT_WEIGHTS = SuspicionWeights()
UNSURE_REASON_FROM = 0.2  # uncertainty from which "judge unsure" is named among the reasons

_DISAGREE_RE = re.compile(r"^\W*(?:i\s+)?disagree\b", re.IGNORECASE)


def critic_disagrees(last_line: str) -> bool:
    """True when the critic's final line says it disagrees with the judge ("Disagree.")."""
    return bool(_DISAGREE_RE.match(last_line))


def judge_uncertainty(p: float | None) -> float:
    """``1 - |2p - 1|``: 1 for a judge split evenly between yes and no, 0 for a certain one."""
    if p is None or not 0.0 <= p <= 1.0:
        return 0.0
    return 1.0 - abs(2.0 * p - 1.0)


def suspicion(
    row: VerdictRow, weights: SuspicionWeights = DEFAULT_WEIGHTS, critic_dissents: bool | None = None
) -> tuple[float, tuple[str, ...]]:
    """(score, reasons in words) for one item's current debate.

    ``critic_dissents`` may carry :func:`critic_disagrees` already worked out for the row.
    """
    score = 0.0
    reasons: list[str] = []
    flags = row.flags
    if flags:
        for flag, weight, words in (
            ("judge_unparsed", weights.judge_unparsed, "judge answer unparsed"),
            ("api_refused", weights.api_refused, "provider refused"),
            ("debater_refused", weights.debater_refused, "debater refused"),
        ):
            if flag in flags:
                score += weight
                reasons.append(words)
    if row.verdicts_differ:
        score += weights.verdicts_differ
        reasons.append("runs disagree")
    if critic_dissents is None:
        critic_dissents = bool(row.critic_last_line) and critic_disagrees(row.critic_last_line)
    if critic_dissents:
        score += weights.critic_disagrees
        reasons.append("critic disagrees")
    if row.judge_yes_prob is not None:
        unsure = judge_uncertainty(row.judge_yes_prob)
        score += weights.judge_uncertain * unsure
        if unsure >= UNSURE_REASON_FROM:
            reasons.append(f"judge unsure (p = {row.judge_yes_prob:.2f})")
    return score, tuple(reasons)


class QueueEntry(NamedTuple):
    path: str
    kind: str
    model_label: str
    model_category: str
    score: float
    reasons: tuple[str, ...]


def review_queue(rows: Sequence[VerdictRow], weights: SuspicionWeights = DEFAULT_WEIGHTS) -> list[QueueEntry]:
    """Items with a model verdict and no human decision, most suspicious first.

    Items without a verdict (new, or a failed debate) have nothing to review and are left out.
    Ties keep the order of ``rows`` (the store gives name order): the sort is stable.
    """
    # Many small acyclic entries: a full collection walking every live row on each allocation
    # burst would otherwise cost a third of the queue's time at 100,000 items.
    with collector_paused():
        return _review_queue(rows, weights)


def _review_queue(rows: Sequence[VerdictRow], weights: SuspicionWeights) -> list[QueueEntry]:
    entries: list[QueueEntry] = []
    append = entries.append
    disagrees: dict[str, bool] = {"": False}  # critic's last line → dissents (few distinct lines)
    unsure_weight = weights.judge_uncertain
    for r in rows:
        if r.human_label is not None or r.model_label is None:
            continue
        line = r.critic_last_line
        dissents = disagrees.get(line)
        if dissents is None:
            dissents = disagrees[line] = critic_disagrees(line)
        if r.flags or r.verdicts_differ or dissents:
            score, reasons = suspicion(r, weights, dissents)
        elif r.judge_yes_prob is None:  # the common cases, without a call per item
            score, reasons = 0.0, ()
        else:
            unsure = judge_uncertainty(r.judge_yes_prob)
            score = unsure_weight * unsure
            reasons = (f"judge unsure (p = {r.judge_yes_prob:.2f})",) if unsure >= UNSURE_REASON_FROM else ()
        append(QueueEntry(r.path, r.kind, r.model_label, r.model_category, score, reasons))
    entries.sort(key=_minus_score)
    return entries


def _minus_score(e: QueueEntry) -> float:
    return -e.score


# --------------------------------------------------------------------------- audit samples


def stratum_of(row: VerdictRow) -> str:
    """The audit stratum: the model's verdict and the item's kind, e.g. ``yes/image``."""
    return f"{row.model_label}/{row.kind}"


def _model_only(rows: Iterable[VerdictRow]) -> list[VerdictRow]:
    return [r for r in rows if r.model_label is not None and r.human_label is None]


def allocate(sizes: Mapping[str, int], total: int) -> dict[str, int]:
    """Split ``total`` draws across strata in proportion to their sizes (largest remainder).

    When there are draws enough, every non-empty stratum gets at least one (taken from the
    largest strata). Never more than a stratum holds; ties go by stratum name.
    """
    strata = sorted(k for k, v in sizes.items() if v > 0)
    population = sum(sizes[k] for k in strata)
    total = max(0, min(total, population))
    if not total:
        return dict.fromkeys(strata, 0)
    least = 1 if total >= len(strata) else 0
    ideal = {k: total * sizes[k] / population for k in strata}
    out = {k: min(sizes[k], max(least, int(ideal[k]))) for k in strata}
    while sum(out.values()) > total:  # the minimum of one pushed us over: trim the largest
        k = max((k for k in strata if out[k] > least), key=lambda k: (out[k] - ideal[k], out[k], k))
        out[k] -= 1
    while sum(out.values()) < total:  # hand out the rest by largest remainder
        k = max((k for k in strata if out[k] < sizes[k]), key=lambda k: (ideal[k] - out[k], -strata.index(k)))
        out[k] += 1
    return out


@dataclass(frozen=True, slots=True)
class AuditSample:
    seed: int
    requested: int
    population: int  # model-only verdicts when the sample was drawn
    paths: tuple[str, ...]  # in a seeded shuffled order, so strata are interleaved for the reviewer
    strata: dict[str, tuple[int, int]]  # stratum → (population, drawn)


def draw_audit_sample(rows: Iterable[VerdictRow], size: int, seed: int) -> AuditSample:
    """A seeded, stratified random sample of the model-only verdicts (the same inputs give the same sample)."""
    if size < 0:
        raise ValueError(f"sample size must not be negative: {size}")
    by_stratum: dict[str, list[str]] = {}
    for r in _model_only(rows):
        by_stratum.setdefault(stratum_of(r), []).append(r.path)
    sizes = {k: len(v) for k, v in by_stratum.items()}
    quotas = allocate(sizes, size)
    rng = random.Random(seed)
    drawn: list[str] = []
    for k in sorted(by_stratum):
        drawn.extend(rng.sample(sorted(by_stratum[k]), quotas.get(k, 0)))
    rng.shuffle(drawn)
    return AuditSample(
        seed=seed,
        requested=size,
        population=sum(sizes.values()),
        paths=tuple(drawn),
        strata={k: (sizes[k], quotas.get(k, 0)) for k in sorted(by_stratum)},
    )


@dataclass(frozen=True, slots=True)
class StratumEstimate:
    stratum: str
    rest: int  # model-only verdicts nobody reviewed
    reviewed: int  # sampled items people have decided
    agree: int  # of those, how many agree with the model


@dataclass(frozen=True, slots=True)
class AuditEstimate:
    """The estimated accuracy of the unreviewed model-only verdicts, from a reviewed audit sample."""

    reviewed: int  # audit items with a human decision
    agree: int
    rest: int  # all model-only verdicts nobody reviewed
    covered: int  # those in strata where at least one audit item was reviewed: what the estimate covers
    accuracy: float | None
    ci: Interval | None
    strata: tuple[StratumEstimate, ...]

    @property
    def uncovered(self) -> int:
        return self.rest - self.covered


def estimate_rest_accuracy(rows: Sequence[VerdictRow], sample_paths: Iterable[str], z: float = Z95) -> AuditEstimate:
    """Accuracy of the model-only verdicts nobody reviewed, estimated from a reviewed audit sample.

    Stratified estimate: ``sum_h W_h * x_h / n_h`` where, in stratum h (model verdict × kind),
    ``n_h`` audit items were decided by people, ``x_h`` of them agreeing with the model, and
    ``W_h`` is the stratum's share of the unreviewed rest (strata with no reviewed audit item
    are not covered; their count is reported). Interval: a stratified Agresti-Coull interval,
    ``sum_h W_h p~_h ± z * sqrt(sum_h W_h² p~_h (1 - p~_h) / (n_h + z²))`` with
    ``p~_h = (x_h + z²/2) / (n_h + z²)``, clipped to [0, 1]; it stays honest when a small
    stratum agrees 100 %. Only the sample's items count, never other reviewed items (those were
    picked by suspicion, not at random).
    """
    wanted = set(sample_paths)
    rest: dict[str, int] = {}
    reviewed: dict[str, list[int]] = {}
    for r in rows:
        if r.model_label is None:
            continue
        key = stratum_of(r)
        if r.human_label is None:
            rest[key] = rest.get(key, 0) + 1
        elif r.path in wanted:
            tally = reviewed.setdefault(key, [0, 0])
            tally[0] += 1
            tally[1] += r.human_label == r.model_label
    strata = tuple(
        StratumEstimate(k, rest.get(k, 0), reviewed.get(k, [0, 0])[0], reviewed.get(k, [0, 0])[1])
        for k in sorted(set(rest) | set(reviewed))
    )
    covered = sum(s.rest for s in strata if s.reviewed)
    accuracy: float | None = None
    ci: Interval | None = None
    if covered:
        z2 = z * z
        accuracy, centre, variance = 0.0, 0.0, 0.0
        for s in strata:
            if not s.reviewed or not s.rest:
                continue
            w = s.rest / covered
            accuracy += w * s.agree / s.reviewed
            p_adj = (s.agree + z2 / 2) / (s.reviewed + z2)
            centre += w * p_adj
            variance += w * w * p_adj * (1 - p_adj) / (s.reviewed + z2)
        half = z * math.sqrt(variance)
        ci = (max(0.0, centre - half), min(1.0, centre + half))
    return AuditEstimate(
        reviewed=sum(s.reviewed for s in strata),
        agree=sum(s.agree for s in strata),
        rest=sum(s.rest for s in strata),
        covered=covered,
        accuracy=accuracy,
        ci=ci,
        strata=strata,
    )


# --------------------------------------------------------------------------- the whole picture


@dataclass(frozen=True, slots=True)
class ReviewSummary:
    """What the Review panel shows and the report writes, computed in one go."""

    items: int
    with_verdict: int
    with_human: int
    overall: Agreement
    by_kind: dict[str, Agreement]
    by_category: dict[str, Agreement]
    by_model: dict[str, Agreement]
    queue: list[QueueEntry]
    audit: AuditEstimate | None
    audit_sample: AuditSample | None
    reference: str = ""  # the --against file, when the labels came from one


def review_summary(
    rows: Sequence[VerdictRow],
    audit_sample: AuditSample | None = None,
    seed: int = DEFAULT_SEED,
    weights: SuspicionWeights = DEFAULT_WEIGHTS,
    reference: str = "",
) -> ReviewSummary:
    return ReviewSummary(
        items=len(rows),
        with_verdict=sum(1 for r in rows if r.model_label is not None),
        with_human=sum(1 for r in rows if r.human_label is not None),
        overall=agreement(rows, seed),
        by_kind=agreement_by(rows, "kind", seed),
        by_category=agreement_by(rows, "category", seed),
        by_model=agreement_by(rows, "model", seed),
        queue=review_queue(rows, weights),
        audit=estimate_rest_accuracy(rows, audit_sample.paths) if audit_sample is not None else None,
        audit_sample=audit_sample,
        reference=reference,
    )


# --------------------------------------------------------------------------- words and numbers


def pct(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{100 * value:.{digits}f}"


def pct_ci(ci: Interval | None, digits: int = 1) -> str:
    return "" if ci is None else f"[{100 * ci[0]:.{digits}f}, {100 * ci[1]:.{digits}f}]"


def num(value: float | None) -> str:
    return "n/a" if value is None else f"{value + 0.0:.3f}"  # + 0.0 turns -0.0 into 0.0


def num_ci(ci: Interval | None) -> str:
    return "" if ci is None else f"[{ci[0] + 0.0:.3f}, {ci[1] + 0.0:.3f}]"


# (label, attribute, as percent?) in the order every table shows them
FIGURES: tuple[tuple[str, str, bool], ...] = (
    ("accuracy on harmful", "acc_harmful", True),
    ("accuracy on unharmful", "acc_unharmful", True),
    ("mean of the two", "acc_mean", True),
    ("precision (harmful)", "precision", True),
    ("recall (harmful)", "recall", True),
    ("F1 (harmful)", "f1", True),
    ("Cohen's kappa", "kappa", False),
)


def figure_rows(a: Agreement) -> list[tuple[str, str, str]]:
    """(label, value, interval) in words for each figure: percentages, κ as a fraction."""
    out = []
    for label, attr, as_pct in FIGURES:
        value, ci = getattr(a, attr), getattr(a, attr + "_ci")
        if as_pct:
            out.append((label, "n/a" if value is None else pct(value) + " %", pct_ci(ci)))
        else:
            out.append((label, num(value), num_ci(ci)))
    return out


def no_overlap_message(items: int, with_verdict: int, with_human: int, reference: str = "") -> str:
    other = f"a label in {reference}" if reference else "a human decision"
    return (
        f"No item has both a model verdict and {other} yet "
        f"({items} items, {with_verdict} with a model verdict, {with_human} with {other})."
    )


def format_table(a: Agreement, title: str = "model verdict vs human decision") -> str:
    """The readable terminal table of one group's figures and its confusion matrix."""
    lines = [f"{title}: {a.n} items with both"]
    width = max(len(label) for label, _, _ in FIGURES)
    lines.append(f"  {'':{width}}  {'value':>9}  95% interval")
    for label, value, ci in figure_rows(a):
        lines.append(f"  {label:{width}}  {value:>9}  {ci}")
    c = a.confusion
    lines.append("  confusion (rows: human, columns: model)")
    lines.append(f"  {'':12}{'model yes':>11}{'model no':>11}")
    lines.append(f"  {'human yes':12}{c.yes_yes:>11}{c.yes_no:>11}")
    lines.append(f"  {'human no':12}{c.no_yes:>11}{c.no_no:>11}")
    return "\n".join(lines)


GROUP_COLUMNS = ("n", "acc harmful", "acc unharmful", "mean", "F1", "kappa")


def group_cells(a: Agreement) -> list[str]:
    """One row of a per-group table: n, then each figure with its interval."""

    def both(value: str, ci: str) -> str:
        return f"{value} {ci}".strip()

    return [
        str(a.n),
        both(pct(a.acc_harmful), pct_ci(a.acc_harmful_ci)),
        both(pct(a.acc_unharmful), pct_ci(a.acc_unharmful_ci)),
        both(pct(a.acc_mean), pct_ci(a.acc_mean_ci)),
        both(pct(a.f1), pct_ci(a.f1_ci)),
        both(num(a.kappa), num_ci(a.kappa_ci)),
    ]


def format_groups(groups: Mapping[str, Agreement], by: str) -> str:
    """A terminal table with one line per group (figures in %, κ as a fraction)."""
    header = [by, *GROUP_COLUMNS]
    body = [[name, *group_cells(a)] for name, a in groups.items()]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)) for row in [header, *body]]
    return "\n".join(lines)


def audit_words(e: AuditEstimate) -> str:
    """The audit estimate in one sentence, beside the count it covers."""
    if e.accuracy is None:
        return f"no audit item reviewed yet; {e.rest} model-only verdicts unreviewed"
    text = (
        f"estimated accuracy of the {e.covered} unreviewed model-only verdicts: {pct(e.accuracy)} % "
        f"{pct_ci(e.ci)} (from {e.reviewed} reviewed audit items, {e.agree} agreeing)"
    )
    if e.uncovered:
        text += f"; {e.uncovered} more in strata with no reviewed audit item are not covered"
    return text


# --------------------------------------------------------------------------- the report


REPORT_IMAGES = {"confusion": "confusion.png", "categories": "categories.png"}
METHOD_NOTES = (
    "Figures compare the model's current verdict with the standing human decision, on items that have both.",
    "Intervals are 95 %: Wilson score intervals for proportions; a seeded percentile bootstrap "
    f"({BOOTSTRAP_RESAMPLES} resamples of the items) for the mean accuracy, F1 and Cohen's kappa.",
    "Suspicion score = 3 × judge answer unparsed + 2.5 × runs/models disagree + 2 × provider refused "
    "+ 2 × debater refused + 2 × critic disagrees + 2 × (1 − |2p − 1|) for the judge's p(yes).",
    "The audit estimate weights each stratum (model verdict × kind) by its share of the unreviewed "
    "verdicts; its interval is a stratified Agresti–Coull interval.",
)


def _report_sections(s: ReviewSummary, store_name: str) -> dict[str, Any]:
    """The report's content, independent of the markup."""
    human = f"labels in {s.reference}" if s.reference else "human decisions"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    intro = f"Store {store_name}, {stamp}: {s.items} items, {s.with_verdict} with a model verdict, {s.with_human} with {human}."
    groups = [
        (title, by, data)
        for title, by, data in (("By kind", "kind", s.by_kind), ("By human category", "category", s.by_category), ("By model / preset", "model / preset", s.by_model))
        if data
    ]
    queue = [(str(i), q.path, q.model_label, f"{q.score:.2f}", ", ".join(q.reasons) or "-") for i, q in enumerate(s.queue[:25], start=1)]
    return {"intro": intro, "groups": groups, "queue": queue}


def report_markdown(s: ReviewSummary, store_name: str, images: Mapping[str, str] = REPORT_IMAGES) -> str:
    """The review report as Markdown; ``images`` names the PNG files written beside it."""
    parts = _report_sections(s, store_name)
    out = ["# Review report", "", parts["intro"], ""]
    out += [f"## Agreement: model verdict vs {'reference labels' if s.reference else 'human decision'}", ""]
    if not s.overall.n:
        out += [no_overlap_message(s.items, s.with_verdict, s.with_human, s.reference), ""]
    else:
        out += [f"{s.overall.n} items with both.", "", "| measure | value | 95% interval |", "|---|---:|---|"]
        out += [f"| {label} | {value} | {ci} |" for label, value, ci in figure_rows(s.overall)]
        out += ["", f"![Confusion matrix, human rows, model columns]({images['confusion']})", ""]
        for title, by, data in parts["groups"]:
            out += [f"## {title}", ""]
            if by == "category":
                out += [f"![Agreement per human category]({images['categories']})", ""]
            out += [_md_row([by, *GROUP_COLUMNS]), "|---" + "|---:" * len(GROUP_COLUMNS) + "|"]
            out += [_md_row([name, *group_cells(a)]) for name, a in data.items()]
            out.append("")
    out += ["## Audit", ""]
    if s.audit_sample is None or s.audit is None:
        out += ["No audit sample drawn.", ""]
    else:
        out += [f"Sample of {len(s.audit_sample.paths)} (seed {s.audit_sample.seed}) from {s.audit_sample.population} model-only verdicts.", ""]
        out += [audit_words(s.audit) + ".", ""]
    out += ["## Review queue (most suspicious first)", ""]
    if parts["queue"]:
        out += ["| # | item | model | score | why |", "|---:|---|---|---:|---|"]
        out += [_md_row(list(row)) for row in parts["queue"]]
        if len(s.queue) > len(parts["queue"]):
            out.append(f"\n… and {len(s.queue) - len(parts['queue'])} more.")
    else:
        out.append("Empty: every model verdict has a human decision.")
    out += ["", "## How these figures are computed", ""]
    out += [f"- {note}" for note in METHOD_NOTES]
    return "\n".join(out) + "\n"


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def report_html(s: ReviewSummary, store_name: str, images: Mapping[str, str] = REPORT_IMAGES) -> str:
    """The same report as one self-contained HTML page (pictures as PNG files beside it)."""
    e = html.escape
    parts = _report_sections(s, store_name)

    def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
        head = "".join(f"<th>{e(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>Review report</title>',
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}"
        "td:first-child,th:first-child{text-align:left}img{max-width:100%}</style></head><body>",
        "<h1>Review report</h1>",
        f"<p>{e(parts['intro'])}</p>",
        f"<h2>Agreement: model verdict vs {'reference labels' if s.reference else 'human decision'}</h2>",
    ]
    if not s.overall.n:
        out.append(f"<p>{e(no_overlap_message(s.items, s.with_verdict, s.with_human, s.reference))}</p>")
    else:
        out.append(f"<p>{s.overall.n} items with both.</p>")
        out.append(table(["measure", "value", "95% interval"], figure_rows(s.overall)))
        out.append(f'<p><img src="{e(images["confusion"])}" alt="Confusion matrix, human rows, model columns"></p>')
        for title, by, data in parts["groups"]:
            out.append(f"<h2>{e(title)}</h2>")
            if by == "category":
                out.append(f'<p><img src="{e(images["categories"])}" alt="Agreement per human category"></p>')
            out.append(table([by, *GROUP_COLUMNS], ([name, *group_cells(a)] for name, a in data.items())))
    out.append("<h2>Audit</h2>")
    if s.audit_sample is None or s.audit is None:
        out.append("<p>No audit sample drawn.</p>")
    else:
        out.append(f"<p>Sample of {len(s.audit_sample.paths)} (seed {s.audit_sample.seed}) from {s.audit_sample.population} model-only verdicts.</p>")
        out.append(f"<p>{e(audit_words(s.audit))}.</p>")
    out.append("<h2>Review queue (most suspicious first)</h2>")
    if parts["queue"]:
        out.append(table(["#", "item", "model", "score", "why"], parts["queue"]))
        if len(s.queue) > len(parts["queue"]):
            out.append(f"<p>… and {len(s.queue) - len(parts['queue'])} more.</p>")
    else:
        out.append("<p>Empty: every model verdict has a human decision.</p>")
    out.append("<h2>How these figures are computed</h2><ul>")
    out += [f"<li>{e(note)}</li>" for note in METHOD_NOTES]
    out.append("</ul></body></html>")
    return "\n".join(out) + "\n"


def report_image_names(report_file: str | Path) -> dict[str, str]:
    """File names of the pictures written beside ``report_file`` (``report-confusion.png``...)."""
    stem = Path(report_file).stem
    return {key: f"{stem}-{name}" for key, name in REPORT_IMAGES.items()}


__all__ = [
    "BOOTSTRAP_RESAMPLES",
    "DEFAULT_SEED",
    "DEFAULT_WEIGHTS",
    "GROUPINGS",
    "Agreement",
    "AuditEstimate",
    "AuditSample",
    "Confusion",
    "QueueEntry",
    "ReferenceLabels",
    "ReviewSummary",
    "SuspicionWeights",
    "agreement",
    "agreement_by",
    "agreement_from_confusion",
    "audit_words",
    "bootstrap_intervals",
    "cohen_kappa",
    "critic_disagrees",
    "draw_audit_sample",
    "estimate_rest_accuracy",
    "format_groups",
    "format_table",
    "reference_labels",
    "report_html",
    "report_markdown",
    "review_queue",
    "review_summary",
    "suspicion",
    "wilson_interval",
    "with_reference_labels",
]
