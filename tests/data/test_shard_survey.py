"""A recipe's data is checked before any work: usable segments, enough of them, held out means held out."""

from __future__ import annotations

import tarfile

import pytest

from craft_jepa.data.clips import ClipConfig
from craft_jepa.data.shard_survey import DataRefused, check_recipe_data, survey_shard

CLIP = ClipConfig(frames=4, fps=5.0, size=64)  # the tiny world model's clips: 13 ticks each


def test_survey_counts_lines_and_finds_every_segment(synth_dataset):
    segments = [s for url in synth_dataset.shard_urls for s in survey_shard(url)]
    assert sorted(s.key for s in segments) == sorted(synth_dataset.stems)
    for segment in segments:
        with open(synth_dataset.jsonl(segment.key), "rb") as f:
            lines = sum(1 for line in f if line.strip())
        assert segment.has_mp4 and segment.lines == lines
        assert segment.windows(CLIP) == lines - CLIP.span_ticks + 1


def test_a_good_split_passes(synth_dataset):
    train, heldout = synth_dataset.shard_urls[:1], synth_dataset.shard_urls[1:]
    checked = check_recipe_data(train, heldout, CLIP, min_train_windows=32)
    assert {s.shard for s in checked.train_segments} == set(train)
    assert {s.shard for s in checked.heldout_segments} == set(heldout)
    assert checked.train_seconds() > 10


def test_shared_segments_are_refused_naming_the_shard(synth_dataset):
    with pytest.raises(DataRefused, match=str(synth_dataset.shard_urls[0]).replace(".", r"\.") + ".*held out"):
        check_recipe_data(synth_dataset.shard_urls, list(synth_dataset.shard_urls[1:]) + list(synth_dataset.shard_urls[:1]),
                          CLIP, min_train_windows=1)


def _copy_without(source: str, target, drop_suffix: str) -> str:
    with tarfile.open(source) as src, tarfile.open(target, "w") as dst:
        for member in src:
            if not member.name.endswith(drop_suffix):
                dst.addfile(member, src.extractfile(member))
    return str(target)


def test_a_shard_without_a_usable_segment_is_refused_naming_it(synth_dataset, tmp_path):
    no_video = _copy_without(synth_dataset.shard_urls[0], tmp_path / "no-video.tar", ".mp4")
    with pytest.raises(DataRefused, match="no-video.tar: no usable segment.*no mp4"):
        check_recipe_data([no_video, synth_dataset.shard_urls[0]], synth_dataset.shard_urls[1:], CLIP, 1)
    not_a_tar = tmp_path / "broken.tar"
    not_a_tar.write_bytes(b"not a tar file at all" * 100)
    with pytest.raises(DataRefused, match="broken.tar: not a readable tar"):
        check_recipe_data([str(not_a_tar)], synth_dataset.shard_urls[1:], CLIP, 1)


def test_too_little_training_data_is_refused(synth_dataset):
    one = synth_dataset.shard_urls[:1]
    windows = sum(s.windows(CLIP) for s in survey_shard(one[0]))
    check_recipe_data(one, synth_dataset.shard_urls[1:], CLIP, min_train_windows=windows)
    with pytest.raises(DataRefused, match=f"too short: {windows} clip windows"):
        check_recipe_data(one, synth_dataset.shard_urls[1:], CLIP, min_train_windows=windows + 1)
