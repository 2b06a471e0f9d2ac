"""The debate engine against a real OpenAI-compatible server on 127.0.0.1 (tests/fakeserver.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from pathlib import Path
from typing import Any

import pytest

from vhd_gui.engine import (
    DebateEngine,
    DebateFailed,
    DebateStarted,
    ThinkingReceived,
    TokenReceived,
    TurnFinished,
    TurnRetrying,
    VerdictReached,
)
from vhd_gui.protocol import PresetError, Role

from fakeserver import BAD_ANSWERS, FakeServer, Fault
from helpers import TEST_KEY, TEST_KEY_ENV, settings_for, settled_tasks, write_image, write_video

pytestmark = pytest.mark.asyncio

SECRET = TEST_KEY


@pytest.fixture
def image(tmp_path: Path) -> Path:
    return write_image(tmp_path / "item.jpg", (2000, 1500))


async def run(engine: DebateEngine, path: Path, **kw: Any) -> list[Any]:
    events = [ev async for ev in engine.run(path, **kw)]
    await engine.close()
    return events


def finished_turns(events: list[Any]) -> list[tuple[str, int]]:
    return [(ev.turn.role.value, ev.turn.round) for ev in events if isinstance(ev, TurnFinished)]


def user_parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    users = [m for m in body["messages"] if m["role"] == "user"]
    content = users[-1]["content"]
    return [{"type": "text", "text": content}] if isinstance(content, str) else content


async def test_debate_runs_in_protocol_order_and_streams(server: FakeServer, image: Path) -> None:
    events = await run(DebateEngine(settings_for(server.base_url)), image)
    assert isinstance(events[0], DebateStarted)
    assert finished_turns(events) == [("affirmative", 0), ("negative", 0), ("affirmative", 1), ("negative", 1), ("judge", 0)]
    assert server.roles_seen() == ["affirmative", "negative", "affirmative", "negative", "judge"]
    # Tokens arrive between a turn's start and its end, and add up to its text.
    for turn_ev in [ev for ev in events if isinstance(ev, TurnFinished)]:
        tokens = "".join(ev.text for ev in events if isinstance(ev, TokenReceived) and ev.turn == turn_ev.turn)
        assert tokens.strip() == turn_ev.text
        assert len([ev for ev in events if isinstance(ev, TokenReceived) and ev.turn == turn_ev.turn]) > 3
    last = events[-1]
    assert isinstance(last, VerdictReached)
    assert last.verdict.decision == "no" and last.verdict.harmful_type == "ordinary cooking scene"
    rec = last.record
    assert rec.status == "debated" and rec.decision == "no" and rec.judge_raw == "No, ordinary cooking scene."
    assert rec.argument("negative", 1).startswith("1. The knife")
    assert rec.endpoints["judge"].model == "fake-vlm"
    assert rec.preset_name == "vhd11k-image" and len(rec.preset_hash) == 16


async def test_without_token_events_the_debate_and_its_record_are_the_same(server: FakeServer, image: Path) -> None:
    # A batch shows no text: it asks for no token events, and gets the same turns and verdict.
    server.answers["affirmative"] = "<think>weighing it</think>A knife is a weapon."
    streamed = await run(DebateEngine(settings_for(server.base_url)), image)
    quiet = await run(DebateEngine(settings_for(server.base_url)), image, token_events=False)
    assert not any(isinstance(ev, (TokenReceived, ThinkingReceived)) for ev in quiet)
    assert any(isinstance(ev, ThinkingReceived) for ev in streamed)
    assert finished_turns(quiet) == finished_turns(streamed)
    a, b = streamed[-1].record, quiet[-1].record
    assert isinstance(quiet[-1], VerdictReached) and quiet[-1].verdict == streamed[-1].verdict
    assert [(t.role, t.round, t.text, t.thinking) for t in b.turns] == [(t.role, t.round, t.text, t.thinking) for t in a.turns]
    assert b.turns[0].text == "A knife is a weapon." and b.turns[0].thinking == "weighing it"


async def test_critic_speaks_after_the_judge(server: FakeServer, image: Path) -> None:
    events = await run(DebateEngine(settings_for(server.base_url, critic=True, rounds=1)), image)
    assert finished_turns(events) == [("affirmative", 0), ("negative", 0), ("judge", 0), ("critic", 0)]
    assert events[-1].record.critic.endswith("Agree.")


async def test_flat_layout_passes_a_strict_chat_template(monkeypatch: pytest.MonkeyPatch, image: Path) -> None:
    monkeypatch.setenv(TEST_KEY_ENV, SECRET)
    with FakeServer(api_key=SECRET, strict_alternation=True) as srv:
        events = await run(DebateEngine(settings_for(srv.base_url)), image)
        assert isinstance(events[-1], VerdictReached)
        for body in srv.requests:
            assert [m["role"] for m in body["messages"]] == ["system", "user"]
            assert all("name" not in m for m in body["messages"])


async def test_chat_layout_is_refused_by_a_strict_template_with_a_hint(monkeypatch: pytest.MonkeyPatch, image: Path) -> None:
    monkeypatch.setenv(TEST_KEY_ENV, SECRET)
    with FakeServer(api_key=SECRET, strict_alternation=True) as srv:
        events = await run(DebateEngine(settings_for(srv.base_url, layout="chat")), image)
        last = events[-1]
        assert isinstance(last, DebateFailed) and last.kind == "api"
        assert "flat message layout" in last.message
        assert last.turn is not None and last.turn.role is Role.AFFIRMATIVE  # item, then the instruction: two user messages


async def test_chat_layout_sends_the_debate_as_messages(server: FakeServer, image: Path) -> None:
    events = await run(DebateEngine(settings_for(server.base_url, layout="chat")), image)
    assert isinstance(events[-1], VerdictReached)
    second_affirmative = server.requests[2]
    roles = [m["role"] for m in second_affirmative["messages"]]
    # system, item (user), own round-1 turn (assistant), the negative's turn (user), the instruction (user)
    assert roles == ["system", "user", "assistant", "user", "user"]


async def test_requests_put_what_repeats_first(server: FakeServer, image: Path, tmp_path: Path) -> None:
    examples = tmp_path / "icl"
    for i, colour in enumerate([(10, 10, 10), (200, 200, 200)]):
        write_image(examples / f"ex{i}.png", (300, 300), colour)
    preset_file = tmp_path / "p.toml"
    preset_file.write_text(_preset_with_examples(["ex0.png", "ex1.png"], str(examples)))
    s = settings_for(server.base_url, preset=str(preset_file))
    engine = DebateEngine(s)
    other = write_image(tmp_path / "other.jpg", (800, 600), (0, 90, 0))
    events_a = [ev async for ev in engine.run(image)]
    events_b = [ev async for ev in engine.run(other)]
    await engine.close()
    judge_a, judge_b = server.requests[4], server.requests[9]
    parts = user_parts(judge_a)
    kinds = [p["type"] for p in parts]
    # examples (text, image, text per example), then the item's image, then caption and transcript
    first_item_image = kinds.index("image_url", kinds.index("image_url", kinds.index("image_url") + 1) + 1)
    assert kinds.count("image_url") == 3
    assert "Answer for example 2" in parts[first_item_image - 2]["text"]
    assert "Debate so far" in parts[-1]["text"]
    assert all(p["type"] == "text" for p in parts[first_item_image + 1 :])
    # The second item's judge request starts with the same system prompt and examples.
    assert judge_a["messages"][0] == judge_b["messages"][0]
    assert user_parts(judge_b)[:first_item_image] == parts[:first_item_image]
    # ...so the (simulated) prefix cache serves them, and the engine records it apart.
    judge_b_turn = [ev for ev in events_b if isinstance(ev, TurnFinished) and ev.turn.role is Role.JUDGE][0]
    assert judge_b_turn.cached_tokens >= 2 * 765
    assert events_b[-1].record.cached_tokens >= judge_b_turn.cached_tokens
    # One prepared JPEG serves every request of an item.
    uris = {p["image_url"]["url"] for body in server.requests[:5] for p in user_parts(body) if p["type"] == "image_url"}
    assert len(uris) == 3  # two examples + the item, each sent as one identical string
    assert isinstance(events_a[-1], VerdictReached)


async def test_usage_is_recorded_per_turn(server: FakeServer, image: Path) -> None:
    events = await run(DebateEngine(settings_for(server.base_url)), image)
    turns = [ev for ev in events if isinstance(ev, TurnFinished)]
    assert all(t.prompt_tokens > 0 and t.completion_tokens > 0 for t in turns)
    # The affirmative's second round repeats its system prompt and the image: served from cache.
    assert turns[2].cached_tokens > 765
    rec = events[-1].record
    assert rec.prompt_tokens == sum(t.prompt_tokens for t in turns) == server.stats.prompt_tokens
    assert rec.cached_tokens == server.stats.cached_tokens


async def test_image_is_downscaled_once_and_sent_as_jpeg(server: FakeServer, tmp_path: Path) -> None:
    import base64
    import io

    from PIL import Image

    big = write_image(tmp_path / "big.png", (4000, 3000))
    await run(DebateEngine(settings_for(server.base_url)), big)
    url = user_parts(server.requests[0])[0]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    im = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert im.format == "JPEG" and max(im.size) == 1024


async def test_video_frames_are_numbered_in_order(server: FakeServer, tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.avi", frames=50)
    events = await run(DebateEngine(settings_for(server.base_url)), video)
    last = events[-1]
    assert isinstance(last, VerdictReached)
    assert last.record.kind == "video" and last.record.preset_name == "vhd11k-video"
    assert len(last.record.frames_sent) == 5 and last.record.frames_sent == sorted(last.record.frames_sent)
    parts = user_parts(server.requests[0])
    texts = [p["text"] for p in parts if p["type"] == "text"]
    assert [t for t in texts if t.startswith("Frame ")] == [f"Frame {i} of 5:" for i in range(1, 6)]
    assert sum(p["type"] == "image_url" for p in parts) == 5


async def test_rate_limit_honours_retry_after(server: FakeServer, image: Path) -> None:
    server.inject(Fault("429", retry_after=0.3), role="negative")
    events = await run(DebateEngine(settings_for(server.base_url)), image)
    retries = [ev for ev in events if isinstance(ev, TurnRetrying)]
    assert len(retries) == 1 and retries[0].delay == pytest.approx(0.3) and "429" in retries[0].reason
    assert isinstance(events[-1], VerdictReached)
    neg = [t for t in events[-1].record.turns if t.role == "negative"][0]
    assert neg.attempts == 2


async def test_server_errors_are_retried_up_to_four_attempts(server: FakeServer, image: Path) -> None:
    server.inject("500", "500", "500", role="judge")
    events = await run(DebateEngine(settings_for(server.base_url, retry_base_delay=0.01)), image)
    assert isinstance(events[-1], VerdictReached)
    assert [t.attempts for t in events[-1].record.turns if t.role == "judge"] == [4]

    server.inject("500", "500", "500", "500", role="affirmative")
    events = await run(DebateEngine(settings_for(server.base_url, retry_base_delay=0.01)), image)
    last = events[-1]
    assert isinstance(last, DebateFailed) and last.kind == "api"
    assert "gave up after 4 attempts" in last.message and last.record.status == "error"


async def test_broken_streams_restart_the_turn(server: FakeServer, image: Path) -> None:
    server.inject(Fault("malformed", after_tokens=3), role="affirmative")
    server.inject(Fault("disconnect", after_tokens=2), role="judge")
    events = await run(DebateEngine(settings_for(server.base_url, retry_base_delay=0.01)), image)
    assert isinstance(events[-1], VerdictReached)
    retried = [ev.turn.role.value for ev in events if isinstance(ev, TurnRetrying)]
    assert retried == ["affirmative", "judge"]
    # After a retry the turn starts again: its final text is the full answer, once.
    first = events[-1].record.turns[0]
    assert first.text.count("raised knife") == 1 and first.attempts == 2


async def test_content_policy_refusal_is_harmful_and_flagged(server: FakeServer, image: Path) -> None:
    server.inject("400-policy", role="affirmative")
    events = await run(DebateEngine(settings_for(server.base_url)), image)
    last = events[-1]
    assert isinstance(last, VerdictReached)
    assert last.verdict.decision == "yes" and last.verdict.harmful_type == "API refused"
    assert last.record.flags == ["api_refused"] and last.record.status == "debated"
    assert server.stats.requests == 1


async def test_debater_refusal_makes_the_item_harmful(monkeypatch: pytest.MonkeyPatch, image: Path) -> None:
    monkeypatch.setenv(TEST_KEY_ENV, SECRET)
    with FakeServer(api_key=SECRET, answers={"affirmative": "I'm sorry, but I can't assist with that request."}) as srv:
        events = await run(DebateEngine(settings_for(srv.base_url)), image)
    last = events[-1]
    assert last.verdict.decision == "yes" and "debater_refused" in last.verdict.flags
    assert [t.refused for t in last.record.turns] == [True, False, True, False, False]


async def test_unparsed_judge_is_harmful_and_flagged(monkeypatch: pytest.MonkeyPatch, image: Path) -> None:
    monkeypatch.setenv(TEST_KEY_ENV, SECRET)
    with FakeServer(api_key=SECRET, answers={"judge": "I cannot make that determination."}) as srv:
        events = await run(DebateEngine(settings_for(srv.base_url)), image)
    assert events[-1].verdict.decision == "yes" and events[-1].verdict.flags == ("judge_unparsed",)


async def test_hanging_server_hits_the_turn_deadline(server: FakeServer, image: Path) -> None:
    server.inject("hang", role="affirmative")
    events = await run(DebateEngine(settings_for(server.base_url, turn_timeout=0.5)), image)
    last = events[-1]
    assert isinstance(last, DebateFailed) and last.kind == "timeout"
    assert "0.5 s turn deadline" in last.message


async def test_wrong_key_is_a_config_error_without_retries(monkeypatch: pytest.MonkeyPatch, server: FakeServer, image: Path) -> None:
    monkeypatch.setenv(TEST_KEY_ENV, "sk-wrong-wrong-wrong-wrong")
    events = await run(DebateEngine(settings_for(server.base_url)), image)
    last = events[-1]
    assert isinstance(last, DebateFailed) and last.kind == "config"
    assert "rejected the API key" in last.message and TEST_KEY_ENV in last.message
    assert server.stats.requests == 1


async def test_unknown_model_is_a_config_error(server: FakeServer, image: Path) -> None:
    events = await run(DebateEngine(settings_for(server.base_url, model="no-such-model")), image)
    last = events[-1]
    assert isinstance(last, DebateFailed) and last.kind == "config"
    assert "'no-such-model' not found" in last.message and server.stats.requests == 1


async def test_unreachable_server_is_a_config_error(monkeypatch: pytest.MonkeyPatch, image: Path) -> None:
    monkeypatch.setenv(TEST_KEY_ENV, SECRET)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens on this port now
    events = await run(DebateEngine(settings_for(f"http://127.0.0.1:{port}/v1")), image)
    last = events[-1]
    assert isinstance(last, DebateFailed) and last.kind == "config"
    assert f"cannot reach the server at http://127.0.0.1:{port}/v1" in last.message


async def test_missing_key_for_a_remote_server_is_a_config_error(image: Path) -> None:
    events = await run(DebateEngine(settings_for("https://api.example.invalid/v1")), image)
    last = events[-1]
    assert isinstance(last, DebateFailed) and last.kind == "config" and TEST_KEY_ENV in last.message


async def test_bad_media_fails_alone(server: FakeServer, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    events = await run(DebateEngine(settings_for(server.base_url)), empty)
    assert isinstance(events[-1], DebateFailed) and events[-1].kind == "media"
    assert server.stats.requests == 0


async def test_missing_example_files_are_named(server: FakeServer, image: Path, tmp_path: Path) -> None:
    s = settings_for(server.base_url, examples_folder=str(tmp_path / "nowhere"))
    events = await run(DebateEngine(s), image)
    last = events[-1]
    assert isinstance(last, DebateFailed) and last.kind == "config"
    assert "14 in-context example file(s) not found" in last.message and "culinary_knife_in_hand_075_0023.jpeg" in last.message


async def test_cancel_mid_stream_leaves_nothing_running(monkeypatch: pytest.MonkeyPatch, image: Path) -> None:
    monkeypatch.setenv(TEST_KEY_ENV, SECRET)
    with FakeServer(api_key=SECRET, token_delay=0.05) as srv:
        engine = DebateEngine(settings_for(srv.base_url))
        first_token = asyncio.Event()

        async def consume() -> None:
            async for ev in engine.run(image):
                if isinstance(ev, TokenReceived):
                    first_token.set()

        task = asyncio.create_task(consume())
        await first_token.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await engine.close()
        assert await settled_tasks() == set()
        for _ in range(100):  # the server sees the stream closed
            if srv.stats.in_flight == 0:
                break
            await asyncio.sleep(0.02)
        assert srv.stats.in_flight == 0
        assert srv.stats.requests == 1


async def test_the_key_is_never_in_records_or_logs(server: FakeServer, image: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server.inject("500", role="negative")
    events = await run(DebateEngine(settings_for(server.base_url, retry_base_delay=0.01)), image)
    assert SECRET not in json.dumps(events[-1].record.to_dict())
    assert SECRET not in caplog.text
    assert SECRET not in repr(settings_for(server.base_url).endpoints)


async def test_check_connection_reports_plainly(monkeypatch: pytest.MonkeyPatch, server: FakeServer) -> None:
    from vhd_gui.config import ConfigError

    report = await DebateEngine(settings_for(server.base_url)).check_connection("judge")
    assert "the key was accepted" in report and "fake-vlm" in report
    with pytest.raises(ConfigError, match="'nope' not found.*; it offers: fake-judge, fake-vlm$"):
        await DebateEngine(settings_for(server.base_url, model="nope")).check_connection("judge")
    monkeypatch.setenv(TEST_KEY_ENV, "wrong")
    with pytest.raises(ConfigError, match="rejected the API key"):
        await DebateEngine(settings_for(server.base_url)).check_connection("judge")


def _preset_with_examples(files: list[str], folder: str) -> str:
    from vhd_gui.protocol import builtin_preset_path

    text = builtin_preset_path("vhd11k-image").read_text()
    head = text.split("[examples]")[0]
    items = "".join(f'\n[[examples.item]]\nfiles = ["{f}"]\nanswer = "{"Yes, gore." if i == 0 else "No, calm scene."}"\n' for i, f in enumerate(files))
    return head.replace('name = "vhd11k-image"', 'name = "two-examples"') + f'[examples]\nfolder = {json.dumps(folder)}\n' + items


async def test_judge_yes_probability_from_logprobs(monkeypatch: pytest.MonkeyPatch, image: Path) -> None:
    monkeypatch.setenv(TEST_KEY_ENV, SECRET)
    with FakeServer(api_key=SECRET, logprobs_yes=0.8) as srv:
        events = await run(DebateEngine(settings_for(srv.base_url)), image)
        judge_body = srv.requests[4]
        debater_body = srv.requests[0]
    assert judge_body.get("logprobs") is True and "logprobs" not in debater_body
    assert events[-1].record.judge_yes_prob == pytest.approx(0.8)


async def test_a_server_without_logprobs_is_asked_again_without_them(monkeypatch: pytest.MonkeyPatch, image: Path) -> None:
    monkeypatch.setenv(TEST_KEY_ENV, SECRET)
    with FakeServer(api_key=SECRET, reject_logprobs=True) as srv:
        engine = DebateEngine(settings_for(srv.base_url))
        first = [ev async for ev in engine.run(image)]
        second = [ev async for ev in engine.run(image)]
        await engine.close()
        judged = [b for b in srv.requests if "judge of" in b["messages"][0]["content"]]
    assert isinstance(first[-1], VerdictReached) and isinstance(second[-1], VerdictReached)
    assert [bool(b.get("logprobs")) for b in judged] == [True, False, False]  # asked once, then never again
    assert first[-1].record.judge_yes_prob is None
    assert [t.attempts for t in first[-1].record.turns if t.role == "judge"] == [1]


# --------------------------------------------------------------------------- only an answer is a verdict

BAD_ANSWER_REASONS = {
    "html": "the server sent an HTML page (status 200) instead of a chat completion",
    "not-json": "the server sent a body that is not JSON (status 200, text/plain) instead of a chat completion: 'upstream connect error",
    "json-not-completion": "the server sent JSON that is not a chat completion (status 200)",
    "no-choices": 'the server sent a completion with no choices ("choices": [])',
    "content-null": "the server sent no content (content: null)",
    "empty": "the server sent an empty answer",
    "cut": "the answer was cut off: the stream ended after 3 chunk(s) before the server said it finished (no finish_reason, no [DONE])",
    "empty-stream": "the server sent no answer: the stream ended before its first event",
}


@pytest.mark.parametrize("kind", sorted(BAD_ANSWER_REASONS))
async def test_a_broken_answer_is_retried_then_a_failure_never_a_verdict(server: FakeServer, image: Path, tmp_path: Path, kind: str) -> None:
    from vhd_gui.cache import ResponseCache

    assert set(BAD_ANSWER_REASONS) == set(BAD_ANSWERS)
    # Once: the judge's turn is asked again and the debate ends with the real verdict.
    server.inject(Fault(kind, after_tokens=2), role="judge")
    events = await run(DebateEngine(settings_for(server.base_url, retry_base_delay=0.01)), image)
    retries = [ev for ev in events if isinstance(ev, TurnRetrying)]
    assert [r.turn.role for r in retries] == [Role.JUDGE] and retries[0].reason.startswith(BAD_ANSWER_REASONS[kind])
    assert isinstance(events[-1], VerdictReached) and events[-1].verdict.decision == "no"
    assert [t.attempts for t in events[-1].record.turns if t.role == "judge"] == [2]

    # Every attempt: a failed item naming what came back; nothing of the judge is cached.
    cache = ResponseCache(tmp_path / "cache.sqlite")
    server.inject(*[Fault(kind, after_tokens=2)] * 4, role="judge")
    events = await run(DebateEngine(settings_for(server.base_url, retry_base_delay=0.01), cache=cache), image)
    last = events[-1]
    assert isinstance(last, DebateFailed) and last.kind == "api" and last.turn is not None and last.turn.role is Role.JUDGE
    assert last.message.startswith(f"Judge: {BAD_ANSWER_REASONS[kind]}") and last.message.endswith("(gave up after 4 attempts)")
    assert last.record.status == "error" and last.record.decision is None and last.record.judge_raw == ""
    assert not any(isinstance(ev, (VerdictReached, TurnFinished)) and getattr(ev, "turn", None) == last.turn for ev in events)
    assert cache.entries() == 4  # the four debater turns, which were complete

    # The server mends: the cached debater turns are reused, the judge is asked and answers.
    events = await run(DebateEngine(settings_for(server.base_url), cache=cache), image)
    assert isinstance(events[-1], VerdictReached) and events[-1].verdict.decision == "no"
    assert [t.from_cache for t in events[-1].record.turns] == [True, True, True, True, False]
    cache.close()


async def test_a_debater_turn_cut_in_the_middle_is_not_an_argument(server: FakeServer, image: Path) -> None:
    server.inject(*[Fault("cut", after_tokens=3)] * 4, role="negative")
    events = await run(DebateEngine(settings_for(server.base_url, retry_base_delay=0.01)), image)
    last = events[-1]
    assert isinstance(last, DebateFailed) and last.turn is not None and last.turn.role is Role.NEGATIVE
    assert "cut off" in last.message
    assert [t.role for t in last.record.turns] == ["affirmative"]  # what finished is kept, the cut turn is not


async def test_a_server_that_ignores_stream_true_still_counts(make_server: Any, image: Path) -> None:
    """A whole chat completion (JSON) instead of a stream is a complete answer."""
    srv = make_server()
    events_ok = await run(DebateEngine(settings_for(srv.base_url)), image)
    assert isinstance(events_ok[-1], VerdictReached)
    srv.force_whole_completion = True
    events = await run(DebateEngine(settings_for(srv.base_url)), image)
    assert isinstance(events[-1], VerdictReached) and events[-1].verdict.decision == "no"
    assert events[-1].record.turns[0].text == events_ok[-1].record.turns[0].text


async def test_the_judges_own_words_stay_a_flagged_verdict_and_say_why(monkeypatch: pytest.MonkeyPatch, image: Path) -> None:
    monkeypatch.setenv(TEST_KEY_ENV, SECRET)
    for words, note in [
        ("I'm sorry, but I can't help with that.", "the judge refused to answer"),
        ("Probably harmful, given the knife.", "starts with neither Yes nor No"),
    ]:
        with FakeServer(api_key=SECRET, answers={"judge": words}) as srv:
            events = await run(DebateEngine(settings_for(srv.base_url)), image)
        rec = events[-1].record
        assert isinstance(events[-1], VerdictReached) and rec.decision == "yes" and rec.flags == ["judge_unparsed"]
        assert rec.judge_raw == words and note in rec.verdict_note


async def test_the_cache_serves_only_answers_this_version_accepts(tmp_path: Path) -> None:
    import sqlite3

    from vhd_gui.cache import CACHE_FORMAT, ResponseCache

    path = tmp_path / "c.sqlite"
    # A cache file as the first version wrote it, holding an empty answer and a good one.
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE responses (key TEXT PRIMARY KEY, text TEXT NOT NULL, prompt_tokens INTEGER NOT NULL,"
            " completion_tokens INTEGER NOT NULL, created REAL NOT NULL, hits INTEGER NOT NULL DEFAULT 0)"
        )
        conn.execute("INSERT INTO responses VALUES ('empty', '', 10, 0, 0, 0), ('old', 'No, fine.', 10, 3, 0, 0)")
    conn.close()
    cache = ResponseCache(path)
    assert cache.get("empty") is None and cache.get("old") is None  # an older format is never served
    cache.put("new", "No, fine.", 10, 3, thinking="calm")
    hit = cache.get("new")
    assert hit is not None and (hit.text, hit.thinking) == ("No, fine.", "calm")
    with pytest.raises(ValueError, match="not cached"):
        cache.put("blank", "  \n", 10, 0)
    cache._conn.execute("INSERT INTO responses (key, text, prompt_tokens, completion_tokens, created, format) VALUES ('x', ' ', 1, 1, 0, ?)", (CACHE_FORMAT,))
    assert cache.get("x") is None
    cache.close()


async def test_batch_cli_counts_broken_answers_as_failures_and_redo_mends_them(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from vhd_gui.cache import ResponseCache
    from vhd_gui.store import Store

    monkeypatch.setenv(TEST_KEY_ENV, SECRET)
    folder = tmp_path / "m"
    write_image(folder / "a.jpg", (64, 48), (200, 10, 10))
    write_image(folder / "b.jpg", (64, 48), (10, 200, 10))
    config = tmp_path / "settings.toml"
    config.write_text("[debate]\nretry_base_delay = 0.01\n")
    store_path = tmp_path / "s.sqlite"
    with FakeServer(api_key=SECRET, fault_rates={"html": 1.0}) as srv:
        cmd = [sys.executable, "-m", "vhd_gui", "batch", str(folder), "--store", str(store_path), "--config", str(config),
               "--base-url", srv.base_url, "--model", "fake-vlm", "--api-key-env", TEST_KEY_ENV]
        out = subprocess.run(cmd, env=dict(os.environ), capture_output=True, text=True, timeout=300)
        assert out.returncode == 1, out.stderr
        assert "failed 2" in out.stderr and "done 0" in out.stderr
        assert "HTML page (status 200) instead of a chat completion" in out.stderr
        with Store.open(store_path) as st:
            for name in ("a.jpg", "b.jpg"):
                row = st.row(name)
                assert row is not None and row.status == "error" and row.model_label is None
                assert [d.decision for d in st.debates(name)] == [None]
        cache = ResponseCache.default()
        assert cache.entries() == 0
        cache.close()

        srv.fault_rates = {}  # the proxy is fixed
        out = subprocess.run([*cmd, "--redo"], env=dict(os.environ), capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        assert "done 2" in out.stderr and "failed 0" in out.stderr
        with Store.open(store_path) as st:
            assert {n: st.row(n).model_label for n in ("a.jpg", "b.jpg")} == {"a.jpg": "no", "b.jpg": "no"}
        cache = ResponseCache.default()
        assert cache.entries() == 10  # the same cache file: now it holds the ten complete answers
        cache.close()
    assert SECRET not in out.stderr + out.stdout


# --------------------------------------------------------------------------- errors that say what to fix


@pytest.mark.parametrize("style", ["openai", "vllm", "ollama", "litellm"])
async def test_an_unknown_model_is_a_config_failure_naming_what_the_server_offers(make_server: Any, image: Path, style: str) -> None:
    from fakeserver import UNKNOWN_MODEL_ERRORS

    srv = make_server(unknown_model_style=style)
    events = await run(DebateEngine(settings_for(srv.base_url, model="no-such-model", layout="chat")), image)
    last = events[-1]
    assert isinstance(last, DebateFailed) and last.kind == "config"
    assert f"model 'no-such-model' not found at {srv.base_url} ({UNKNOWN_MODEL_ERRORS[style][0]}:" in last.message
    assert last.message.endswith("; it offers: fake-judge, fake-vlm")
    assert "flat message layout" not in last.message  # the chat layout was used, but this is not about roles
    assert srv.stats.requests == 1  # not retried


async def test_an_unknown_model_without_a_model_list_is_still_named(make_server: Any, image: Path) -> None:
    srv = make_server(unknown_model_style="litellm", list_models=False)
    last = (await run(DebateEngine(settings_for(srv.base_url, model="gpt-9")), image))[-1]
    assert isinstance(last, DebateFailed) and last.kind == "config"
    assert "model 'gpt-9' not found" in last.message and "Invalid model name passed in model=gpt-9" in last.message
    assert "offers" not in last.message


async def test_the_strict_template_hint_needs_the_chat_layout_and_a_roles_message(server: FakeServer, image: Path) -> None:
    server.inject("400-roles", role="affirmative")
    flat = (await run(DebateEngine(settings_for(server.base_url, layout="flat")), image))[-1]
    assert isinstance(flat, DebateFailed) and "roles must alternate" in flat.message and "flat message layout" not in flat.message
    server.inject("400-roles", role="affirmative")
    chat = (await run(DebateEngine(settings_for(server.base_url, layout="chat")), image))[-1]
    assert isinstance(chat, DebateFailed) and chat.message.endswith("(a strict chat template? try the flat message layout)")


async def test_debate_cli_exits_2_on_an_unknown_model_behind_a_gateway(monkeypatch: pytest.MonkeyPatch, image: Path) -> None:
    import os
    import subprocess
    import sys

    monkeypatch.setenv(TEST_KEY_ENV, SECRET)
    with FakeServer(api_key=SECRET, unknown_model_style="litellm") as srv:
        out = subprocess.run(
            [sys.executable, "-m", "vhd_gui", "debate", str(image), "--base-url", srv.base_url, "--model", "gpt-9", "--api-key-env", TEST_KEY_ENV],
            env=dict(os.environ), capture_output=True, text=True, timeout=300,
        )
    assert out.returncode == 2, out.stderr
    assert "model 'gpt-9' not found" in out.stderr and "it offers: fake-judge, fake-vlm" in out.stderr
    assert "flat message layout" not in out.stderr and "Traceback" not in out.stderr


# --------------------------------------------------------------------------- thinking kept apart

JUDGE_THINKING = "Yes, the knife could be violence... but the negative side is right."


def _streamed(events: list[Any], cls: type, role: Role) -> str:
    return "".join(ev.text for ev in events if isinstance(ev, cls) and ev.turn.role is role)


async def test_reasoning_content_is_thinking_not_argument_nor_verdict(make_server: Any, image: Path, tmp_path: Path) -> None:
    from vhd_gui.engine import ThinkingReceived

    srv = make_server(reasoning={"affirmative": "Which side am I on? Harmful.", "judge": JUDGE_THINKING})
    events = await run(DebateEngine(settings_for(srv.base_url)), image)
    last = events[-1]
    assert isinstance(last, VerdictReached) and last.verdict.decision == "no"  # the thinking's "Yes" is never read
    assert _streamed(events, ThinkingReceived, Role.JUDGE) == JUDGE_THINKING
    assert _streamed(events, TokenReceived, Role.JUDGE).strip() == "No, ordinary cooking scene."
    rec = last.record
    assert rec.judge_raw == "No, ordinary cooking scene."
    aff = rec.turns[0]
    assert aff.thinking == "Which side am I on? Harmful." and "Which side" not in aff.text
    assert [t.thinking for t in rec.turns if t.role == "judge"] == [JUDGE_THINKING]
    finished = [ev for ev in events if isinstance(ev, TurnFinished) and ev.turn.role is Role.JUDGE][0]
    assert finished.thinking == JUDGE_THINKING and finished.text == "No, ordinary cooking scene."
    # No agent is ever sent another's (or its own) thinking.
    assert not any("Which side am I on" in json.dumps(body) for body in srv.requests)
    # Newer vLLM names the field "reasoning": the same thing.
    srv.reasoning_field = "reasoning"
    rec = (await run(DebateEngine(settings_for(srv.base_url)), image))[-1].record
    assert [t.thinking for t in rec.turns if t.role == "judge"] == [JUDGE_THINKING] and rec.judge_raw == "No, ordinary cooking scene."


async def test_inline_think_blocks_split_across_chunks_are_kept_apart(make_server: Any, image: Path) -> None:
    from vhd_gui.engine import ThinkingReceived

    srv = make_server(
        chunk_chars=3,  # every tag arrives in pieces: "<th", "ink", ">..."
        answers={
            "affirmative": "<think>I argue harmful.</think>1. A raised knife. 2. Fear. 3. Distress.",
            "judge": f"<think>{JUDGE_THINKING}</think>\n\nNo, ordinary cooking scene.",
        },
    )
    events = await run(DebateEngine(settings_for(srv.base_url)), image)
    last = events[-1]
    assert isinstance(last, VerdictReached) and last.verdict.decision == "no" and last.verdict.flags == ()
    assert last.record.judge_raw == "No, ordinary cooking scene."
    assert _streamed(events, ThinkingReceived, Role.JUDGE) == JUDGE_THINKING
    assert "<" not in _streamed(events, TokenReceived, Role.JUDGE) and "think" not in _streamed(events, TokenReceived, Role.JUDGE)
    aff = last.record.turns[0]
    assert (aff.text, aff.thinking) == ("1. A raised knife. 2. Fear. 3. Distress.", "I argue harmful.")
    assert not any("I argue harmful" in json.dumps(body) for body in srv.requests)


async def test_a_closing_think_tag_without_an_opening_one_ends_the_thinking(make_server: Any, image: Path) -> None:
    srv = make_server(answers={"judge": "Yes, maybe gore? Let me look again.</think>No, ordinary cooking scene."})
    last = (await run(DebateEngine(settings_for(srv.base_url)), image))[-1]
    assert isinstance(last, VerdictReached) and last.verdict.decision == "no"
    judge = [t for t in last.record.turns if t.role == "judge"][0]
    assert (judge.text, judge.thinking) == ("No, ordinary cooking scene.", "Yes, maybe gore? Let me look again.")


async def test_an_answer_that_only_thinks_is_a_failed_attempt(make_server: Any, image: Path) -> None:
    srv = make_server(answers={"judge": "<think>Hmm, yes or no?</think>"})
    last = (await run(DebateEngine(settings_for(srv.base_url, retry_base_delay=0.01)), image))[-1]
    assert isinstance(last, DebateFailed) and "the model only thought and gave no answer" in last.message
    assert last.record.decision is None


async def test_thinking_is_stored_apart_and_left_out_of_vhd11k_exports(make_server: Any, image: Path, tmp_path: Path) -> None:
    from vhd_gui.formats import export_store
    from vhd_gui.store import SCHEMA_VERSION, Store

    srv = make_server(reasoning={"affirmative": "SECRET-THOUGHT about the knife"})
    last = (await run(DebateEngine(settings_for(srv.base_url)), image))[-1]
    store_path = tmp_path / "s.sqlite"
    with Store.open(store_path, root=image.parent) as st:
        assert st.schema_version == SCHEMA_VERSION
        st.record_debate(last.record)
        back = st.current_debate(image.name)
        assert back is not None and back.turns[0].thinking == "SECRET-THOUGHT about the knife"
        assert "SECRET-THOUGHT" not in back.turns[0].text
        export_store(st, "vhd11k-csv", tmp_path / "out.csv")
        export_store(st, "jsonl", tmp_path / "out.jsonl")
    csv_text = "".join(p.read_text() for p in tmp_path.glob("out*.csv"))
    assert "1. The scene shows a raised knife" in csv_text and "SECRET-THOUGHT" not in csv_text
    assert "SECRET-THOUGHT" in (tmp_path / "out.jsonl").read_text()  # the whole record keeps it, apart


# --------------------------------------------------------------------------- servers that report less


async def test_a_server_that_refuses_stream_options_is_asked_without_it_once_and_for_all(make_server: Any, image: Path) -> None:
    srv = make_server(reject_stream_options=True)
    engine = DebateEngine(settings_for(srv.base_url))
    first = [ev async for ev in engine.run(image)]
    await engine.close()
    second = await run(DebateEngine(settings_for(srv.base_url)), image)  # a new engine remembers it too
    assert isinstance(first[-1], VerdictReached) and isinstance(second[-1], VerdictReached)
    assert ["stream_options" in body for body in srv.requests] == [True] + [False] * 10
    assert not any(isinstance(ev, TurnRetrying) for ev in first + second)
    assert [t.attempts for t in first[-1].record.turns] == [1] * 5
    # Without stream_options this server reports no usage: every turn is counted by estimate.
    assert all(t.usage_estimated and t.prompt_tokens > 0 for t in first[-1].record.turns)


async def test_a_turn_without_usage_is_estimated_and_marked(make_server: Any, image: Path) -> None:
    srv = make_server(send_usage=False)
    events = await run(DebateEngine(settings_for(srv.base_url)), image)
    rec = events[-1].record
    assert isinstance(events[-1], VerdictReached)
    assert rec.usage_estimated and all(t.usage_estimated for t in rec.turns)
    assert all(ev.usage_estimated for ev in events if isinstance(ev, TurnFinished))
    # The test server counts the way real ones roughly do (4 characters a token, 765 per image):
    # the estimate lands close to what it would have reported.
    assert rec.prompt_tokens == pytest.approx(srv.stats.prompt_tokens, rel=0.15)
    assert all(t.completion_tokens > 0 for t in rec.turns)
    # A usage of all zeros is no report either.
    srv.send_usage = srv.zero_usage = True
    rec0 = (await run(DebateEngine(settings_for(srv.base_url)), image))[-1].record
    assert rec0.usage_estimated and rec0.prompt_tokens == pytest.approx(rec.prompt_tokens, rel=0.01)
    # A server that does report usage is taken at its word.
    srv.zero_usage = False
    rec2 = (await run(DebateEngine(settings_for(srv.base_url)), image))[-1].record
    assert not rec2.usage_estimated and not any(t.usage_estimated for t in rec2.turns)


async def test_a_token_budget_stops_a_batch_on_a_server_that_reports_no_usage(make_server: Any, tmp_path: Path) -> None:
    from vhd_gui.batch import STOP_BUDGET, BatchRun
    from vhd_gui.store import Store

    srv = make_server(send_usage=False)
    folder = tmp_path / "m"
    paths = [write_image(folder / f"i{i}.jpg", (64, 48), (i * 40, 10, 10)).name for i in range(5)]
    with Store.open(folder / "s.sqlite", root=folder) as store:
        for p in paths:
            store.add_item(p, "image")  # a batch claims items that are in the store
        one = BatchRun(store, settings_for(srv.base_url), paths[:1], use_cache=False)
        async for ev in one.run():
            last = ev
        per_item = last.progress.tokens
        assert per_item > 0
        run_ = BatchRun(store, settings_for(srv.base_url), paths[1:], concurrency=1, budget_tokens=int(per_item * 1.5), use_cache=False)
        async for ev in run_.run():
            last = ev
    # The budget is a ceiling: one more debate (about per_item again) would have gone over it.
    assert last.reason == STOP_BUDGET and last.progress.done == 1
    assert 0 < last.progress.tokens <= int(per_item * 1.5) and last.progress.estimated_tokens == last.progress.tokens


async def test_the_projected_debate_cost_covers_a_real_debate(server: FakeServer, image: Path) -> None:
    from vhd_gui import tokens

    rec = (await run(DebateEngine(settings_for(server.base_url)), image))[-1].record
    projected = tokens.projected_debate_tokens(rounds=2, images=1, max_side=1024)
    assert rec.prompt_tokens <= projected.prompt_tokens <= 3 * rec.prompt_tokens
    assert rec.completion_tokens <= projected.completion_tokens
    engine = DebateEngine(settings_for(server.base_url))
    assert engine.projected_usage("image") == projected
    video = engine.projected_usage("video")  # five frames instead of one image, in each of the five requests
    assert video.prompt_tokens == projected.prompt_tokens + 5 * 4 * 765


async def test_an_answer_withheld_by_the_providers_filter_is_a_refusal(server: FakeServer, image: Path) -> None:
    server.inject("content-filter", role="negative")
    last = (await run(DebateEngine(settings_for(server.base_url)), image))[-1]
    assert isinstance(last, VerdictReached)
    assert last.verdict.decision == "yes" and last.record.flags == ["api_refused"]
    assert "content filter" in last.record.judge_raw
    assert server.stats.requests == 2  # not retried: the provider said no


async def test_check_connection_names_a_proxy_page_instead_of_crashing(make_server: Any) -> None:
    from vhd_gui.config import ConfigError

    srv = make_server(fault_rates={"html": 1.0})
    with pytest.raises(ConfigError, match=r"sent an HTML page \(status 200\) instead of a chat completion \(is the base URL right\?\)$"):
        await DebateEngine(settings_for(srv.base_url)).check_connection("judge")
    srv.fault_rates = {}
    srv.answers["other"] = "<think>the user wants ok</think>ok"
    report = await DebateEngine(settings_for(srv.base_url)).check_connection("judge")
    assert report.endswith("replied 'ok'")


async def test_one_engine_reads_its_preset_once_but_again_when_the_users_file_changes(server: FakeServer, image: Path, tmp_path: Path) -> None:
    from vhd_gui.protocol import builtin_preset_path

    text = builtin_preset_path("vhd11k-image").read_text().replace('name = "vhd11k-image"', 'name = "mine"')
    preset_file = tmp_path / "mine.toml"
    preset_file.write_text(text)
    engine = DebateEngine(settings_for(server.base_url, preset=str(preset_file)))
    assert engine.preset_for("image") is engine.preset_for("image")  # read once, not per debate
    first = (await run(engine, image))[-1].record
    # The user edits the file between two debates of the same engine (the window keeps one).
    preset_file.write_text(text.replace('name = "mine"', 'name = "mine, edited"'))
    second = (await run(engine, image))[-1].record
    await engine.close()
    assert (first.preset_name, second.preset_name) == ("mine", "mine, edited")
    assert first.preset_hash != second.preset_hash
    preset_file.unlink()  # a file gone is named as before, not served from memory
    with pytest.raises(PresetError):
        engine.preset_for("image")
