"""Frame-accurate, sparse H.264 decoding of an in-memory mp4 with PyAV.

`SegmentVideo(data)` demuxes the whole mp4 once (packets only, no decoding: cheap) to learn
every frame's presentation timestamp and where the keyframes are. `decode(indices)` then
decodes only what the requested frames need: for each run of wanted frames it restarts the
decoder at the last keyframe at or before the first wanted frame (unless simply decoding on
from the current position is shorter) and stops after the last wanted frame. Frames are
numbered by presentation order (frame i = i-th smallest pts), so frame i pairs with jsonl
line i whatever the container's time base or B-frames.

Edit lists: a trimmed or re-muxed mp4 (e.g. cut with `-ss ... -c copy`) keeps the packets from
the previous keyframe on but marks those before the edit as discarded (FFmpeg's mov demuxer
sets the packet's discard flag; the decoder drops their frames). They are fed to the decoder,
which needs them as references, but are not frames: they are not counted and never pair with
a jsonl line. `discarded_frames` says how many there were.

Only the wanted frames are converted, with libswscale (`VideoFrame.reformat`): resize so that a
centre crop of at most `max_aspect` (long/short side) becomes `size` x `size`, then take that
crop, straight to RGB uint8. max_aspect 1 is a square crop without distortion.
"""

from __future__ import annotations

import bisect
import io
from collections.abc import Iterator, Sequence

import av
import numpy as np


class VideoError(Exception):
    """The mp4 cannot be demuxed or decoded (corrupt, truncated, no video stream)."""


def resized_shape(width: int, height: int, size: int, max_aspect: float = 1.0) -> tuple[int, int]:
    """(width, height) to scale a frame to so that its centre crop of aspect <= max_aspect is size x size.

    max_aspect 1: the short side becomes `size` (aspect kept). Larger: the crop keeps more of the
    long side (all of it once max_aspect reaches the frame's own aspect) and is squeezed along it.
    Scaling first and cropping the centre after equals cropping first and scaling the crop.
    """
    if width >= height:
        crop_w, crop_h = min(width, height * max_aspect), height
    else:
        crop_w, crop_h = width, min(height, width * max_aspect)
    return max(size, round(width * size / crop_w)), max(size, round(height * size / crop_h))


def to_rgb_crop(frame: av.VideoFrame, size: int | None, max_aspect: float = 1.0) -> np.ndarray:
    """Resize (see resized_shape) and centre-crop: (size, size, 3) uint8 RGB.

    size None: the whole frame at its own size, (height, width, 3) (DROID's golden checks).

    libswscale scales in the decoder's YUV 4:2:0 first (area filter; even sizes for the chroma
    planes), then converts the small frame to RGB: measured faster than scaling into RGB directly.
    """
    if size is None:
        return frame.to_ndarray(format="rgb24")  # (height, width, 3)
    w, h = resized_shape(frame.width, frame.height, size, max_aspect)
    w, h = w + w % 2, h + h % 2
    small = frame.reformat(width=w, height=h, format="yuv420p", interpolation="AREA")
    rgb = small.reformat(format="rgb24").to_ndarray()  # (h, w, 3)
    y0, x0 = (h - size) // 2, (w - size) // 2
    return rgb[y0 : y0 + size, x0 : x0 + size]


class SegmentVideo:
    """One mp4 held in memory; decodes selected frames. Not thread-safe; close() when done."""

    def __init__(self, data: bytes, *, threads: int = 1, max_restart_gap: int | None = None) -> None:
        """`threads`: decoder threads (1 suits many loader workers). `max_restart_gap`: when the
        next wanted frame is this many frames or fewer ahead, decode on instead of restarting
        at a keyframe (default: decide from the keyframe positions)."""
        try:
            self._container = av.open(io.BytesIO(data), mode="r")
        except (av.error.FFmpegError, OSError, ValueError) as err:
            raise VideoError(f"cannot open mp4: {err}") from None
        try:
            if not self._container.streams.video:
                raise VideoError("mp4 has no video stream")
            self._stream = self._container.streams.video[0]
            self._codec = self._stream.codec_context
            self._codec.thread_count = threads
            self._packets = self._demux()
        except BaseException:
            self._container.close()
            raise
        self.max_restart_gap = max_restart_gap
        self._next_packet = 0  # decode position: index into self._packets (decode order)
        self.frames_decoded = 0  # frames the decoder produced, wanted or not (for benchmarks)

    def _demux(self) -> list[av.Packet]:
        packets: list[av.Packet] = []
        try:
            for packet in self._container.demux(self._stream):
                if packet.is_corrupt:
                    break  # a file cut off inside this packet: keep the complete ones before it
                if packet.size == 0 or packet.pts is None:
                    continue  # flush packet at the end / unusable timestamp
                packets.append(packet)
        except (av.error.FFmpegError, OSError) as err:
            if not packets:
                raise VideoError(f"cannot demux mp4: {err}") from None
            # A truncated file: keep the complete packets that came before the damage.
        if not packets:
            raise VideoError("mp4 has no video frames")
        # Packets before an edit list's start are decoded (references) but are not frames.
        shown = [p for p in packets if not p.is_discard]
        self.discarded_frames = len(packets) - len(shown)
        if not shown:
            raise VideoError(f"mp4 edit list discards all {len(packets)} frames")
        pts_sorted = sorted(p.pts for p in shown)
        rank = {pts: i for i, pts in enumerate(pts_sorted)}
        # decode order -> frame index (None: discarded by the edit list)
        self._frame_of_packet = [None if p.is_discard else rank[p.pts] for p in packets]
        self._pts_to_frame = rank
        # For frame i: the decode-order position of the packet carrying it.
        self._packet_of_frame = [0] * len(shown)
        for position, frame_index in enumerate(self._frame_of_packet):
            if frame_index is not None:
                self._packet_of_frame[frame_index] = position
        self._keyframe_positions = [i for i, p in enumerate(packets) if p.is_keyframe]
        if not self._keyframe_positions or self._keyframe_positions[0] != 0:
            self._keyframe_positions.insert(0, 0)  # decode from the start as a last resort
        return packets

    @property
    def num_frames(self) -> int:
        """Frames shown (the edit list's discarded ones excluded)."""
        return len(self._packet_of_frame)

    @property
    def average_fps(self) -> float | None:
        """The container's average frame rate (what decord's get_avg_fps reports), None if unknown."""
        rate = self._stream.average_rate
        return float(rate) if rate else None

    @property
    def width(self) -> int:
        return self._codec.width

    @property
    def height(self) -> int:
        return self._codec.height

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> SegmentVideo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- decoding
    def _restart_position(self, frame_index: int) -> int:
        """Decode-order position of the last keyframe at or before the packet of frame_index.

        Restarting there is safe for H.264 with IDR keyframes (x264's default closed GOPs):
        every frame shown after the keyframe is decodable from it.
        """
        target = self._packet_of_frame[frame_index]
        k = bisect.bisect_right(self._keyframe_positions, target) - 1
        return self._keyframe_positions[max(k, 0)]

    def _decode_from(self, position: int, restart: bool,
                     wanted: set[int] | None = None) -> Iterator[tuple[int, av.VideoFrame]]:
        """Feed packets from `position` on, yielding (frame index, frame) in presentation order.

        With `wanted`, packets of unwanted frames are decoded with skip_frame=NONREF: a frame
        that no other frame references (most B-frames) is then not decoded at all. Only with a
        single decoder thread, where the setting applies exactly to the next packet.
        """
        if restart:
            self._codec.flush_buffers()
        self._next_packet = position
        skip_enabled = wanted is not None and self._codec.thread_count == 1
        skipping = False
        try:
            while self._next_packet < len(self._packets):
                packet = self._packets[self._next_packet]
                if skip_enabled:
                    skip = self._frame_of_packet[self._next_packet] not in wanted
                    if skip != skipping:
                        self._codec.skip_frame = "NONREF" if skip else "DEFAULT"
                        skipping = skip
                self._next_packet += 1
                yield from self._frames_of(packet)
            yield from self._frames_of(None)  # drain the frames held back for B-frame reordering
            self._codec.flush_buffers()
            self._next_packet = len(self._packets)  # drained: the next request restarts
        finally:
            if skipping:
                self._codec.skip_frame = "DEFAULT"

    def _frames_of(self, packet: av.Packet | None) -> Iterator[tuple[int, av.VideoFrame]]:
        try:
            frames = self._codec.decode(packet)
        except av.error.FFmpegError as err:
            raise VideoError(f"decode error at packet {self._next_packet - 1}: {err}") from None
        for frame in frames:
            self.frames_decoded += 1
            index = self._pts_to_frame.get(frame.pts)
            if index is not None:
                yield index, frame

    def decode(self, indices: Sequence[int], size: int | None, max_aspect: float = 1.0) -> np.ndarray:
        """Frames at `indices` (any order, repeats allowed): (N, size, size, 3) uint8 RGB
        (size None: (N, height, width, 3), uncropped)."""
        if len(indices) == 0 and size is None:
            return np.zeros((0, self.height, self.width, 3), np.uint8)
        if len(indices) == 0:
            return np.zeros((0, size, size, 3), np.uint8)
        wanted = sorted(set(int(i) for i in indices))
        if wanted[0] < 0 or wanted[-1] >= self.num_frames:
            raise IndexError(f"frame indices {wanted[0]}..{wanted[-1]} outside 0..{self.num_frames - 1}")
        wanted_lookup = set(wanted)
        got: dict[int, np.ndarray] = {}
        stream: Iterator[tuple[int, av.VideoFrame]] | None = None
        last_output = -1  # highest frame index the current decode run has produced
        for target in wanted:
            if target in got:
                continue
            restart_at = self._restart_position(target)
            ahead = target - last_output
            gap_ok = self.max_restart_gap is not None and 0 < ahead <= self.max_restart_gap
            # Decoding on beats a restart when the target's keyframe is not ahead of the decoder.
            can_continue = stream is not None and last_output < target and (
                gap_ok or restart_at <= self._next_packet)
            if not can_continue:
                if stream is not None:
                    stream.close()  # runs its `finally`: skip_frame back to DEFAULT
                stream = self._decode_from(restart_at, restart=True, wanted=wanted_lookup)
                last_output = -1
            for index, frame in stream:
                last_output = max(last_output, index)
                if index in wanted_lookup and index not in got:
                    got[index] = to_rgb_crop(frame, size, max_aspect)
                if target in got:
                    break
            else:
                stream = None  # ran to the end of the file
            if target not in got:
                raise VideoError(f"frame {target} of {self.num_frames} could not be decoded")
        if stream is not None:
            stream.close()
        return np.stack([got[int(i)] for i in indices])  # (N, size, size, 3)

    def decode_all_then_pick(self, indices: Sequence[int], size: int, max_aspect: float = 1.0) -> np.ndarray:
        """Baseline: decode every frame from the start, convert only the picked ones."""
        wanted = set(int(i) for i in indices)
        got: dict[int, np.ndarray] = {}
        for index, frame in self._decode_from(0, restart=True):
            if index in wanted:
                got[index] = to_rgb_crop(frame, size, max_aspect)
        return np.stack([got[int(i)] for i in indices])

