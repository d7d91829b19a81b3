import io

import numpy as np
import pytest

from craft_jepa.data.render import read_stamp
from craft_jepa.data.synth import SynthConfig, encode_mp4, generate_recording
from craft_jepa.data.video import SegmentVideo, VideoError, resized_shape


@pytest.fixture(scope="module", params=[("ultrafast", 10), ("veryfast", None)], ids=["gop10", "gop250-bframes"])
def stamped_mp4(request):
    preset, keyint = request.param
    _, frames = generate_recording(SynthConfig(seconds=6.0, seed=21, stamp_index=True))
    buf = io.BytesIO()
    n = encode_mp4(frames, buf, preset=preset, keyint=keyint)
    return buf.getvalue(), n


def test_sparse_decode_is_frame_accurate(stamped_mp4):
    data, n = stamped_mp4
    rng = np.random.default_rng(0)
    with SegmentVideo(data) as video:
        assert video.num_frames == n
        for _ in range(6):
            indices = rng.choice(n, size=int(rng.integers(1, 12)), replace=False).tolist()
            frames = video.decode(indices, 40)  # any order: output follows the request
            assert frames.shape == (len(indices), 40, 40, 3) and frames.dtype == np.uint8
            assert [read_stamp(f) for f in frames] == indices
        # Backwards, repeated and last-frame requests on the same open video.
        indices = [n - 1, 3, 3, 0, n - 1]
        assert [read_stamp(f) for f in video.decode(indices, 40)] == indices


def test_sparse_decode_decodes_less_than_everything(stamped_mp4):
    data, n = stamped_mp4
    with SegmentVideo(data) as video:
        reference = video.decode_all_then_pick([5, 9, 13], 32)
        everything = video.frames_decoded
    with SegmentVideo(data) as video:
        np.testing.assert_array_equal(video.decode([5, 9, 13], 32), reference)
        assert video.frames_decoded < everything


def test_resize_short_side_then_centre_crop():
    assert resized_shape(640, 360, 256) == (455, 256)
    assert resized_shape(360, 640, 256) == (256, 455)
    frame = np.zeros((360, 640, 3), np.uint8)
    frame[:, 320:] = 255  # right half white: the centre crop must show both halves
    buf = io.BytesIO()
    encode_mp4([frame, frame], buf)
    with SegmentVideo(buf.getvalue()) as video:
        out = video.decode([0], 64)[0].astype(float)
    assert out[:, :28].mean() < 30 and out[:, 36:].mean() > 225


@pytest.mark.parametrize("make_bad", [lambda d: d[: len(d) // 3], lambda d: b"\x00garbage" * 500, lambda d: b""],
                         ids=["truncated", "garbage", "empty"])
def test_corrupt_mp4_raises_video_error(stamped_mp4, make_bad):
    data, n = stamped_mp4
    with pytest.raises(VideoError):
        with SegmentVideo(make_bad(data)) as video:
            video.decode(list(range(n)), 16)


def test_cut_off_faststart_mp4_keeps_only_complete_frames(tmp_path):
    """With the index up front (faststart) a cut-off file still opens; the frame torn in half
    must not be decoded into a clip."""
    import av

    _, frames = generate_recording(SynthConfig(seconds=2.0, seed=9, stamp_index=True))
    path = str(tmp_path / "fs.mp4")
    with av.open(path, "w", format="mp4", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=20)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        stream.options = {"preset": "ultrafast", "g": "10"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with open(path, "rb") as f:
        data = f.read()
    with SegmentVideo(data) as whole:
        n = whole.num_frames
    with SegmentVideo(data[: int(len(data) * 0.9)]) as cut:
        assert 0 < cut.num_frames < n
        indices = list(range(cut.num_frames))
        assert [read_stamp(f) for f in cut.decode(indices, 40)] == indices


def _with_edit_list(data: bytes, discarded: int) -> bytes:
    """Remux `data` with every timestamp moved `discarded` frames earlier: the mp4 muxer writes an
    edit list starting at pts 0, and the demuxer marks the first `discarded` packets as discarded
    (what `ffmpeg -ss ... -c copy` produces when the cut is not on a keyframe)."""
    import av

    out = io.BytesIO()
    with av.open(io.BytesIO(data)) as source, av.open(out, "w", format="mp4") as target:
        stream = source.streams.video[0]
        copy = target.add_stream_from_template(stream)
        packets = [p for p in source.demux(stream) if p.dts is not None]
        shift = discarded * packets[0].duration
        for packet in packets:
            packet.pts -= shift
            packet.dts -= shift
            packet.stream = copy
            target.mux(packet)
    return out.getvalue()


@pytest.mark.parametrize("discarded", [3, 7])
def test_frames_an_edit_list_discards_are_not_counted_or_paired(stamped_mp4, discarded):
    data, n = stamped_mp4
    trimmed = _with_edit_list(data, discarded)
    with SegmentVideo(trimmed) as video:
        assert video.discarded_frames == discarded and video.num_frames == n - discarded
        # Frame i is the i-th SHOWN frame: it carries stamp i + discarded, sparse or not.
        indices = [0, 1, 5, video.num_frames - 1]
        assert [read_stamp(f) for f in video.decode(indices, 40)] == [i + discarded for i in indices]
        assert [read_stamp(f) for f in video.decode_all_then_pick(indices, 40)] == [i + discarded for i in indices]
        everything = list(range(video.num_frames))
        assert [read_stamp(f) for f in video.decode(everything, 40)] == [i + discarded for i in everything]


def test_an_mp4_without_edit_list_discards_nothing(stamped_mp4):
    data, n = stamped_mp4
    with SegmentVideo(data) as video:
        assert video.discarded_frames == 0 and video.num_frames == n


@pytest.mark.parametrize("max_aspect,left_edge", [(1.0, "white"), (1.35, "red"), (1.78, "black")])
def test_crop_aspect_keeps_more_of_the_frame(max_aspect, left_edge):
    """640x360 frame: black outside the reference crop (486 px wide), red between it and the square crop."""
    assert resized_shape(640, 360, 256, 1.35) == (337, 256)  # crop 486x360 -> 256x256
    frame = np.full((360, 640, 3), 255, np.uint8)
    frame[:, 77:140] = (255, 0, 0)
    frame[:, :77] = frame[:, 563:] = 0
    buf = io.BytesIO()
    encode_mp4([frame, frame], buf)
    with SegmentVideo(buf.getvalue()) as video:
        out = video.decode([0], 64, max_aspect=max_aspect)[0].astype(float)  # (64, 64, 3)
    strip = out[:, :3].mean(axis=(0, 1))  # the leftmost 3 columns, RGB
    expected = {"white": (255, 255, 255), "red": (255, 0, 0), "black": (0, 0, 0)}[left_edge]
    np.testing.assert_allclose(strip, expected, atol=40)
