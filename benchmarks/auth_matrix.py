"""The auth matrix (endpoint × credential → HTTP status) as a markdown table, for RESULTS.md.

    .venv/bin/python benchmarks/auth_matrix.py

Runs ``tests/api/test_auth.py``'s ``MATRIX`` against a TestClient on a real catalog in a
temporary folder (one key per scope; reads not public) and prints what each request got, with a
mark where that differs from the test's expectation.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.api.test_auth import CREDS, MATRIX, call, secured_client  # noqa: E402


def main() -> int:
    from songlens.catalog.pipeline import Catalog
    from songlens.embeddings.models import load_models
    from songlens.settings import load_settings
    from songlens.store import open_store

    clips = {p.stem: p.read_bytes()
             for p in sorted((ROOT / "tests" / "fixtures" / "audio").glob("*.ogg"))}
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(None, data_dir=tmp, log_level="WARNING")
        store = open_store(path=settings.qdrant_path)
        try:
            catalog = Catalog(settings=settings, store=store, models=load_models(settings))
            lines = ["| endpoint | " + " | ".join(CREDS) + " |",
                     "|---|" + "---|" * len(CREDS)]
            wrong = 0
            with secured_client(catalog, Path(tmp) / "api_keys.json", clips,
                                rate_limit_per_minute=0) as s:
                for case in MATRIX:
                    cells = []
                    for cred, expected in zip(CREDS, case[4], strict=True):
                        got = call(s.client, case, cred, s.headers).status_code
                        wrong += got != expected
                        cells.append(str(got) if got == expected else f"**{got}** (≠{expected})")
                    lines.append(f"| `{case[0]}` | " + " | ".join(cells) + " |")
        finally:
            store.close()
    print("\n".join(lines))
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
