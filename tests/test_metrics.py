"""Agreement figures, suspicion, the review queue and audit samples, with answers worked out by
hand, on real store files built through the Store API."""

from __future__ import annotations

import math
import random
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from vhd_gui import metrics
from vhd_gui.metrics import Confusion
from vhd_gui.record import DebateRecord, EndpointInfo, TurnRecord
from vhd_gui.store import Store, VerdictRow

REPO = Path(__file__).resolve().parents[1]


def debate(
    path: str,
    decision: str | None,
    *,
    kind: str = "image",
    flags: tuple[str, ...] = (),
    critic: str | None = None,
    p_yes: float | None = None,
    model: str = "gpt-4o",
    preset: str = "vhd11k-image",
) -> DebateRecord:
    turns = [TurnRecord("affirmative", 0, "harmful"), TurnRecord("negative", 0, "fine"), TurnRecord("judge", 0, f"{decision}.")]
    if critic is not None:
        turns.append(TurnRecord("critic", 0, critic))
    return DebateRecord(
        path=path,
        kind=kind,
        status="debated" if decision else "error",
        decision=decision,
        harmful_type="violence" if decision == "yes" else "",
        flags=list(flags),
        turns=turns,
        endpoints={"judge": EndpointInfo("http://localhost:8000/v1", model)},
        preset_name=preset,
        judge_yes_prob=p_yes,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    (tmp_path / "project").mkdir()
    with Store.for_folder(tmp_path / "project") as s:
        yield s


# (human, model) → how many: Wikipedia's worked example of Cohen's kappa (κ = 0.4)
WIKI = {("yes", "yes"): 20, ("yes", "no"): 5, ("no", "yes"): 10, ("no", "no"): 15}


def fill(store: Store, cells: dict[tuple[str, str], int], kind: str = "image", prefix: str = "") -> None:
    with store.transaction():
        i = 0
        for (human, model), count in cells.items():
            for _ in range(count):
                path = f"{prefix}{kind}_{i:03}.{'mp4' if kind == 'video' else 'png'}"
                store.record_debate(debate(path, model, kind=kind))
                store.record_decision(path, human, category="violence" if human == "yes" else "")
                i += 1


# --------------------------------------------------------------------------- intervals


@pytest.mark.parametrize(
    ("x", "n", "lo", "hi"),
    [  # Newcombe (1998), Statistics in Medicine 17:857, table I, method 3 (Wilson score)
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
        (5, 10, 0.2366, 0.7634),
        (10, 10, 0.7225, 1.0),
    ],
)
def test_wilson_interval_matches_published_values(x: int, n: int, lo: float, hi: float) -> None:
    ci = metrics.wilson_interval(x, n)
    assert ci is not None
    assert ci[0] == pytest.approx(lo, abs=5e-5) and ci[1] == pytest.approx(hi, abs=5e-5)


def test_wilson_interval_of_nothing_is_none() -> None:
    assert metrics.wilson_interval(0, 0) is None
    with pytest.raises(ValueError):
        metrics.wilson_interval(3, 2)


def test_binomial_sampler_has_the_right_mean_and_spread() -> None:
    rng = random.Random(3)
    draws = [metrics._binomial(rng, 5000, 0.3) for _ in range(4000)]
    assert statistics.fmean(draws) == pytest.approx(1500, abs=3)
    assert statistics.pstdev(draws) == pytest.approx(math.sqrt(5000 * 0.3 * 0.7), rel=0.05)
    small = [metrics._binomial(rng, 3, 0.9) for _ in range(20000)]
    for k in range(4):  # exact pmf of Binomial(3, 0.9)
        assert small.count(k) / len(small) == pytest.approx(math.comb(3, k) * 0.9**k * 0.1 ** (3 - k), abs=0.01)
    assert metrics._binomial(rng, 10, 0.0) == 0 and metrics._binomial(rng, 10, 1.0) == 10


# --------------------------------------------------------------------------- agreement on a store


def test_hand_computed_figures_on_a_real_store(store: Store) -> None:
    fill(store, WIKI)
    store.record_debate(debate("model_only.png", "yes"))  # no human decision: not counted
    store.add_item("new.png", "image")  # nothing at all
    store.record_debate(debate("failed.png", None))
    store.record_decision("failed.png", "no")  # human but no model verdict: not counted

    a = metrics.agreement(store.verdict_rows())
    assert a.confusion == Confusion(20, 5, 10, 15)
    assert a.confusion.as_dict() == {"yes": {"yes": 20, "no": 5}, "no": {"yes": 10, "no": 15}}
    assert a.n == 50
    assert a.acc_harmful == pytest.approx(0.8) and a.recall == pytest.approx(0.8)
    assert a.acc_unharmful == pytest.approx(0.6)
    assert a.acc_mean == pytest.approx(0.7)
    assert a.precision == pytest.approx(20 / 30)
    assert a.f1 == pytest.approx(2 * 20 / (2 * 20 + 5 + 10))
    # po = 35/50 = 0.7; pe = 0.5*0.6 + 0.5*0.4 = 0.5; κ = (0.7 - 0.5) / (1 - 0.5)
    assert a.kappa == pytest.approx(0.4)
    assert a.acc_harmful_ci == pytest.approx(metrics.wilson_interval(20, 25))
    assert a.precision_ci == pytest.approx(metrics.wilson_interval(20, 30))
    # Bootstrap intervals: around the estimate, as wide as the asymptotic standard error says
    # (κ's SE here is about 0.13), and the same on every run (seeded).
    assert a.kappa_ci is not None and a.kappa_ci[0] < 0.4 < a.kappa_ci[1]
    assert 0.35 < a.kappa_ci[1] - a.kappa_ci[0] < 0.65
    for ci, value in ((a.acc_mean_ci, 0.7), (a.f1_ci, a.f1)):
        assert ci is not None and ci[0] < value < ci[1]  # type: ignore[operator]
    assert metrics.agreement(store.verdict_rows()) == a


def test_undefined_figures_are_none_not_zero() -> None:
    only_harmful = metrics.agreement_from_confusion(Confusion(yes_yes=8, yes_no=2))
    assert only_harmful.acc_harmful == pytest.approx(0.8)
    assert only_harmful.acc_unharmful is None and only_harmful.acc_unharmful_ci is None
    assert only_harmful.acc_mean is None and only_harmful.kappa is None  # people saw one class
    nothing = metrics.agreement_from_confusion(Confusion())
    assert nothing.n == 0 and all(v is None for k, v in nothing.to_json().items() if k not in ("n", "confusion"))
    always_yes = metrics.agreement_from_confusion(Confusion(yes_yes=5, no_yes=5))
    assert always_yes.kappa == pytest.approx(0.0)  # a model that always says yes: no better than chance


def test_split_by_kind_category_and_model(store: Store) -> None:
    fill(store, {("yes", "yes"): 3, ("no", "no"): 2}, kind="image")
    fill(store, {("yes", "no"): 1, ("no", "yes"): 1}, kind="video")
    store.record_debate(debate("other.png", "yes", model="qwen-vl", preset="mine"))
    store.record_decision("other.png", "yes", category="drugs")
    rows = store.verdict_rows()

    by_kind = metrics.agreement_by(rows, "kind")
    assert list(by_kind) == ["image", "video"]
    assert by_kind["image"].confusion == Confusion(4, 0, 0, 2)
    assert by_kind["video"].confusion == Confusion(0, 1, 1, 0)

    by_category = metrics.agreement_by(rows, "category")
    assert list(by_category) == ["violence", "drugs", metrics.NOT_HARMFUL_GROUP]  # largest first, harmless last
    assert by_category["violence"].confusion == Confusion(3, 1, 0, 0)
    assert by_category[metrics.NOT_HARMFUL_GROUP].acc_unharmful == pytest.approx(2 / 3)

    by_model = metrics.agreement_by(rows, "model")
    assert by_model["qwen-vl / mine"].n == 1 and by_model["gpt-4o / vhd11k-image"].n == 7
    with pytest.raises(ValueError):
        metrics.agreement_by(rows, "colour")


# --------------------------------------------------------------------------- suspicion and the queue


def test_verdict_rows_carry_the_debate_signals(store: Store) -> None:
    store.record_debate(debate("a.png", "yes", critic="1. Missed the toy.\r\nDisagree.\n\n", p_yes=0.6, model="m1"))
    store.record_debate(debate("a.png", "no", critic="Agree."))  # a second run reaching the other verdict
    store.record_debate(debate("b.png", "no", flags=("judge_unparsed",)))
    rows = {r.path: r for r in store.verdict_rows()}
    a, b = rows["a.png"], rows["b.png"]
    assert a.verdicts_differ and a.model_label == "no" and a.critic_last_line == "Agree."  # current debate
    assert not b.verdicts_differ and b.flags == ("judge_unparsed",) and b.critic_last_line == ""
    assert b.judge_model == "gpt-4o" and b.preset_name == "vhd11k-image"
    assert [r.path for r in store.verdict_rows()] == ["a.png", "b.png"]


@pytest.mark.parametrize(
    ("line", "disagrees"),
    [("Disagree.", True), ("I disagree with the judge.", True), ("**Disagree**", True), ("Agree.", False), ("", False)],
)
def test_critic_disagreement(line: str, disagrees: bool) -> None:
    assert metrics.critic_disagrees(line) is disagrees


def test_suspicion_weights_add_up() -> None:
    row = VerdictRow("x.png", "image", "debated", "yes", "", None, "", ("judge_unparsed", "api_refused"), 0.5, "Disagree.", "m", "p", True)
    score, reasons = metrics.suspicion(row)
    w = metrics.DEFAULT_WEIGHTS
    assert score == pytest.approx(w.judge_unparsed + w.api_refused + w.critic_disagrees + w.verdicts_differ + w.judge_uncertain)
    assert reasons == ("judge answer unparsed", "provider refused", "runs disagree", "critic disagrees", "judge unsure (p = 0.50)")
    assert metrics.judge_uncertainty(0.9) == pytest.approx(0.2)
    assert metrics.judge_uncertainty(None) == 0.0


def test_review_queue_order(store: Store) -> None:
    store.record_debate(debate("d_calm.png", "no", p_yes=0.0))  # 0
    store.record_debate(debate("c_unparsed.png", "yes", flags=("judge_unparsed",)))  # 3
    store.record_debate(debate("b_critic.png", "no", critic="Disagree."))  # 2
    store.record_debate(debate("a_critic.png", "yes", critic="1. hmm\nDisagree."))  # 2, before b by name
    store.record_debate(debate("e_coinflip.png", "yes", p_yes=0.5))  # 2 × 1
    store.record_debate(debate("f_unsure.png", "no", p_yes=0.25))  # 2 × 0.5
    store.record_debate(debate("g_calm.png", "yes"))  # 0, after d by name
    store.record_debate(debate("z_decided.png", "yes", flags=("judge_unparsed",)))
    store.record_decision("z_decided.png", "yes")  # decided: not in the queue
    store.record_debate(debate("y_error.png", None))  # no verdict: not in the queue
    store.add_item("x_new.png", "image")

    queue = metrics.review_queue(store.verdict_rows())
    assert [q.path for q in queue] == [
        "c_unparsed.png",
        "a_critic.png",
        "b_critic.png",
        "e_coinflip.png",
        "f_unsure.png",
        "d_calm.png",
        "g_calm.png",
    ]
    assert [q.score for q in queue] == pytest.approx([3.0, 2.0, 2.0, 2.0, 1.0, 0.0, 0.0])
    assert queue[0].reasons == ("judge answer unparsed",)


# --------------------------------------------------------------------------- audit


def test_allocation_is_proportional_with_one_per_stratum() -> None:
    assert metrics.allocate({"a": 50, "b": 30, "c": 20}, 10) == {"a": 5, "b": 3, "c": 2}
    assert metrics.allocate({"a": 97, "b": 2, "c": 1}, 10) == {"a": 8, "b": 1, "c": 1}
    assert metrics.allocate({"a": 3, "b": 1}, 100) == {"a": 3, "b": 1}  # capped at the population
    assert sum(metrics.allocate({"a": 5, "b": 5, "c": 5}, 2).values()) == 2
    assert metrics.allocate({}, 5) == {}


def test_audit_sample_is_seeded_and_stratified(store: Store) -> None:
    with store.transaction():
        for i in range(60):
            store.record_debate(debate(f"img_{i:02}.png", "yes" if i < 20 else "no"))
        for i in range(20):
            store.record_debate(debate(f"vid_{i:02}.mp4", "yes" if i < 10 else "no", kind="video"))
    store.record_decision("img_00.png", "yes")  # already reviewed: not model-only
    rows = store.verdict_rows()
    sample = metrics.draw_audit_sample(rows, 16, seed=5)
    assert sample.population == 79
    assert sample.strata == {"no/image": (40, 8), "no/video": (10, 2), "yes/image": (19, 4), "yes/video": (10, 2)}
    assert len(set(sample.paths)) == 16 and "img_00.png" not in sample.paths
    assert metrics.draw_audit_sample(rows, 16, seed=5) == sample
    assert metrics.draw_audit_sample(rows, 16, seed=6).paths != sample.paths


def test_rest_accuracy_is_stratum_weighted(store: Store) -> None:
    with store.transaction():
        for i in range(40):  # model says yes on 40 images, no on 80
            store.record_debate(debate(f"y{i:03}.png", "yes"))
        for i in range(80):
            store.record_debate(debate(f"n{i:03}.png", "no"))
        for i in range(10):  # the audit: 10 yes-verdicts (8 confirmed), 10 no-verdicts (all confirmed)
            store.record_decision(f"y{i:03}.png", "yes" if i < 8 else "no")
            store.record_decision(f"n{i:03}.png", "no")
        store.record_decision("y039.png", "no")  # reviewed from the queue, not in the sample: ignored
    sample = [f"y{i:03}.png" for i in range(10)] + [f"n{i:03}.png" for i in range(10)]
    e = metrics.estimate_rest_accuracy(store.verdict_rows(), sample)
    assert (e.reviewed, e.agree, e.rest, e.covered, e.uncovered) == (20, 18, 99, 99, 0)
    # the rest: 29 yes-verdicts at 8/10, 70 no-verdicts at 10/10
    assert e.accuracy == pytest.approx(29 / 99 * 0.8 + 70 / 99 * 1.0)
    assert e.ci is not None and e.ci[0] < e.accuracy <= e.ci[1] < 1.0  # an all-correct stratum still has width
    assert "99 unreviewed model-only verdicts" in metrics.audit_words(e)

    videos = metrics.estimate_rest_accuracy(
        [*store.verdict_rows(), VerdictRow("v.mp4", "video", "debated", "no", "", None, "", (), None, "", "", "", False)], sample
    )
    assert videos.covered == 99 and videos.uncovered == 1
    assert "1 more in strata with no reviewed audit item" in metrics.audit_words(videos)
    assert metrics.estimate_rest_accuracy(store.verdict_rows(), []).accuracy is None


# --------------------------------------------------------------------------- report and purity


def test_report_markdown_and_html(store: Store) -> None:
    fill(store, WIKI)
    store.record_debate(debate("queued.png", "yes", flags=("judge_unparsed",)))
    rows = store.verdict_rows()
    summary = metrics.review_summary(rows, metrics.draw_audit_sample(rows, 1, seed=1))
    md = metrics.report_markdown(summary, "annotations.sqlite", metrics.report_image_names("out/report.md"))
    assert "| Cohen's kappa | 0.400 |" in md
    assert "![Confusion matrix, human rows, model columns](report-confusion.png)" in md
    assert "queued.png" in md and "judge answer unparsed" in md
    page = metrics.report_html(summary, "annotations.sqlite", metrics.report_image_names("r.html"))
    assert page.startswith("<!DOCTYPE html>") and '<img src="r-confusion.png"' in page and "<td>0.400</td>" in page


def test_metrics_imports_no_qt() -> None:
    code = "import sys, vhd_gui.metrics, vhd_gui._cli_metrics; print(any(m.startswith(('PySide6', 'PyQt')) for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True).stdout
    assert out.strip() == "False"
