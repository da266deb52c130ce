"""More bad input through the real entry points (issue 22): archive members outside the archive's root, an oversized
image in a data set, checkpoints that do not load on Robustness and Compare, results that cannot be written, and
messages that say what is wrong in one line."""
from __future__ import annotations

import io
import os
import runpy
import shutil
import subprocess
import sys
import tarfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from apptest_helpers import FEATURE_MAPS, HOME, PAGES, assert_rendered, page_text, sidebar_note
from cifar_models.checkpoint import WEIGHTS_FILE
from cifar_models.data import CLASSES, DataError, load_cifar10
from cifar_models.exemplars import EXEMPLARS_FILE
from cifar_models.robustness import ROBUSTNESS_FILE
from cifar_models.trust import TRUST_FILE
from cifar_models.uploads import UploadError, prepare_upload
from conftest import REPO, run_script
from test_bad_input import NOWHERE, image_tree, train

ROBUSTNESS, COMPARE = "app_pages/robustness.py", "app_pages/compare.py"
# the scripts whose options argparse checks (gpu_machine_venv.py runs before the project's packages are installed)
SCRIPTS = ["train_all", "evaluate", "prepare_data", "benchmark_training", "benchmark_robustness", "benchmark_explain",
           "benchmark_dashboard", "benchmark_uploads", "docs_screenshots"]


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def full_tree(tmp_path_factory) -> Path:
    """An image tree that loads: 501 training images of each class (500 go to validation), one test image each."""
    return image_tree(tmp_path_factory.mktemp("tree") / "cifar", 501)


@pytest.fixture
def checkpoints(untrained_checkpoints, tmp_path) -> Path:
    """A copy of the untrained checkpoints that a test may change."""
    return Path(shutil.copytree(untrained_checkpoints, tmp_path / "checkpoints"))


# ------------------------------------------------------------------------------------------------------------------
# Messages: one line


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_scripts_option_error_is_one_line_with_a_pointer_to_help(capsys, monkeypatch, name):
    monkeypatch.setattr(sys, "argv", [f"scripts/{name}.py", "--no-such-option"])
    with pytest.raises(SystemExit) as exit_:  # the script as `python scripts/NAME.py --no-such-option` runs it
        runpy.run_path(str(REPO / "scripts" / f"{name}.py"), run_name="__main__")
    assert exit_.value.code == 2
    assert capsys.readouterr().err == (f"{name}.py: error: unrecognized arguments: --no-such-option "
                                       f"(see {name}.py --help)\n")


def test_a_refused_option_value_is_one_line_from_the_command_line(run_script):
    result = run_script("scripts/train_all.py", "--epochs", "0", "--data", NOWHERE, check=False)
    assert result.returncode == 2
    assert result.stderr == ("train_all.py: error: argument --epochs: must be a whole number ≥ 1, got 0 "
                             "(see train_all.py --help)\n")


def test_a_png_with_a_bad_header_checksum_is_called_a_damaged_png():
    damaged = bytearray(png_bytes(np.zeros((8, 8, 3), np.uint8)))
    damaged[29] ^= 0xFF  # the IHDR chunk's CRC (signature 8 + length 4 + type 4 + data 13 bytes)
    with pytest.raises(UploadError) as refused:
        prepare_upload(bytes(damaged), "photo.png")
    assert str(refused.value) == ("photo.png: a damaged PNG file: it begins as a PNG does, but its header cannot be "
                                  "read (a wrong checksum or field). Save or export the image again.")
    with pytest.raises(UploadError, match=r"notes\.png: not a PNG, JPEG, WebP or BMP image"):
        prepare_upload(b"\x89PNx not quite a PNG", "notes.png")


def test_checkpoints_variable_pointing_at_a_file_says_it_is_a_file(open_app, tmp_path):
    a_file = tmp_path / "checkpoints.tar"
    a_file.write_bytes(b"not a folder")
    app = open_app(HOME, a_file)
    assert_rendered(app, HOME)
    text = page_text(app)
    assert f"The checkpoints folder `{a_file}` (`$CIFAR10_CHECKPOINTS`, else `checkpoints/`) is a file" in text
    assert "No trained models found" not in text
    assert f"**Checkpoints** none: `{a_file}` is a file, not a folder" in sidebar_note(app)


# ------------------------------------------------------------------------------------------------------------------
# Archive members outside the archive's root: the archive is refused, naming the member


def cifar_archive(path: Path, extra: tarfile.TarInfo | None = None) -> Path:
    """A .tar.gz laid out cifar/{train,test}/<class>/0.png, plus ``extra`` (with a PNG as its contents if a file)."""
    image = png_bytes(np.full((32, 32, 3), 128, np.uint8))
    members = [tarfile.TarInfo(f"cifar/{split}/{name}/0.png") for split in ("train", "test") for name in CLASSES]
    with tarfile.open(path, "w:gz") as archive:
        for member in members + ([extra] if extra else []):
            member.size = len(image) if member.isfile() else 0
            archive.addfile(member, io.BytesIO(image) if member.isfile() else None)
    return path


def link(name: str, kind: bytes, target: str) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type, member.linkname = kind, target
    return member


@pytest.mark.parametrize("member, problem", [
    (tarfile.TarInfo("../../train/airplane/x.png"), "its path climbs out of the archive's root"),
    (tarfile.TarInfo("cifar/../../train/airplane/x.png"), "its path climbs out of the archive's root"),
    (tarfile.TarInfo("/train/airplane/x.png"), "its path is absolute"),
    (link("cifar/train/airplane/x.png", tarfile.SYMTYPE, "../../../../etc/x.png"),
     "it is a link to '../../../../etc/x.png'"),
    (link("cifar/train/airplane/x.png", tarfile.LNKTYPE, "cifar/test/airplane/0.png"),
     "it is a link to 'cifar/test/airplane/0.png'"),
])
def test_an_archive_member_outside_its_root_refuses_the_archive_naming_it(capsys, tmp_path, member, problem):
    archive = cifar_archive(tmp_path / "cifar10.tar.gz", member)
    with pytest.raises(DataError) as refused:
        load_cifar10(archive, cache_dir=tmp_path / "cache", val_per_class=0, progress=False)
    assert str(refused.value).startswith(f"Archive {archive} holds {member.name!r} where an image is expected, but "
                                         f"{problem}; such a member is not taken as an image, so the archive is refused.")
    assert not list((tmp_path / "cache").glob("*.npz"))  # nothing decoded, nothing cached
    code, err = train(capsys, "--data", str(archive), "--out", str(tmp_path / "out"))
    assert code == 2 and f"holds {member.name!r} where an image is expected" in err


def test_the_same_archive_without_that_member_loads(tmp_path):
    data = load_cifar10(cifar_archive(tmp_path / "cifar10.tar.gz"), cache_dir=tmp_path / "cache", val_per_class=0,
                        progress=False)
    assert len(data.train) == len(data.test) == len(CLASSES)


# ------------------------------------------------------------------------------------------------------------------
# An oversized image in a data set: a DataError naming it, and every page still works


@pytest.fixture
def bomb_tree(tmp_path) -> tuple[Path, Path]:
    """A small image tree with one real 20000x10000 PNG among its training images (1 bit a pixel: 30 KB on disk)."""
    tree = image_tree(tmp_path / "tree", 2)
    bomb = tree / "train" / "airplane" / "huge.png"
    Image.new("1", (20_000, 10_000)).save(bomb)
    return tree, bomb


def test_an_oversized_image_is_refused_naming_the_file(bomb_tree, tmp_path):
    tree, bomb = bomb_tree
    with pytest.raises(DataError) as refused:
        load_cifar10(tree, cache_dir=tmp_path / "cache", progress=False)
    assert str(refused.value).startswith(f"Cannot decode image {tree}/train/airplane/huge.png: Image size "
                                         "(200000000 pixels) exceeds limit")
    assert str(refused.value).endswith("Replace or delete that file.")


def test_an_image_of_another_size_is_refused_before_it_is_decoded(tmp_path):
    tree = image_tree(tmp_path / "tree", 2)
    Image.new("RGB", (6000, 6000)).save(tree / "test" / "cat" / "big.png")  # under Pillow's bomb limits
    with pytest.raises(DataError, match=r"Image .*test/cat/big\.png is 6000x6000, expected 32x32\. Replace or delete"):
        load_cifar10(tree, cache_dir=tmp_path / "cache", progress=False)


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_works_with_an_oversized_image_in_the_data(open_app, bomb_tree, page):
    tree, bomb = bomb_tree
    app = open_app(page, REPO / "checkpoints", data=tree)
    assert_rendered(app, page)
    assert f"**Data** Cannot decode image {bomb}: Image size (200000000 pixels)" in sidebar_note(app)


# ------------------------------------------------------------------------------------------------------------------
# Checkpoints that do not load: Robustness leaves them out with the reason, Compare names an unknown model


@pytest.fixture
def unloadable(checkpoints) -> Path:
    """The checkpoints with SENet's weights replaced by Plain CNN's, and a folder 'xyz' whose record names a model
    this code does not know."""
    shutil.copy(checkpoints / "plain_cnn" / WEIGHTS_FILE, checkpoints / "senet" / WEIGHTS_FILE)
    shutil.copytree(checkpoints / "plain_cnn", checkpoints / "xyz")
    record = checkpoints / "xyz" / "run.json"
    record.write_text(record.read_text().replace('"model": "plain_cnn"', '"model": "xyz"'))
    return checkpoints


def test_robustness_leaves_out_the_models_that_do_not_load_with_the_reason(open_app, unloadable, full_tree):
    app = open_app(ROBUSTNESS, unloadable, data=full_tree)
    assert_rendered(app, ROBUSTNESS)
    errors = [error.value for error in app.error]
    assert len(errors) == 2
    assert errors[0].startswith("SENet is left out: Weights ") and "do not match the architecture 'senet'" in errors[0]
    assert errors[1].startswith("xyz is left out: Run record ") and "unknown model 'xyz'; known models" in errors[1]
    predictions = app.table[0].value
    assert list(predictions.columns) == ["true class", "Plain CNN", "Inception"]  # the others are still shown


def test_compare_names_an_unknown_model_with_its_folder(open_app, unloadable, tmp_path):
    app = open_app(COMPARE, unloadable, data=tmp_path / "no-data")
    assert_rendered(app, COMPARE)
    assert [warning.value for warning in app.warning][1:] == [  # after the verdict
        f"unknown model 'xyz' in `{unloadable / 'xyz'}`: this code builds only plain_cnn, senet, inception, so its "
        "run record is shown but the pages that need its weights leave it out."]


# ------------------------------------------------------------------------------------------------------------------
# Results that cannot be written: refused before computing


@contextmanager
def read_only(folder: Path):
    """``folder`` made read-only for real. Root writes through permission bits, so as root it is bind-mounted on
    itself read-only (the kernel then refuses every write with "Read-only file system"); otherwise it loses its
    write permission."""
    if os.geteuid() != 0:
        folders = [folder, *(p for p in folder.rglob("*") if p.is_dir())]
        for each in folders:
            each.chmod(0o555)
        try:
            yield "Permission denied"
        finally:
            for each in folders:
                each.chmod(0o755)
        return
    subprocess.run(["mount", "--bind", str(folder), str(folder)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True)
        yield "Read-only file system"
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize("option, written", [("--exemplars", EXEMPLARS_FILE), ("--robustness", ROBUSTNESS_FILE),
                                             ("--faithfulness", TRUST_FILE)])
def test_evaluate_refuses_a_read_only_folder_before_computing(run_script, checkpoints, full_tree, option, written):
    command = ("scripts/evaluate.py", option, "--checkpoints", str(checkpoints), "--data", str(full_tree),
               "--per-class", "1", "--device", "cpu")
    with read_only(checkpoints) as reason:
        result = run_script(*command, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (f"error: {written} cannot be written into {checkpoints / 'inception'}: {reason}. Nothing was computed; "
            "make the folder writable, or copy the checkpoints") in result.stderr
    assert "%|" not in result.stderr  # no progress bar: the computing never started
    assert not list(checkpoints.rglob(written))
    if option == "--exemplars":  # writable again, the same command computes and writes (seconds; robustness takes
        run_script(*command)     # minutes: test_robustness.py measures it)
        assert len(list(checkpoints.rglob(written))) == 3


def test_compute_exemplars_button_on_a_read_only_folder_says_so(open_app, checkpoints, full_tree):
    app = open_app(FEATURE_MAPS, checkpoints, data=full_tree)
    [button] = [button for button in app.button if button.key == "feature_maps_compute_exemplars"]
    with read_only(checkpoints) as reason:
        button.click().run()
    assert_rendered(app, FEATURE_MAPS)
    assert any(error.value.startswith(f"{EXEMPLARS_FILE} cannot be written into {checkpoints / 'plain_cnn'}: "
                                      f"{reason}. Nothing was computed") for error in app.error)
    assert not list(checkpoints.rglob(EXEMPLARS_FILE))
