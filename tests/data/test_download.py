"""`craft-jepa download` against a local server with faults (no internet): resume, retries,
missing segments, Ctrl-C, verify, subsets, dry run. The server is tests/data/fault_server.py."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from craft_jepa.data.download import DONE_INDEX_NAME, REPORT_NAME, DownloadConfig, download
from craft_jepa.data.download_dry_run import dry_run
from craft_jepa.data.http_fetch import HttpConfig
from craft_jepa.data.vpt_index import Selection, candidate_order, load_index, parse_index

from testkit.fault_server import FaultServer

# Short timeouts and no backoff sleeps keep the faults cheap; reads wait 0.5 s at most.
FAST_HTTP = HttpConfig(retries=3, backoff=0.0, connect_timeout=2.0, read_timeout=0.5, chunk_bytes=8192)
SECONDS = (1.0, 1.5, 2.0, 1.2, 0.8)


class Recordings:
    """5 tiny synthetic segments listed in both index forms: 3 extension-less (versions 6.13,
    6.13, 7.2), 2 as data/10.0/<stem>.mp4 (the BASALT form)."""

    def __init__(self, raw_dir: str, stems: list[str]) -> None:
        self.stems = stems
        self.relpaths = [f"6.13/{stems[0]}", f"6.13/{stems[1]}", f"7.2/{stems[2]}",
                         f"data/10.0/{stems[3]}.mp4", f"data/10.0/{stems[4]}.mp4"]
        self.bases = [r.removesuffix(".mp4") for r in self.relpaths]
        self.files: dict[str, bytes] = {}  # local path under RAW_DIR -> bytes
        for stem, base in zip(stems, self.bases):
            for ext in (".mp4", ".jsonl"):
                self.files[base + ext] = Path(raw_dir, stem + ext).read_bytes()


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> Recordings:
    from craft_jepa.data.synth import SynthConfig, write_recording

    raw = str(tmp_path_factory.mktemp("download_src"))
    stems = [write_recording(raw, SynthConfig(seconds=s, seed=900 + i)) for i, s in enumerate(SECONDS)]
    return Recordings(raw, stems)


def _one_index(recordings: Recordings, root: Path, url: str, relpaths: list[str] | None = None) -> str:
    """An index listing the segments (both relpath forms side by side) under basedir URL/vpt/."""
    path = root / "index.json"
    chosen = relpaths if relpaths is not None else recordings.relpaths
    path.write_text(json.dumps({"basedir": url + "/vpt/", "relpaths": chosen}))
    return str(path)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _config(out: Path, **kwargs) -> DownloadConfig:
    return DownloadConfig(out_dir=str(out), http=FAST_HTTP, progress=False, **kwargs)


def _vpt_served(recordings: Recordings, drop: tuple[str, ...] = ()) -> dict[str, bytes]:
    """Every segment under /vpt/ (one index, one basedir)."""
    return {"/vpt/" + p: d for p, d in recordings.files.items() if p not in drop}


def _lines(data: bytes) -> int:
    return sum(1 for line in data.splitlines() if line.strip())


def test_index_forms_subsets_and_errors(tmp_path):
    stems = [f"p{i}-00000000000{i}-20210601-00000{i}" for i in range(9)]
    relpaths = ([f"6.13/{s}" for s in stems[:4]] + [f"6.9/{s}" for s in stems[4:6]]
                + [f"data/7.2/{s}.mp4" for s in stems[6:]])
    index = parse_index({"basedir": "https://host/minecraft-rl", "relpaths": relpaths}, "idx.json")
    assert [s.base for s in index.segments] == [r.removesuffix(".mp4") for r in relpaths]
    assert index.url(index.segments[6], ".jsonl") == f"https://host/minecraft-rl/data/7.2/{stems[6]}.jsonl"
    assert {s.group for s in index.segments} == {"6xx", "7xx"}
    # Any subset at least as large as the version count holds every version, for every seed.
    for seed in range(20):
        picked = candidate_order(index, Selection(limit=3, seed=seed))
        assert {s.version for s in picked} == {"6.13", "6.9", "7.2"}
        assert candidate_order(index, Selection(limit=3, seed=seed)) == picked  # reproducible
    orders = {tuple(s.stem for s in candidate_order(index, Selection(seed=seed))) for seed in range(20)}
    assert len(orders) > 1  # the seed matters
    half = candidate_order(index, Selection(fraction=0.5, seed=1))
    assert sorted(s.version for s in half) == ["6.13", "6.13", "6.9", "7.2", "7.2"]  # ceil per version
    assert {s.group for s in candidate_order(index, Selection(versions=("7xx",)))} == {"7xx"}
    assert len(candidate_order(index, Selection(versions=("6.9", "7xx")))) == 5
    with pytest.raises(ValueError, match=r"idx.json: no segments of version\(s\) 8xx"):
        candidate_order(index, Selection(versions=("8xx",)))
    with pytest.raises(ValueError, match=r"idx.json: relpaths\[1\]: '../x' is not a plain relative path"):
        parse_index({"basedir": "https://h/", "relpaths": ["a/b", "../x"]}, "idx.json")
    with pytest.raises(ValueError, match="idx.json: 'basedir' must be an http"):
        parse_index({"relpaths": ["a/b"]}, "idx.json")
    with pytest.raises(ValueError, match="at most one of limit, fraction"):
        Selection(limit=2, hours=1.0)


def test_flaky_server_every_fault_resumed_nothing_fetched_twice(recordings, tmp_path):
    r = recordings
    absent = r.bases[2] + ".mp4"  # missing on the server: a 404, counted, not fatal
    with FaultServer(_vpt_served(r, drop=(absent,)), slow_seconds=2.0) as server:
        server.faults["/vpt/" + r.bases[0] + ".mp4"] = ["drop"]  # connection dropped mid-file
        server.faults["/vpt/" + r.bases[1] + ".jsonl"] = ["500"]  # a 500, then success
        server.faults["/vpt/" + r.bases[3] + ".mp4"] = ["short"]  # fewer bytes than Content-Length
        server.faults["/vpt/" + r.bases[4] + ".mp4"] = ["slow", "drop"]  # a timeout, then a drop
        index = _one_index(r, tmp_path, server.url)
        out = tmp_path / "raw"
        report = download(index, _config(out, workers=2))
        present = [s for s, b in zip(r.stems, r.bases) if b + ".mp4" != absent]
        assert sorted(report.done) == sorted(present)
        assert report.missing == {r.stems[2]: "mp4"} and report.failed == {} and not report.interrupted
        assert report.selected == 5
        # Every byte arrived exactly once: resumed files fetched only what they lacked.
        fetched = {p: d for p, d in server.files.items() if not p.startswith("/vpt/" + r.bases[2])}
        for path, data in fetched.items():
            assert server.served[path] == len(data), path
        assert report.fetched_bytes == sum(len(d) for d in fetched.values())
        expected = {p: d for p, d in r.files.items() if p != absent and p != r.bases[2] + ".jsonl"}
        tree = _tree(out)
        assert tree.keys() - {REPORT_NAME, DONE_INDEX_NAME} == expected.keys()  # no .part, no orphan jsonl
        assert all(tree[name] == data for name, data in expected.items())
        lines = sum(_lines(d) for p, d in expected.items() if p.endswith(".jsonl"))
        assert report.hours == pytest.approx(lines / 20 / 3600)
        assert report.bytes == sum(len(d) for d in expected.values())
        on_disk = json.loads((out / REPORT_NAME).read_text())
        assert on_disk["done"] == report.done and on_disk["missing"] == {r.stems[2]: "mp4"}
        listed = json.loads((out / DONE_INDEX_NAME).read_text())["relpaths"]
        assert sorted(listed) == sorted(rp for rp, s in zip(r.relpaths, r.stems) if s in present)
        # A rerun finds every file complete by its size and fetches no body again.
        server.reset_counts()
        again = download(index, _config(out, workers=2))
        assert sum(server.served.values()) == 0 and again.done == report.done and again.fetched_bytes == 0


def test_server_without_range_support_restarts_the_file(recordings, tmp_path):
    r = recordings
    with FaultServer(_vpt_served(r), range_support=False) as server:
        path = "/vpt/" + r.bases[0] + ".mp4"
        server.faults[path] = ["drop"]
        index = _one_index(r, tmp_path, server.url, r.relpaths[:1])
        report = download(index, _config(tmp_path / "raw"))
        assert report.done == [r.stems[0]]
        size = len(server.files[path])
        assert server.served[path] == size + size // 2  # the half was sent again: no Range support
        assert (tmp_path / "raw" / (r.bases[0] + ".mp4")).read_bytes() == server.files[path]
        # Always dropped at the same byte, restarting from 0 is no progress: it gives up, not loops.
        stuck = "/vpt/" + r.bases[1] + ".mp4"
        server.faults[stuck] = ["drop"] * 20
        index = _one_index(r, tmp_path, server.url, r.relpaths[:2])
        report = download(index, _config(tmp_path / "raw"))
        assert report.done == [r.stems[0]] and "gave up after 3 retries" in report.failed[r.stems[1]]
        assert server.gets[stuck] == 1 + FAST_HTTP.retries + 1  # one that progressed, then the retries


def test_persistent_errors_fail_one_segment_only(recordings, tmp_path):
    r = recordings
    with FaultServer(_vpt_served(r)) as server:
        server.faults["/vpt/" + r.bases[1] + ".mp4"] = ["500"] * 10  # more than the retries
        index = _one_index(r, tmp_path, server.url, r.relpaths[:3])
        report = download(index, _config(tmp_path / "raw", workers=3))
        assert sorted(report.done) == sorted([r.stems[0], r.stems[2]])
        assert list(report.failed) == [r.stems[1]] and "HTTP 500" in report.failed[r.stems[1]]
        assert server.gets["/vpt/" + r.bases[1] + ".mp4"] == FAST_HTTP.retries + 1
        assert not (tmp_path / "raw" / (r.bases[1] + ".mp4")).exists()  # nothing looks complete


def test_ctrl_c_then_rerun_equals_an_uninterrupted_download(recordings, tmp_path, ctrl_c_raises):
    r = recordings
    with FaultServer(_vpt_served(r), slow_seconds=5.0) as server:
        index = _one_index(r, tmp_path, server.url)
        whole = tmp_path / "whole"
        download(index, _config(whole, workers=1))
        cut = tmp_path / "cut"
        first = candidate_order(load_index(index), Selection())[0]
        interrupted_path = "/vpt/" + first.base + ".mp4"
        server.faults[interrupted_path] = ["interrupt"]  # Ctrl-C half way through the first mp4
        with pytest.raises(KeyboardInterrupt):
            download(index, _config(cut, workers=1))
        report = json.loads((cut / REPORT_NAME).read_text())
        assert report["interrupted"] and report["done"] == []
        part = cut / (first.base + ".mp4.part")
        assert part.read_bytes() == server.files[interrupted_path][: part.stat().st_size]
        assert part.stat().st_size > 0 and not (cut / (first.base + ".mp4")).exists()
        for name, data in _tree(cut).items():  # every file that looks complete is complete
            if not name.endswith((".part", ".json")):
                assert data == r.files[name]
        had = {}  # bytes on disk per file after the interruption, complete or .part
        for name in r.files:
            for suffix in ("", ".part"):
                if (cut / (name + suffix)).is_file():
                    had[name] = (cut / (name + suffix)).stat().st_size
        server.reset_counts()
        download(index, _config(cut, workers=1))
        for name, data in r.files.items():  # nothing on disk was fetched again
            assert server.served["/vpt/" + name] == len(data) - had.get(name, 0), name
        assert _tree(cut).keys() == _tree(whole).keys()
        for name, data in _tree(whole).items():
            if name == REPORT_NAME:  # identical but for the bytes this run fetched
                a, b = json.loads(data), json.loads(_tree(cut)[name])
                assert {**a, "fetched_bytes": 0} == {**b, "fetched_bytes": 0}
            else:
                assert _tree(cut)[name] == data, name


def test_verify_removes_a_pair_that_pack_would_skip(recordings, tmp_path):
    r = recordings
    files = _vpt_served(r)
    cut_jsonl = "/vpt/" + r.bases[0] + ".jsonl"
    files[cut_jsonl] = b"".join(files[cut_jsonl].splitlines(keepends=True)[:5])  # count mismatch
    with FaultServer(files) as server:
        index = _one_index(r, tmp_path, server.url, r.relpaths[:2])
        report = download(index, _config(tmp_path / "raw", verify=True))
        assert report.done == [r.stems[1]]
        assert report.failed == {r.stems[0]: "verify: frame/line count mismatch > 2"}
        assert not any(p.name.startswith(r.stems[0]) for p in (tmp_path / "raw").rglob("*"))


def test_hours_take_the_shortest_prefix_for_any_worker_count(recordings, tmp_path):
    r = recordings
    absent = r.bases[1] + ".jsonl"
    with FaultServer(_vpt_served(r, drop=(absent,))) as server:
        index = _one_index(r, tmp_path, server.url)
        order = candidate_order(load_index(index), Selection(seed=3))
        seconds = {s.stem: _lines(r.files[s.base + ".jsonl"]) / 20 for s in order}
        present = [s for s in order if s.base + ".jsonl" != absent]
        target_s = seconds[present[0].stem] + seconds[present[1].stem] / 2  # needs two present segments
        results = []
        for workers in (1, 4):
            out = tmp_path / f"raw{workers}"
            report = download(index, _config(out, workers=workers, selection=Selection(hours=target_s / 3600, seed=3)))
            results.append((report.done, report.missing, _tree(out).keys() - {REPORT_NAME}))
            assert report.done == [present[0].stem, present[1].stem]
            assert report.hours * 3600 >= target_s
        assert results[0] == results[1]  # no jsonl fetched past the prefix is left behind


def test_dry_run_sizes_without_writing(recordings, tmp_path):
    r = recordings
    absent = r.bases[4] + ".mp4"
    with FaultServer(_vpt_served(r, drop=(absent,))) as server:
        index = _one_index(r, tmp_path, server.url)
        out = tmp_path / "raw"
        report = dry_run(index, _config(out, workers=2), sample_jsonls=5)
        present = {p: d for p, d in r.files.items() if not p.startswith(r.bases[4])}
        assert not out.exists()
        assert sum(server.served.values()) == sum(len(d) for p, d in present.items() if p.endswith(".jsonl"))
        assert report.missing == {r.stems[4]: "mp4"} and report.present == 4
        assert report.mp4_bytes == sum(len(d) for p, d in present.items() if p.endswith(".mp4"))
        assert report.jsonl_bytes == sum(len(d) for p, d in present.items() if p.endswith(".jsonl"))
        # Every present jsonl was sampled, so the estimate is the exact line count.
        lines = sum(_lines(d) for p, d in present.items() if p.endswith(".jsonl"))
        assert report.hours_estimate == pytest.approx(lines / 20 / 3600)
        limited = dry_run(index, replace(_config(out), selection=Selection(limit=2)))
        assert limited.selected == 2
        # --hours: sized up to the first segment whose estimate reaches the hours (one second here).
        order = candidate_order(load_index(index), Selection())
        first_present = next(i for i, s in enumerate(order) if s.stem != r.stems[4])
        one_second = dry_run(index, replace(_config(out), selection=Selection(hours=1 / 3600)))
        assert one_second.selected == first_present + 1 and one_second.present == 1
