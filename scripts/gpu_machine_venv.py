"""A virtual environment holding only what the lent GPU machine's Python has, to rehearse scripts/gpu_session.sh here.

    python scripts/gpu_machine_venv.py /tmp/gpu-machine-venv      # prints the venv's python

The GPU machine has the distributions in GPU_MACHINE_HAS (and what they depend on) and nothing more; nothing can be
downloaded there, so whatever else the session needs travels as wheels. Installing torch again would take minutes and
a gigabyte, so the venv (without system site-packages) links those distributions from this interpreter's
site-packages, file by file at the top level. Everything else (dropblock, captum, streamlit, altair, matplotlib, ...)
stays out: a step that imports it fails here as it would there, until the carried wheels are installed.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import venv
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

GPU_MACHINE_HAS = ("torch", "torchvision", "safetensors", "numpy", "pillow", "tqdm", "pandas", "scipy")
# Modules the lab uses that the GPU machine lacks: the built venv must not import them either.
GPU_MACHINE_LACKS = ("dropblock", "captum", "streamlit", "altair", "matplotlib")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def with_dependencies(names: tuple[str, ...]) -> dict[str, metadata.Distribution]:
    """The installed distributions ``names`` name and, transitively, the ones they require here (no extras)."""
    found: dict[str, metadata.Distribution] = {}
    pending = [canonical(name) for name in names]
    while pending:
        name = pending.pop()
        if name in found:
            continue
        try:
            found[name] = distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # not installed here: a platform-specific requirement, or one of names this machine lacks
        for line in distribution.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(canonical(requirement.name))
    return found


def top_level_entries(distribution: metadata.Distribution) -> set[Path]:
    """The files and folders a distribution puts directly in site-packages (its packages, modules and .dist-info)."""
    if distribution.files is None:
        raise SystemExit(f"{distribution.metadata['Name']} has no RECORD of its files; reinstall it with pip")
    base = Path(distribution.locate_file(""))
    firsts = {file.parts[0] for file in distribution.files if file.parts[0] not in ("..", "__pycache__")}
    return {base / first for first in firsts}


def site_packages(python: Path) -> Path:
    return Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())


def build(target: Path) -> Path:
    """Create the venv at ``target`` with pip (the GPU machine has it) and link the GPU machine's distributions."""
    venv.EnvBuilder(with_pip=True, clear=True).create(target)
    python = target / "bin" / "python"
    site = site_packages(python)
    distributions = with_dependencies(GPU_MACHINE_HAS)
    own = {canonical(info.name.split("-")[0]) for info in site.glob("*.dist-info")}  # pip and the like, from venv
    linked = [name for name in distributions if name not in own]
    for name in linked:
        for entry in top_level_entries(distributions[name]):
            link = site / entry.name
            if not link.exists():  # namespace folders (nvidia/) are shared by several distributions
                link.symlink_to(entry)
    missing = [name for name in GPU_MACHINE_HAS if canonical(name) not in distributions]
    check = ("import importlib.util, sys; leaked = [m for m in sys.argv[1:] if importlib.util.find_spec(m)]; "
             "print(*leaked); sys.exit(bool(leaked))")
    leaked = subprocess.run([str(python), "-c", check, *GPU_MACHINE_LACKS], capture_output=True, text=True)
    if leaked.returncode:
        raise SystemExit(f"the venv at {target} imports {leaked.stdout.strip()}, which the GPU machine lacks")
    print(f"linked {len(linked)} distributions into {site}"
          + (f"; not installed here, so absent: {', '.join(missing)}" if missing else ""), file=sys.stderr)
    return python


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", type=Path, help="folder for the venv (replaced if it exists)")
    print(build(parser.parse_args(argv).target))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
