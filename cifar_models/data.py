"""CIFAR-10 loading: find the data, decode it once into a uint8 cache, split it.

Three kinds of source are understood:

* torchvision's ``cifar-10-batches-py`` folder (downloaded on request with ``download=True``);
* an image-folder tree laid out ``train/<class>/*`` and ``test/<class>/*``;
* a ``.tar.gz`` archive with that same layout (how ``../shared/datasets/cifar10-jpeg.tar.gz`` is laid out).

A source is decoded once into ``<cache_dir>/cifar10-<key>.npz`` (uint8 images, int64 labels, class names), keyed by
a fingerprint of the source, so a later load reads one file and decodes nothing.
"""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import posixpath
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IMAGE_SHAPE = (32, 32, 3)
DEFAULT_DATA_DIR = Path("data")
DATA_ENV = "CIFAR10_DATA"
CACHE_ENV = "CIFAR10_CACHE"
TORCHVISION_FOLDER = "cifar-10-batches-py"
TORCHVISION_ARCHIVE = "cifar-10-python.tar.gz"  # holds the batches folder, not an image tree
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
CACHE_FORMAT = "v2"  # bump when the cached arrays change (v2: class-mixed order)


class DataError(RuntimeError):
    """The data set could not be found or read; the message says where and what is wrong. ``download_fixes``: a
    fresh copy of CIFAR-10 (``load_cifar10(download=True)``) would fix it, so the scripts and the dashboard add their
    command for that (the library names no script)."""

    def __init__(self, message: str, *, download_fixes: bool = False):
        super().__init__(message)
        self.download_fixes = download_fixes


@dataclass(frozen=True)
class Split:
    """One split: ``images`` uint8 N x 32 x 32 x 3 and ``labels`` int64 N."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self, num_classes: int = len(CLASSES)) -> np.ndarray:
        return np.bincount(self.labels, minlength=num_classes)

    def subset(self, indices: np.ndarray) -> "Split":
        return Split(self.images[indices], self.labels[indices])


@dataclass(frozen=True)
class CIFAR10:
    """The decoded data set: the training split divided into ``train`` and ``val``, plus ``test``."""

    train: Split
    val: Split
    test: Split
    classes: tuple[str, ...]
    fingerprint: str  # sha256 of the decoded pixels and labels: equal for equal data, whatever the source format
    source: Path
    cache_file: Path
    from_cache: bool

    @property
    def num_classes(self) -> int:
        return len(self.classes)


# ----------------------------------------------------------------------------------------------------------------
# Where the data lives


def candidate_locations(data: str | os.PathLike | None = None) -> list[tuple[str, Path]]:
    """The places to look, in order: ``--data``, else ``$CIFAR10_DATA``, else ``./data``."""
    if data is not None:
        return [("--data", Path(data))]
    if os.environ.get(DATA_ENV):
        return [(f"${DATA_ENV}", Path(os.environ[DATA_ENV]))]
    return [("default", DEFAULT_DATA_DIR)]


def resolve_data_path(data: str | os.PathLike | None = None) -> Path:
    """The one place that decides where data lives (see :func:`candidate_locations`)."""
    return candidate_locations(data)[0][1]


def _has_split_folders(path: Path) -> bool:
    return (path / "train").is_dir() and (path / "test").is_dir()


def _looks_like_archive(path: Path) -> bool:
    return path.is_file() and path.name.endswith((".tar.gz", ".tgz", ".tar"))


def find_source(path: Path) -> Path | None:
    """The concrete source at or inside ``path``: a batches folder, an image-folder tree or an archive."""
    path = Path(path)
    if _looks_like_archive(path):
        return path
    if not path.is_dir():
        return None
    if path.name == TORCHVISION_FOLDER or (path / "data_batch_1").is_file():
        return path
    if (path / TORCHVISION_FOLDER).is_dir():
        return path / TORCHVISION_FOLDER
    if _has_split_folders(path):
        return path
    archives = sorted(p for p in path.iterdir()
                      if _looks_like_archive(p) and "cifar" in p.name.lower() and p.name != TORCHVISION_ARCHIVE)
    return archives[0] if archives else None


def what_is_there(path: Path) -> str:
    """What was found at a path that holds no data source, in words: what is missing in what is there."""
    if not path.exists():
        return "it does not exist"
    if not path.is_dir():
        return "it is a file, but not a .tar.gz, .tgz or .tar archive, nor a folder"
    splits = [split for split in ("train", "test") if (path / split).is_dir()]
    if len(splits) == 1:
        missing = "test" if splits == ["train"] else "train"
        return f"it has a {splits[0]}/ folder but no {missing}/ folder beside it"
    entries = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
    if not entries:
        return "it is an empty folder"
    shown = ", ".join(entries[:8]) + (f" and {len(entries) - 8} more" if len(entries) > 8 else "")
    return f"it is a folder holding {shown}"


def missing_data_message(data: str | os.PathLike | None = None) -> str:
    looked = "\n".join(f"  - {Path(p).resolve()} ({how}): {what_is_there(Path(p))}"
                       for how, p in candidate_locations(data))
    return (
        "CIFAR-10 was not found. Looked in:\n"
        f"{looked}\n"
        f"Looked for a '{TORCHVISION_FOLDER}' folder, an image-folder tree with train/ and test/, "
        "or a cifar*.tar.gz archive laid out that way.\n"
        f"Fix: point --data (or ${DATA_ENV}) at a local copy, e.g. `--data ../shared/datasets/cifar10-jpeg.tar.gz`, "
        "or download the original."
    )


# ----------------------------------------------------------------------------------------------------------------
# Decoding


def _decode_image(raw: bytes, name: str) -> np.ndarray:
    """One image's pixels; a DataError naming the file for anything else, whatever Pillow raises: a damaged file, a
    decompression bomb (refused by Pillow as it opens), an image of another size (refused before it is decoded)."""
    try:
        with Image.open(io.BytesIO(raw)) as image:
            if image.size != IMAGE_SHAPE[1::-1]:
                raise DataError(f"Image {name} is {image.width}x{image.height}, expected 32x32. Replace or delete "
                                "that file.")
            pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except DataError:
        raise
    except Exception as error:  # a file from anywhere: Pillow's decoders raise many kinds (bombs, struct errors)
        raise DataError(f"Cannot decode image {name}: {error}. Replace or delete that file.") from None
    return pixels


def _class_index(class_name: str, where: str) -> int:
    try:
        return CLASSES.index(class_name)
    except ValueError:
        raise DataError(f"Unknown class folder '{class_name}' in {where}; expected one of {', '.join(CLASSES)}.") from None


def _split_of(relative: str) -> tuple[str, str] | None:
    """('train' | 'test', class name) for a member path ``[prefix/]split/class/file``, else None."""
    parts = Path(relative).parts
    if len(parts) < 3 or not parts[-1].lower().endswith(IMAGE_SUFFIXES) or parts[-1].startswith("."):
        return None
    split, class_name = parts[-3], parts[-2]
    return (split, class_name) if split in ("train", "test") else None


def _stack(items: list[tuple[str, int, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels in one fixed, class-mixed order, the same on every machine.

    Sorted by (label, file name) first, then put through a fixed PCG64 permutation: the classes are interleaved as
    in the original batches, so "the first N test images" is a fair sample.
    """
    items.sort(key=lambda item: (item[1], item[0]))
    order = np.random.Generator(np.random.PCG64(20091)).permutation(len(items))
    items = [items[i] for i in order]
    images = np.stack([pixels for _, _, pixels in items]) if items else np.zeros((0, *IMAGE_SHAPE), np.uint8)
    labels = np.array([label for _, label, _ in items], dtype=np.int64)
    return images, labels


def _decode_members(members, source: Path, progress: bool) -> dict[str, np.ndarray]:
    """Decode ``(relative path, read-bytes callable)`` pairs into the cache's arrays."""
    from tqdm.auto import tqdm

    found: dict[str, list[tuple[str, int, np.ndarray]]] = {"train": [], "test": []}
    for relative, read in tqdm(members, desc=f"Decoding {source.name}", unit="img", disable=not progress):
        split_and_class = _split_of(relative)
        if split_and_class is None:
            continue
        split, class_name = split_and_class
        label = _class_index(class_name, str(source))
        found[split].append((Path(relative).name, label, _decode_image(read(), f"{source}/{relative}")))
    empty = [split for split in ("train", "test") if not found[split]]
    if empty:
        raise DataError(f"{source} has no images under {' or '.join(f'{split}/<class>/' for split in empty)} (the "
                        f"image files must be named *{', *'.join(IMAGE_SUFFIXES)}).")
    train_images, train_labels = _stack(found["train"])
    test_images, test_labels = _stack(found["test"])
    return dict(train_images=train_images, train_labels=train_labels, test_images=test_images, test_labels=test_labels)


def _decode_archive(path: Path, progress: bool) -> dict[str, np.ndarray]:
    try:
        archive = tarfile.open(path)
    except (tarfile.TarError, OSError, EOFError) as error:
        raise DataError(f"Cannot read archive {path}: {error}. Download it again or point --data elsewhere.",
                        download_fixes=True) from None
    with archive:
        def reader(member):
            def read() -> bytes:
                try:
                    return archive.extractfile(member).read()
                except (tarfile.TarError, OSError, EOFError) as error:
                    raise DataError(f"Cannot read {member.name} in archive {path}: {error}") from None

            return read

        try:
            listed = archive.getmembers()
        except (tarfile.TarError, OSError, EOFError) as error:
            raise DataError(f"Cannot read archive {path}: {error}. Download it again or point --data elsewhere.",
                            download_fixes=True) from None
        members = [(m.name, reader(m)) for m in listed if _image_member(m, path)]
        return _decode_members(members, path, progress)


def _image_member(member: tarfile.TarInfo, archive: Path) -> bool:
    """Whether ``member`` is one of the archive's images; a DataError naming it where it would be taken for one but
    is not a plain file inside the archive's root.

    Such a member (``../../train/airplane/x.jpg``, ``/train/...``, a link) is refused with the whole archive, as a
    damaged image is, rather than skipped: an archive that holds one was made wrongly or on purpose, and training on
    what is left would give a data set nobody meant, under a fingerprint that looks like any other.
    """
    if member.isdir() or _split_of(member.name) is None:
        return False
    checks = ((member.name.startswith("/"), "its path is absolute"),
              (posixpath.normpath(member.name).split("/")[0] == "..", "its path climbs out of the archive's root"),
              (member.issym() or member.islnk(), f"it is a link to {member.linkname!r}"),
              (not member.isfile(), "it is not a regular file"))
    problem = next((reason for failed, reason in checks if failed), None)
    if problem:
        raise DataError(f"Archive {archive} holds {member.name!r} where an image is expected, but {problem}; such a "
                        "member is not taken as an image, so the archive is refused. Use a clean copy of the data "
                        "(e.g. ../shared/datasets/cifar10-jpeg.tar.gz) or rebuild the archive without it.")
    return True


def _folder_files(path: Path) -> list[Path]:
    return sorted(p for split in ("train", "test") for p in (path / split).rglob("*") if p.is_file())


def _folder_members(path: Path):
    return [(str(p.relative_to(path)), p.read_bytes) for p in _folder_files(path)]


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """torchvision's batches are pickles written by others: allow only what rebuilds numpy arrays and lists."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file's images (N x 3072 uint8, channel-major) and labels, or a DataError naming the file."""
    try:
        with open(path, "rb") as handle:
            batch = _NumpyOnlyUnpickler(handle, encoding="latin1").load()
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError) as error:
        raise DataError(f"Cannot read CIFAR-10 batch {path}: {error}. Download it again.",
                        download_fixes=True) from None
    if isinstance(batch, dict):
        batch = {key.decode() if isinstance(key, bytes) else key: value for key, value in batch.items()}
    images = np.asarray(batch.get("data")) if isinstance(batch, dict) else None
    labels = np.asarray(batch.get("labels")) if isinstance(batch, dict) else None
    well_formed = (images is not None and images.ndim == 2 and images.shape[1] == 3 * 32 * 32
                   and images.dtype == np.uint8 and labels.shape == (len(images),)
                   and np.issubdtype(labels.dtype, np.integer) and ((labels >= 0) & (labels < len(CLASSES))).all())
    if not well_formed:
        raise DataError(f"not a CIFAR-10 batch file: {path} (expected a 'data' array of N x 3072 bytes and N "
                        f"'labels' from 0 to {len(CLASSES) - 1}). Download it again.", download_fixes=True)
    return images, labels.astype(np.int64)


def _decode_batches(path: Path) -> dict[str, np.ndarray]:
    def load(names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        batches = [_read_batch(path / name) for name in names]
        images = np.concatenate([images for images, _ in batches])
        labels = np.concatenate([labels for _, labels in batches])
        return images.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), labels

    missing = [n for n in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"] if not (path / n).is_file()]
    if missing:
        raise DataError(f"{path} lacks {', '.join(missing)}. Download it again.", download_fixes=True)
    train_images, train_labels = load([f"data_batch_{i}" for i in range(1, 6)])
    test_images, test_labels = load(["test_batch"])
    return dict(train_images=train_images, train_labels=train_labels, test_images=test_images, test_labels=test_labels)


def _source_key(source: Path) -> str:
    """Fingerprint of the source's bytes (a file) or listing (a folder), to find its cache."""
    digest = hashlib.sha256()
    if source.is_file():
        with open(source, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    else:
        files = sorted(p for p in source.iterdir() if p.is_file()) if not _has_split_folders(source) else _folder_files(source)
        for file in files:
            stat = file.stat()
            digest.update(f"{file.relative_to(source)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _content_fingerprint(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in ("train_images", "train_labels", "test_images", "test_labels"):
        digest.update(np.ascontiguousarray(arrays[name]).tobytes())
    return digest.hexdigest()


def default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "cifar10-cnn-lab")


def _usable_cache_dir(cache_dir: str | os.PathLike | None) -> Path:
    """The cache folder, created if need be; refused by name (``$CIFAR10_CACHE`` where it comes from there) before
    any decoding when it is a file or cannot be created or written."""
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    named = (f"${CACHE_ENV} ({folder})" if cache_dir is None and os.environ.get(CACHE_ENV)
             else f"the data cache folder {folder}")
    if folder.exists() and not folder.is_dir():
        raise DataError(f"{named} is a file, not a folder. Point ${CACHE_ENV} at a folder (or unset it to use "
                        f"{Path.home() / '.cache' / 'cifar10-cnn-lab'}).")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(f"{named} cannot be created: {error.strerror}. Point ${CACHE_ENV} at a writable folder.") from None
    return folder


def _write_atomic_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            np.savez(out, **arrays)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


CACHE_KEYS = {"train_images", "train_labels", "test_images", "test_labels", "fingerprint", "classes"}


def _read_cache(path: Path) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as cache:
            arrays = {name: cache[name] for name in cache.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # unreadable cache: decode the source again and overwrite it
    return arrays if CACHE_KEYS <= set(arrays) else None


def decode_source(source: Path, *, progress: bool = True) -> dict[str, np.ndarray]:
    """Decode a source into train/test images and labels (no cache involved)."""
    if _looks_like_archive(source):
        return _decode_archive(source, progress)
    if _has_split_folders(source):
        return _decode_members(_folder_members(source), source, progress)
    return _decode_batches(source)


# ----------------------------------------------------------------------------------------------------------------
# Splitting


def stratified_split(labels: np.ndarray, per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val) with exactly ``per_class`` validation images of each class, the same on every machine.

    PCG64 streams are specified bit for bit, so a seed gives the same split everywhere.
    """
    rng = np.random.Generator(np.random.PCG64(seed))
    val_parts = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if per_class > len(members):
            raise ValueError(f"class {label} has {len(members)} images, fewer than {per_class} for validation")
        val_parts.append(rng.permutation(members)[:per_class])
    val = np.sort(np.concatenate(val_parts)) if val_parts else np.zeros(0, np.int64)
    train = np.setdiff1d(np.arange(len(labels)), val)
    return train, val


def load_cifar10(
    source: str | os.PathLike | None = None,
    *,
    val_per_class: int = 500,
    split_seed: int = 0,
    download: bool = False,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> CIFAR10:
    """Load CIFAR-10 from ``source`` (else ``$CIFAR10_DATA``, else ``./data``), decoding only on a cache miss.

    ``download=True`` fetches torchvision's copy into the data folder when nothing is found there.
    """
    root = resolve_data_path(source)
    found = find_source(root)
    if found is None and download:
        download_cifar10(root)
        found = find_source(root)
    if found is None:
        raise DataError(missing_data_message(source), download_fixes=True)

    cache_file = _usable_cache_dir(cache_dir) / f"cifar10-{CACHE_FORMAT}-{_source_key(found)}.npz"
    arrays = _read_cache(cache_file) if cache_file.exists() else None
    from_cache = arrays is not None
    if arrays is None:
        if not os.access(cache_file.parent, os.W_OK):
            raise DataError(f"The data cache folder {cache_file.parent} is not writable, so the decoded data could "
                            f"not be kept. Point ${CACHE_ENV} at a writable folder.")
        arrays = decode_source(found, progress=progress)
        arrays["fingerprint"] = np.array(_content_fingerprint(arrays))
        arrays["classes"] = np.array(CLASSES)
        _write_atomic_npz(cache_file, arrays)

    train_all = Split(arrays["train_images"], arrays["train_labels"])
    counts = train_all.class_counts()
    if counts.min() <= val_per_class:
        smallest = int(counts.argmin())
        raise DataError(f"{found} has {counts[smallest]:,} training images of class '{CLASSES[smallest]}'; "
                        f"{val_per_class} of each class are kept for validation, so every class needs more than "
                        f"{val_per_class} (CIFAR-10 has 5,000 of each). Point --data at the complete CIFAR-10, e.g. "
                        "../shared/datasets/cifar10-jpeg.tar.gz")
    train_index, val_index = stratified_split(train_all.labels, val_per_class, split_seed)
    return CIFAR10(
        train=train_all.subset(train_index),
        val=train_all.subset(val_index),
        test=Split(arrays["test_images"], arrays["test_labels"]),
        classes=tuple(str(c) for c in arrays["classes"]),
        fingerprint=str(arrays["fingerprint"]),
        source=found,
        cache_file=cache_file,
        from_cache=from_cache,
    )


TORCHVISION_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"  # the address torchvision uses
TORCHVISION_MD5 = "c58f30108f718f92721af3b95e74349a"


def download_cifar10(root: str | os.PathLike, progress_callback=None) -> Path:
    """Fetch the original CIFAR-10 (torchvision's python version) into ``root``; returns the batches folder.

    ``progress_callback(fraction)`` is called as bytes arrive (a tqdm bar in scripts, ``st.progress`` in the app).
    The archive's MD5 is checked before it is unpacked.
    """
    import urllib.request

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    archive = root / TORCHVISION_ARCHIVE
    partial = root / f"{TORCHVISION_ARCHIVE}.part"  # never mistaken for a complete archive
    digest = hashlib.md5()
    try:
        with urllib.request.urlopen(TORCHVISION_URL, timeout=60) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            for chunk in iter(lambda: response.read(1 << 20), b""):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress_callback is not None and total:
                    progress_callback(min(done / total, 1.0))
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise DataError(
            f"Download of CIFAR-10 from {TORCHVISION_URL} into {root.resolve()} failed: {error}. "
            "Check the internet connection, or point --data at a local copy."
        ) from None
    if digest.hexdigest() != TORCHVISION_MD5:
        partial.unlink()
        raise DataError(f"The downloaded {archive.name} has the wrong checksum; it was deleted. Try again.")
    os.replace(partial, archive)
    with tarfile.open(archive) as tar:
        tar.extractall(root, filter="data")
    archive.unlink()
    return root / TORCHVISION_FOLDER
