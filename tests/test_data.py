import os
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest

from cifar_models.data import CLASSES, DataError, load_cifar10, resolve_data_path, stratified_split
from dashboard.settings import data_advice


def test_sizes_and_class_balance(cifar):
    assert len(cifar.train) + len(cifar.val) == 50_000
    assert len(cifar.test) == 10_000
    train_all = np.concatenate([cifar.train.labels, cifar.val.labels])
    assert np.bincount(train_all).tolist() == [5000] * 10
    assert cifar.val.class_counts().tolist() == [500] * 10
    assert cifar.test.class_counts().tolist() == [1000] * 10
    assert cifar.train.images.shape == (45_000, 32, 32, 3) and cifar.train.images.dtype == np.uint8
    assert cifar.test.labels.dtype == np.int64
    assert cifar.classes == CLASSES


def test_split_is_identical_across_loads_and_disjoint(cifar):
    again = load_cifar10(progress=False)
    assert np.array_equal(again.val.images, cifar.val.images)
    assert np.array_equal(again.val.labels, cifar.val.labels)
    train, val = stratified_split(np.repeat(np.arange(10), 5000), 500, seed=0)
    assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == 50_000
    other_train, other_val = stratified_split(np.repeat(np.arange(10), 5000), 500, seed=1)
    assert not np.array_equal(val, other_val)


def test_second_load_reuses_cache_fast(archive, tmp_path):
    first = load_cifar10(archive, cache_dir=tmp_path, progress=False)
    assert not first.from_cache and first.cache_file.is_file()
    started = time.perf_counter()
    second = load_cifar10(archive, cache_dir=tmp_path, progress=False)
    elapsed = time.perf_counter() - started
    assert second.from_cache
    assert elapsed < 5.0, f"cached load took {elapsed:.2f} s"  # generous bound: the point is nothing is decoded
    assert second.fingerprint == first.fingerprint
    assert np.array_equal(second.test.images, first.test.images)


def test_folder_and_archive_give_identical_arrays(archive, cifar, tmp_path):
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "tree", filter="data")
    from_folder = load_cifar10(tmp_path / "tree", cache_dir=tmp_path / "cache", progress=False)
    assert not from_folder.from_cache
    assert from_folder.fingerprint == cifar.fingerprint
    for split in ("train", "val", "test"):
        assert np.array_equal(getattr(from_folder, split).images, getattr(cifar, split).images)
        assert np.array_equal(getattr(from_folder, split).labels, getattr(cifar, split).labels)


def test_torchvision_batches_folder_is_read_without_unpickling_code(cifar, tmp_path):
    """A folder in torchvision's format (written here from the real images) loads to the same pixels."""
    import pickle

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    train_images = np.concatenate([cifar.train.images, cifar.val.images])
    train_labels = np.concatenate([cifar.train.labels, cifar.val.labels])

    def dump(name, images, labels):
        batch = {b"data": images.transpose(0, 3, 1, 2).reshape(len(images), -1), b"labels": labels.tolist()}
        (folder / name).write_bytes(pickle.dumps(batch))

    for index, part in enumerate(np.array_split(np.arange(50_000), 5), start=1):
        dump(f"data_batch_{index}", train_images[part], train_labels[part])
    dump("test_batch", cifar.test.images, cifar.test.labels)
    loaded = load_cifar10(tmp_path, cache_dir=tmp_path / "cache", progress=False)
    assert np.array_equal(loaded.test.images, cifar.test.images)
    assert np.bincount(loaded.val.labels).tolist() == [500] * 10

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    (folder / "test_batch").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(DataError, match="test_batch.*refusing"):
        load_cifar10(tmp_path, cache_dir=tmp_path / "cache2", progress=False)


def test_missing_path_names_places_and_command(tmp_path, monkeypatch):
    with pytest.raises(DataError) as caught:
        load_cifar10(tmp_path / "nowhere", cache_dir=tmp_path, progress=False)
    message = str(caught.value)
    assert str((tmp_path / "nowhere").resolve()) in message
    assert caught.value.download_fixes and "prepare_data.py" not in message  # the library names no script
    assert "prepare_data.py --download" in data_advice(caught.value)  # the scripts and the pages add it
    monkeypatch.delenv("CIFAR10_DATA")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="default"):
        load_cifar10(cache_dir=tmp_path, progress=False)


def test_data_location_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("CIFAR10_DATA", str(tmp_path / "env"))
    assert resolve_data_path(tmp_path / "flag") == tmp_path / "flag"
    assert resolve_data_path() == tmp_path / "env"
    monkeypatch.delenv("CIFAR10_DATA")
    assert resolve_data_path() == Path("data")


def test_corrupt_jpeg_is_named(archive, tmp_path):
    tree = tmp_path / "tree"
    for split in ("train", "test"):
        for index, name in enumerate(CLASSES):
            (tree / split / name).mkdir(parents=True)
    with tarfile.open(archive) as tar:
        member = tar.getmember("train/cat/0000.jpg")
        good = tar.extractfile(member).read()
    for split in ("train", "test"):
        for name in CLASSES:
            (tree / split / name / "0000.jpg").write_bytes(good)
    broken = tree / "train" / "dog" / "0001.jpg"
    broken.write_bytes(good[: len(good) // 3])
    with pytest.raises(DataError) as caught:
        load_cifar10(tree, cache_dir=tmp_path / "cache", val_per_class=0, progress=False)
    assert "train/dog/0001.jpg" in str(caught.value)
    broken.write_bytes(b"this is not an image")
    with pytest.raises(DataError, match="train/dog/0001.jpg"):
        load_cifar10(tree, cache_dir=tmp_path / "cache", val_per_class=0, progress=False)


def test_damaged_cache_is_rebuilt(archive, tmp_path):
    first = load_cifar10(archive, cache_dir=tmp_path, progress=False)
    data = first.cache_file.read_bytes()
    first.cache_file.write_bytes(data[: len(data) // 2])  # as after a crash or a full disk
    again = load_cifar10(archive, cache_dir=tmp_path, progress=False)
    assert not again.from_cache and again.fingerprint == first.fingerprint
    assert load_cifar10(archive, cache_dir=tmp_path, progress=False).from_cache
