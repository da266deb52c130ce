"""What one large 16-bit PNG upload costs the server: peak memory added and seconds, in a fresh process.

    python scripts/benchmark_uploads.py                      # a 7000 x 7000 (49 megapixel) 16-bit grayscale PNG
    python scripts/benchmark_uploads.py --side 4000

The PNG is a smooth gradient, so the file is small (about 100 KB at 49 megapixels) while the decoded image is not:
what a careless or hostile upload looks like. The figure to watch is the peak memory that ``prepare_upload`` adds,
as a multiple of the decoded 16-bit image (2 bytes a pixel), which Pillow must hold in any case.
"""
from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from cifar_models.arguments import ScriptParser

# Run in a fresh interpreter so the peak (ru_maxrss, kB on Linux) belongs to this one decode alone.
MEASURE = """
import json, resource, sys, time
from pathlib import Path
from cifar_models.uploads import prepare_upload
data = Path(sys.argv[1]).read_bytes()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
prepared = prepare_upload(data, "large.png")
seconds = time.perf_counter() - started
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"added_bytes": (after - before) * 1024, "seconds": seconds, "mode": prepared.mode}))
"""


def sixteen_bit_png(side: int) -> bytes:
    """A ``side`` x ``side`` 16-bit grayscale gradient, encoded as PNG."""
    row = np.linspace(0, 65535, side).astype(np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(np.broadcast_to(row, (side, side)).copy()).save(buffer, "PNG")
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = ScriptParser(__doc__)
    parser.add_argument("--side", type=int, default=7000, help="width and height in pixels (default 7000)")
    args = parser.parse_args(argv)
    png = sixteen_bit_png(args.side)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "large.png"
        path.write_bytes(png)
        result = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True, check=True)
    figures = json.loads(result.stdout)
    decoded = args.side * args.side * 2
    print(f"{args.side}x{args.side} 16-bit PNG ({len(png) / 1024:,.0f} KB, {args.side**2 / 1e6:.0f} megapixels, "
          f"{figures['mode']}): prepare_upload added {figures['added_bytes'] / 2**20:,.0f} MiB peak memory, "
          f"{figures['added_bytes'] / decoded:.1f}x the decoded 16-bit image, in {figures['seconds']:.2f} s")
    print(json.dumps({"side": args.side, "file_bytes": len(png), "decoded_bytes": decoded, **figures,
                      "added_over_decoded": figures["added_bytes"] / decoded}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
