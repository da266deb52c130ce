"""Find (or download) CIFAR-10 and decode it once into the cache that training and the dashboard read.

    python scripts/prepare_data.py --download --data ./data      # the original, from the internet
    python scripts/prepare_data.py --data ../shared/datasets/cifar10-jpeg.tar.gz
"""
from __future__ import annotations

import sys

from cifar_models.arguments import ScriptParser
from cifar_models.data import DataError, load_cifar10
from dashboard.settings import data_advice


def main(argv: list[str] | None = None) -> int:
    parser = ScriptParser(__doc__)
    parser.add_argument("--data", help="data folder, image-folder tree or .tar.gz (default: $CIFAR10_DATA or ./data)")
    parser.add_argument("--download", action="store_true", help="download the original CIFAR-10 if none is found")
    args = parser.parse_args(argv)
    try:
        data = load_cifar10(args.data, download=args.download)
    except DataError as error:
        print(f"{error}{data_advice(error)}", file=sys.stderr)
        return 2
    print(f"source      {data.source}")
    print(f"cache       {data.cache_file} ({'reused' if data.from_cache else 'written'})")
    print(f"fingerprint {data.fingerprint[:16]}")
    print(f"splits      train {len(data.train):,} · validation {len(data.val):,} · test {len(data.test):,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
