"""Importing the variables of VHD11K's annotateImage.sh / annotateVideo.sh into a preset.

The scripts below have the shape of the originals (the same variable names, quoting,
``$debateRoundNum`` references, ``[newline]``/``[arrow]`` markers and inline ``<img ...>``
examples) with shortened wording of our own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vhd_gui.protocol import (
    PresetError,
    Role,
    Turn,
    builtin_preset,
    preset_data_from_shell_script,
    preset_from_data,
    shell_script_rounds,
)

IMAGE_SCRIPT = r'''#!/usr/bin/bash
# under "pyautogen" conda env
config="/path/to/OAI_CONFIG_LIST"
path2ImageICL="/data/ICL_images"
imageRoot="/data/images"
# imageRange="[0:100]"
initMessage="Is the given image harmful?"
debateRoundNum=3

affirmativeInstruction="You are a debater arguing the image is harmful. Within $debateRoundNum rounds, give at most 3 short reasons."
negativeInstruction="You are a debater arguing the image is unharmful. Within ${debateRoundNum} rounds, give at most 3 short reasons."

# use [newline] and [arrow] to replace "\n" and "->"
judgeInstruction="You are a judge. Answer like \"Yes, illegal activity.\" or \"No, lack of direct messaging.\". For instance, here are 3 images and their responses:[newline]<img $path2ImageICL/knife_0023.jpeg> [arrow] Yes, threatening messages.[newline]<img $path2ImageICL/sdxl_03867.png> [arrow] Yes, bloody scene.[newline]<img ${path2ImageICL}/toy_0073.jpeg> [arrow] No, neutral expression."

python3 annotatorCritic_reconstruct.py \
    --config $config \
    --debateRoundNum $debateRoundNum
'''

VIDEO_SCRIPT = r'''#!/usr/bin/bash
frameRoot="path/to/frames"
debateRoundNum=2
path2VideoICL="/data/ICL_videos_frames"
affirmativeInstruction="You are a debater. You get 5 frames of a video in order. Argue it is harmful, within ${debateRoundNum} rounds."
negativeInstruction="You are a debater. You get 5 frames of a video in order. Argue it is not harmful, within ${debateRoundNum} rounds."
judgeInstruction="You are a judge. Decide whether the video is harmful. Answer \"Yes, <category>.\" or \"No, <reason>.\" [newline]"
# "For instance, here are videos and their responses: \
# - 0.<img ${path2VideoICL}/clip_0000.png> 1.<img ${path2VideoICL}/clip_0001.png>[arrow] Yes, smoking scene.[newline] \
initMessage="A video is given by 5 frames in chronological order. Is this video harmful?"
'''


def test_image_script_maps_question_prompts_examples_and_folder() -> None:
    data = preset_data_from_shell_script(IMAGE_SCRIPT, "image")
    preset = preset_from_data(data)  # valid as a preset
    assert preset.kind == "image"
    assert preset.question == "Is the given image harmful?"
    assert preset.examples_folder == "/data/ICL_images"
    assert [(e.files, e.answer) for e in preset.examples] == [
        (("knife_0023.jpeg",), "Yes, threatening messages."),
        (("sdxl_03867.png",), "Yes, bloody scene."),
        (("toy_0073.jpeg",), "No, neutral expression."),
    ]
    # $debateRoundNum and ${debateRoundNum} follow the rounds setting through our placeholder.
    assert "{rounds}" in data["prompts"]["affirmative"] and "$" not in data["prompts"]["affirmative"]
    assert preset.system_prompt(Role.AFFIRMATIVE, rounds=3).endswith("Within 3 rounds, give at most 3 short reasons.")
    assert "Within 2 rounds" in preset.system_prompt(Role.NEGATIVE, rounds=2)
    # The inline examples and their intro leave the judge prompt; the escaped quotes are plain quotes.
    judge = data["prompts"]["judge"]
    assert "<img" not in judge and "here are 3 images" not in judge
    assert judge == 'You are a judge. Answer like "Yes, illegal activity." or "No, lack of direct messaging.".'
    assert shell_script_rounds(IMAGE_SCRIPT) == 3


def test_what_the_script_does_not_set_comes_from_the_builtin_preset() -> None:
    builtin = builtin_preset("image")
    preset = preset_from_data(preset_data_from_shell_script(IMAGE_SCRIPT, "image"))
    assert preset.prompts["critic"] == builtin.prompts["critic"]
    assert preset.instruction(Turn(Role.JUDGE)) == builtin.instruction(Turn(Role.JUDGE))
    assert preset.content_hash != builtin.content_hash


def test_video_script_with_commented_examples_imports_none() -> None:
    data = preset_data_from_shell_script(VIDEO_SCRIPT, "video")
    preset = preset_from_data(data)
    assert preset.kind == "video"
    assert preset.question.startswith("A video is given by 5 frames")
    assert preset.examples_folder == "/data/ICL_videos_frames"
    # The original keeps its video examples in comments: they were off, so they stay off.
    assert preset.examples == () and not preset.examples_enabled
    assert preset.prompts["judge"].endswith('"No, <reason>."')
    assert "within 2 rounds" in preset.system_prompt(Role.AFFIRMATIVE, rounds=2)
    assert shell_script_rounds(VIDEO_SCRIPT) == 2


def test_multi_frame_examples_keep_frame_order() -> None:
    script = (
        'path2VideoICL="/icl"\n'
        'judgeInstruction="Judge it.[newline]- 0.<img ${path2VideoICL}/a_0000.png> 1.<img ${path2VideoICL}/a_0001.png>'
        '[arrow] Yes, smoking scene.[newline]- 0.<img /elsewhere/b_0.png>[arrow] No, educational content.[newline]"\n'
    )
    preset = preset_from_data(preset_data_from_shell_script(script, "video"))
    assert [(e.files, e.answer) for e in preset.examples] == [
        (("a_0000.png", "a_0001.png"), "Yes, smoking scene."),
        (("/elsewhere/b_0.png",), "No, educational content."),
    ]
    assert preset.prompts["judge"] == "Judge it."


def test_unknown_references_are_left_visible_and_known_ones_expanded() -> None:
    script = 'who="the judge"\ninitMessage="Ask $who about $nobody"\n'
    data = preset_data_from_shell_script(script, "image")
    assert data["question"] == "Ask the judge about $nobody"


def test_a_script_without_vhd11k_variables_is_refused() -> None:
    with pytest.raises(PresetError, match="no VHD11K variables"):
        preset_data_from_shell_script("#!/bin/sh\necho hello\nx=1\n", "image")
    with pytest.raises(PresetError, match="kind"):
        preset_data_from_shell_script(IMAGE_SCRIPT, "audio")


def test_rounds_absent_or_unusable() -> None:
    assert shell_script_rounds("initMessage=hi\n") is None
    assert shell_script_rounds("debateRoundNum=0\n") is None
    assert shell_script_rounds("debateRoundNum=two\n") is None


def test_import_reads_a_real_file_with_crlf_endings(tmp_path: Path) -> None:
    path = tmp_path / "annotateImage.sh"
    path.write_bytes(IMAGE_SCRIPT.replace("\n", "\r\n").encode("utf-8"))
    text = path.read_bytes().decode("utf-8")  # CRLF kept, as a script saved on Windows
    preset = preset_from_data(preset_data_from_shell_script(text, "image"))
    assert preset.question == "Is the given image harmful?"
    assert len(preset.examples) == 3
    assert preset.examples[-1].answer == "No, neutral expression."
    assert shell_script_rounds(text) == 3
