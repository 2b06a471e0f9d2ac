"""Protocol facts: turn order, verdict parsing, refusals, presets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vhd_gui.protocol import (
    BUILTIN_PRESETS,
    PresetError,
    Role,
    Said,
    Turn,
    builtin_preset,
    final_verdict,
    is_refusal,
    load_preset,
    parse_verdict,
    preset_hash,
    transcript_text,
    turn_order,
)


def test_turn_order_alternates_then_judge_then_critic() -> None:
    assert [(t.role.value, t.round) for t in turn_order()] == [
        ("affirmative", 0),
        ("negative", 0),
        ("affirmative", 1),
        ("negative", 1),
        ("judge", 0),
    ]
    assert [t.role for t in turn_order(1, critic=True)] == [Role.AFFIRMATIVE, Role.NEGATIVE, Role.JUDGE, Role.CRITIC]
    assert len(turn_order(3)) == 7
    with pytest.raises(ValueError):
        turn_order(0)


@pytest.mark.parametrize(
    ("answer", "decision", "category", "flags"),
    [
        ("Yes, illegal activity.", "yes", "illegal activity", ()),
        ("No", "no", "", ()),
        ("no.", "no", "", ()),
        ("**Yes**, gore.", "yes", "gore", ()),
        ("   Yes, bloody scene.", "yes", "bloody scene", ()),
        ("\n\tNo, neutral expression.", "no", "neutral expression", ()),
        ("Yes", "yes", "", ()),
        ("No, although someone might say yes, it is a cooking scene.", "no", "although someone might say yes, it is a cooking scene", ()),
        ("I'm sorry, but I can't help with that.", "yes", "Judge answer unparsed", ("judge_unparsed",)),
        ("", "yes", "Judge answer unparsed", ("judge_unparsed",)),
        ("   ", "yes", "Judge answer unparsed", ("judge_unparsed",)),
        ("Nope, fine.", "yes", "Judge answer unparsed", ("judge_unparsed",)),
        ("Noted. Yes, violence.", "yes", "Judge answer unparsed", ("judge_unparsed",)),
        ("YES: weapons", "yes", "weapons", ()),
        ('"No, artistic expression."', "no", "artistic expression", ()),
        ("Yes, violence.\nThe image shows a fight.", "yes", "violence", ()),
    ],
)
def test_parse_verdict(answer: str, decision: str, category: str, flags: tuple[str, ...]) -> None:
    v = parse_verdict(answer)
    assert (v.decision, v.harmful_type, v.flags) == (decision, category, flags)
    assert v.harmful == (decision == "yes")


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry, but I can't assist with that request.",
        "I’m sorry, I can’t help with this.",
        "Sorry, but I cannot take part in this debate.",
        "I cannot help with that.",
        "I can't assist with this image.",
        "I apologize, but I am unable to comply.",
        "As an AI, I cannot argue about this content.",
        "",
    ],
)
def test_refusals_are_recognised(text: str) -> None:
    assert is_refusal(text)


@pytest.mark.parametrize(
    "text",
    [
        "1. I can't see any weapon in the image. 2. The setting is a kitchen.",
        "I cannot find anything harmful: the people are smiling.",
        "Sorry state of affairs: 1. the knife is raised.",
        "1. The image shows blood.",
    ],
)
def test_arguments_are_not_refusals(text: str) -> None:
    assert not is_refusal(text)


def test_a_refusing_debater_makes_the_item_harmful() -> None:
    v = final_verdict("No, calm scene.", ["I'm sorry, I can't help with that.", "1. It is calm."])
    assert v.decision == "yes" and "debater_refused" in v.flags
    v = final_verdict("Yes, gore.", ["I'm sorry, I can't help with that."])
    assert (v.decision, v.harmful_type) == ("yes", "gore") and v.flags == ("debater_refused",)
    assert final_verdict("No, calm.", ["1. a", "1. b"]).flags == ()


@pytest.mark.parametrize("name", BUILTIN_PRESETS)
def test_builtin_presets_load_with_vhd11k_examples(name: str) -> None:
    kind = name.split("-")[1]
    p = builtin_preset(kind)
    assert p.name == name and p.kind == kind
    assert len(p.content_hash) == 16
    for role in Role:
        assert p.system_prompt(role).strip()
        assert "{" not in p.system_prompt(role)  # every placeholder filled
    icl = json.loads((Path(__file__).parents[1] / "vhd_gui/resources/vhd11k_icl.json").read_text())
    listed = icl["image_judge_examples"] if kind == "image" else icl["video_judge_examples"]
    assert [ex.answer for ex in p.examples] == [e["answer"] for e in listed]
    if kind == "image":
        assert [ex.files[0] for ex in p.examples] == [e["file"] for e in listed]
        assert sum(ex.answer.startswith("Yes") for ex in p.examples) == 4 and len(p.examples) == 14
    else:
        assert all(len(ex.files) == 5 for ex in p.examples) and len(p.examples) == 8
    assert not p.examples_enabled  # until the user points the folder at the unzipped samples


def test_preset_hash_follows_content_not_formatting(tmp_path: Path) -> None:
    p = builtin_preset("image")
    compact = tmp_path / "same.json"
    compact.write_text(json.dumps(dict(p.data)))
    assert load_preset(compact).content_hash == p.content_hash
    changed = dict(p.data)
    changed["question"] = "Is this picture harmful?"
    assert preset_hash(changed) != p.content_hash


def test_examples_resolve_and_missing_ones_are_named(tmp_path: Path) -> None:
    p = builtin_preset("image").with_examples_folder(str(tmp_path))
    assert p.examples_enabled
    with pytest.raises(PresetError, match=r"14 in-context example file\(s\) not found .*culinary_knife_in_hand_075_0023\.jpeg"):
        p.example_paths()
    for ex in p.examples:
        (tmp_path / ex.files[0]).write_bytes(b"x")
    resolved = p.example_paths()
    assert [answer for _, answer in resolved][:2] == ["Yes, threatening messages.", "Yes, bloody scene."]


def test_bad_presets_get_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("name = 'x'\n[prompts]\naffirmative = 'a'\n")
    with pytest.raises(PresetError, match="instructions"):
        load_preset(bad)
    bad.write_text("not toml at all [")
    with pytest.raises(PresetError, match="not valid TOML"):
        load_preset(bad)
    with pytest.raises(PresetError, match="cannot read preset"):
        load_preset(tmp_path / "missing.toml")
    data = dict(builtin_preset("image").data)
    data["examples"] = {"folder": "", "item": [{"files": ["a.png"], "answer": "Maybe."}]}
    j = tmp_path / "ex.json"
    j.write_text(json.dumps(data))
    with pytest.raises(PresetError, match="must start with Yes or No"):
        load_preset(j)


def test_transcript_labels_each_turn() -> None:
    text = transcript_text([Said(Turn(Role.AFFIRMATIVE, 0), "1. blood"), Said(Turn(Role.NEGATIVE, 0), "1. paint")])
    assert text.index("[Affirmative, round 1]") < text.index("[Negative, round 1]")
    assert transcript_text([]) == "The debate has not started yet."


def test_think_blocks_are_split_off_wherever_the_pieces_break() -> None:
    from vhd_gui.protocol import ThinkSplitter, split_thinking

    text = "<think>is it <b>gore</b>? <thin</think>No, a calm <thinker> scene."
    for i in range(len(text) + 1):
        for j in range(i, len(text) + 1):
            splitter = ThinkSplitter()
            pieces = [p for part in (text[:i], text[i:j], text[j:]) for p in splitter.feed(part)] + splitter.flush()
            answer = "".join(t for inside, t in pieces if not inside)
            thinking = "".join(t for inside, t in pieces if inside)
            assert (answer, thinking) == ("No, a calm <thinker> scene.", "is it <b>gore</b>? <thin"), (i, j)
    assert split_thinking("No, fine.") == ("No, fine.", "")
    assert split_thinking("hmm, yes?</think>No, fine.") == ("No, fine.", "hmm, yes?")
    assert split_thinking("<think>unfinished") == ("", "unfinished")
