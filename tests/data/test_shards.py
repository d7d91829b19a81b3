
import pytest

from craft_jepa.data.shards import expand_urls, split_train_val


@pytest.fixture
def shard_dir(tmp_path):
    for i in range(5):
        (tmp_path / f"shard-{i:06d}.tar").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not a shard")
    return tmp_path


def test_glob_brace_dir_and_list_agree(shard_dir):
    expected = [str(shard_dir / f"shard-{i:06d}.tar") for i in range(5)]
    assert expand_urls(str(shard_dir / "shard-*.tar")) == expected
    assert expand_urls(str(shard_dir / "shard-{000000..000004}.tar")) == expected
    assert expand_urls(str(shard_dir)) == expected
    assert expand_urls(expected[::-1]) == expected[::-1]  # a list keeps its order
    assert expand_urls("::".join(expected[:2])) == expected[:2]


def test_remote_urls_pass_through_with_braces_expanded():
    urls = expand_urls("pipe:aws s3 cp s3://bucket/vpt/shard-{000..002}.tar -")
    assert urls == [f"pipe:aws s3 cp s3://bucket/vpt/shard-{i:03d}.tar -" for i in range(3)]
    assert expand_urls(["https://host/a.tar", "s3://b/c.tar"]) == ["https://host/a.tar", "s3://b/c.tar"]


def test_empty_or_missing_patterns_are_clear_errors(shard_dir):
    with pytest.raises(ValueError, match="matches no shards"):
        expand_urls(str(shard_dir / "nothing-*.tar"))
    with pytest.raises(ValueError, match=r"5 file\(s\) not found: .*shard-000005\.tar"):
        expand_urls(str(shard_dir / "shard-{000003..000009}.tar"))
    with pytest.raises(ValueError, match="matches no shards"):
        expand_urls("")
    with pytest.raises(ValueError, match="empty"):
        expand_urls([])


def test_split_is_last_fraction_and_deterministic():
    urls = [f"s{i}.tar" for i in range(20)]
    train, val = split_train_val(urls, 0.1)
    assert val == urls[-2:] and train == urls[:-2]
    assert split_train_val(urls, 0.1) == (train, val)
    assert split_train_val(urls, 0.001) == (urls[:-1], urls[-1:])  # at least one val shard
    assert split_train_val(urls, 0.0) == (urls, [])
    for frac in (0.05, 0.3, 0.5, 0.9):
        tr, va = split_train_val(urls, frac)
        assert tr + va == urls and len(va) >= 1 and len(tr) >= 1


def test_split_rejects_impossible_requests():
    with pytest.raises(ValueError, match="leave one for training"):
        split_train_val(["only.tar"], 0.2)
    with pytest.raises(ValueError, match="val_fraction"):
        split_train_val(["a.tar", "b.tar"], 1.0)
    with pytest.raises(ValueError, match="empty"):
        split_train_val([], 0.1)
