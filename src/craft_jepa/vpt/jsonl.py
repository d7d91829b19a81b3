"""Parse VPT contractor jsonl files into one `TickRecord` per line, never crashing.

A VPT `.jsonl` holds one JSON object per 20 Hz tick, and line i pairs with video
frame i. Real files have quirks (REFERENCE.md section 1): `"mouse": null` or
`"keyboard": null` on old versions, no `hotbar` before 6.11, unmapped keys, blank
lines, a truncated last line, garbage. The parser keeps the line <-> frame pairing
intact: a bad line becomes a null `TickRecord` with `valid=False` (no keys, no
buttons, no mouse motion) instead of disappearing, and is counted in the
`ParseReport` with a `source:LINE: what` message. An interior blank line is such a bad
line too (it still stands for a frame: dropping it would pair every later line with the
frame before its own); only blank lines after the last non-blank one are dropped.

Camera of a bad line: it has no yaw/pitch of its own, so it takes the previous
good line's (or, for leading bad lines, the first good line's). A bad line then
behaves like a null action with the camera held still, and yaw/pitch differences
across it still add up to the real turn.

Only the keys the action/state layouts need are read; unknown JSON keys (stats,
inventory, positions, future fields) are ignored.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

# Problem kinds that make a line invalid (it becomes a null TickRecord).
BAD_LINE_KINDS = (
    "blank_line",  # interior: keeps its place as a null tick
    "non_utf8",
    "invalid_json",
    "truncated_last_line",
    "not_an_object",
    "wrong_type",
    "non_finite",
    "missing_camera",
)
# Quirks of valid lines: counted so a user can see them, but the line is used.
QUIRK_KINDS = (
    "trailing_blank_line",  # after the last non-blank line: dropped
    "null_mouse",
    "missing_mouse",
    "null_keyboard",
    "missing_keyboard",
    "missing_hotbar",
)


@dataclass(slots=True)
class TickRecord:
    """The parts of one VPT jsonl line that actions and states are built from."""

    dx: float = 0.0  # raw mouse delta over the tick (0.15 degree per unit); +dy looks down
    dy: float = 0.0
    dwheel: float = 0.0  # scroll wheel
    buttons: tuple[int, ...] = ()  # held mouse buttons: 0 attack, 1 use, 2 pickItem
    new_buttons: tuple[int, ...] = ()  # pressed this tick
    keys: tuple[str, ...] = ()  # held keys, raw names such as "key.keyboard.w"
    new_keys: tuple[str, ...] = ()  # pressed this tick
    gui_open: bool = False  # isGuiOpen
    hotbar: int | None = None  # selected slot 0-8; None when the line has no hotbar
    yaw: float = 0.0  # degrees of the camera shown in this line's frame
    pitch: float = 0.0  # degrees, [-90, 90], + looks down
    line: int = 0  # 1-based line number in the source file
    valid: bool = True


@dataclass
class ParseReport:
    """Counts of problems by kind, and the first few messages of each kind."""

    source: str
    lines: int = 0  # ticks produced (trailing blank lines excluded)
    counts: dict[str, int] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    max_messages_per_kind: int = 3

    def add(self, kind: str, line: int, what: str) -> None:
        seen = self.counts.get(kind, 0)
        self.counts[kind] = seen + 1
        if seen < self.max_messages_per_kind:
            self.messages.append(f"{self.source}:{line}: {what}")

    @property
    def bad_lines(self) -> int:
        """Lines that became null ticks (valid=False)."""
        return sum(self.counts.get(kind, 0) for kind in BAD_LINE_KINDS)

    def merge(self, other: ParseReport) -> None:
        """Add another file's counts (messages are kept up to the same cap)."""
        self.lines += other.lines
        for kind, n in other.counts.items():
            self.counts[kind] = self.counts.get(kind, 0) + n
        if len(self.messages) < 20:
            self.messages.extend(other.messages[: 20 - len(self.messages)])

    def summary(self) -> str:
        parts = ", ".join(f"{kind}={n}" for kind, n in sorted(self.counts.items()))
        return f"{self.source}: {self.lines} lines, {self.bad_lines} bad" + (
            f" ({parts})" if parts else ""
        )


@dataclass
class ParsedJsonl:
    ticks: list[TickRecord]
    report: ParseReport


class _BadLine(Exception):
    """Raised inside `_parse_line`; carries the problem kind and a message."""

    def __init__(self, kind: str, what: str) -> None:
        super().__init__(what)
        self.kind = kind
        self.what = what


def _reject_constant(name: str) -> float:
    # json accepts NaN/Infinity by default; VPT never writes them, so they mean corruption.
    raise _BadLine("non_finite", f"non-finite number {name}")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_NUMBER = (int, float)


def _number(obj: dict, key: str, where: str) -> float:
    value = obj.get(key, 0.0)
    if type(value) not in _NUMBER:  # bool is not a number here
        raise _BadLine("wrong_type", f"{where}{key} should be a number, got {type(value).__name__}")
    return float(value)


def _typed_list(obj: dict, key: str, where: str, item_type: type, what: str) -> tuple:
    """obj[key] as a tuple of exactly `item_type` items (None or absent: empty)."""
    value = obj.get(key)
    if value is None:
        return ()
    if type(value) is list and all(type(item) is item_type for item in value):
        return tuple(value)
    raise _BadLine("wrong_type", f"{where}{key} should be a list of {what}")


def _int_list(obj: dict, key: str, where: str) -> tuple[int, ...]:
    return _typed_list(obj, key, where, int, "ints")


def _str_list(obj: dict, key: str, where: str) -> tuple[str, ...]:
    return _typed_list(obj, key, where, str, "strings")


# The recorder writes every key a TickRecord needs before "xpos"; what follows
# (position, inventory, a stats dict that grows all game) is most of a line's bytes.
# So a complete-looking line is first decoded only up to there; any doubt (marker
# missing, a needed key not in the prefix, the prefix not valid JSON) falls back to
# decoding the whole line. Corruption confined to that unused tail goes unnoticed.
# `hotbar` is optional: recorders before 6.11 never write it, and their lines must take the fast
# path too (a full decode of every such line took about 3x as long).
_TAIL_MARKER = ',"xpos":'
_PREFIX_KEYS = ("mouse", "keyboard", "yaw", "pitch")
_OPTIONAL_PREFIX_KEY = '"hotbar"'


def _decode(text: str) -> object:
    cut = text.find(_TAIL_MARKER)
    if cut > 0 and (text[-1] == "}" or text.rstrip().endswith("}")):
        try:
            obj = _DECODER.decode(text[:cut] + "}")
        except ValueError:
            obj = None
        if type(obj) is dict and all(key in obj for key in _PREFIX_KEYS):
            # Without hotbar in the prefix, the prefix suffices only if the tail has none either.
            if "hotbar" in obj or _OPTIONAL_PREFIX_KEY not in text[cut:]:
                return obj
    return _DECODER.decode(text)


def _parse_line(text: str, number: int, report: ParseReport) -> TickRecord:
    """One decoded line -> TickRecord. Raises `_BadLine` for an unusable line."""
    try:
        obj = _decode(text)
    except ValueError as err:  # JSONDecodeError is a ValueError
        raise _BadLine("invalid_json", f"invalid JSON: {err}") from None
    if type(obj) is not dict:
        raise _BadLine("not_an_object", f"expected a JSON object, got {type(obj).__name__}")
    tick = TickRecord(line=number)

    mouse = obj.get("mouse", _MISSING)
    if mouse is _MISSING:
        report.add("missing_mouse", number, "no mouse field (treated as no motion, no buttons)")
    elif mouse is None:
        report.add("null_mouse", number, "mouse is null (treated as no motion, no buttons)")
    elif type(mouse) is dict:
        tick.dx = _number(mouse, "dx", "mouse.")
        tick.dy = _number(mouse, "dy", "mouse.")
        tick.dwheel = _number(mouse, "dwheel", "mouse.")
        tick.buttons = _int_list(mouse, "buttons", "mouse.")
        tick.new_buttons = _int_list(mouse, "newButtons", "mouse.")
    else:
        raise _BadLine("wrong_type", f"mouse should be an object, got {type(mouse).__name__}")

    keyboard = obj.get("keyboard", _MISSING)
    if keyboard is _MISSING:
        report.add("missing_keyboard", number, "no keyboard field (treated as no keys)")
    elif keyboard is None:
        report.add("null_keyboard", number, "keyboard is null (treated as no keys)")
    elif type(keyboard) is dict:
        tick.keys = _str_list(keyboard, "keys", "keyboard.")
        tick.new_keys = _str_list(keyboard, "newKeys", "keyboard.")
    else:
        raise _BadLine("wrong_type", f"keyboard should be an object, got {type(keyboard).__name__}")

    gui = obj.get("isGuiOpen", False)
    if type(gui) is not bool:
        raise _BadLine("wrong_type", f"isGuiOpen should be a bool, got {type(gui).__name__}")
    tick.gui_open = gui

    hotbar = obj.get("hotbar", _MISSING)
    if hotbar is _MISSING or hotbar is None:
        report.add("missing_hotbar", number, "no hotbar field (older recorder version)")
    elif type(hotbar) is not int or not 0 <= hotbar <= 8:
        raise _BadLine("wrong_type", f"hotbar should be an int 0-8, got {hotbar!r:.40}")
    else:
        tick.hotbar = hotbar

    if "yaw" not in obj or "pitch" not in obj:
        raise _BadLine("missing_camera", "no yaw/pitch")
    tick.yaw = _number(obj, "yaw", "")
    tick.pitch = _number(obj, "pitch", "")
    if not (math.isfinite(tick.dx) and math.isfinite(tick.dy) and math.isfinite(tick.dwheel)
            and math.isfinite(tick.yaw) and math.isfinite(tick.pitch)):
        raise _BadLine("non_finite", "non-finite mouse delta or camera angle")
    return tick


_MISSING = object()


def parse_jsonl(data: bytes, source: str = "<jsonl>") -> ParsedJsonl:
    """Parse a whole VPT jsonl file. Never raises on bad content.

    Returns one TickRecord per line up to the last non-blank one (so tick i pairs with
    frame i). Bad lines, interior blank ones included, become null ticks with valid=False;
    blank lines after the last non-blank one are dropped and counted.
    """
    report = ParseReport(source=source)
    ticks: list[TickRecord] = []
    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[-1].strip() == b"":
        raw_lines.pop()  # the file's final newline (or trailing whitespace)
        truncated_index = -1
    else:
        truncated_index = len(raw_lines) - 1  # the last line had no newline: maybe cut off
    while raw_lines and not raw_lines[-1].strip():  # extra blank lines at the end pair with no frame
        raw_lines.pop()
        report.add("trailing_blank_line", len(raw_lines) + 1, "blank line after the last line dropped")

    for index, raw in enumerate(raw_lines):
        number = index + 1
        try:
            if not raw.strip():
                raise _BadLine("blank_line", "blank line inside the file (kept as a null tick for its frame)")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise _BadLine("non_utf8", f"not UTF-8 ({err.reason} at byte {err.start})") from None
            tick = _parse_line(text, number, report)
        except _BadLine as bad:
            kind, what = bad.kind, bad.what
            if kind == "invalid_json" and index == truncated_index:
                kind, what = "truncated_last_line", f"last line cut off ({bad.what})"
            report.add(kind, number, what)
            tick = TickRecord(line=number, valid=False)
        ticks.append(tick)

    _fill_camera_of_bad_ticks(ticks)
    report.lines = len(ticks)
    return ParsedJsonl(ticks=ticks, report=report)


def _fill_camera_of_bad_ticks(ticks: list[TickRecord]) -> None:
    """Give bad ticks the camera of the previous good tick (first good one for a leading run)."""
    first_good = next((t for t in ticks if t.valid), None)
    if first_good is None:
        return
    yaw, pitch = first_good.yaw, first_good.pitch
    for tick in ticks:
        if tick.valid:
            yaw, pitch = tick.yaw, tick.pitch
        else:
            tick.yaw, tick.pitch = yaw, pitch
