"""A gateway that does not embed the engine never loads it: no aiortc, av, numpy or speech stack.

The check runs in a fresh interpreter (this test process has loaded everything already): it builds the
app as ``voxgate serve`` does with an OpenAI key, enters its lifespan against the fake upstream, answers
``/healthz`` and then lists which heavy packages are in ``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

HEAVY = ("aiortc", "av", "numpy", "onnxruntime", "faster_whisper", "ctranslate2", "piper", "voxgate.engine")

PROBE = textwrap.dedent(
    """
    import asyncio, json, sys

    import httpx

    from voxgate.settings import Settings
    from voxgate.web.app import create_app

    async def main() -> None:
        settings = Settings(
            _env_file=None,
            OPENAI_API_KEY="sk-lazy-0123456789",
            upstream_url=sys.argv[1],
            data_dir=sys.argv[2],
        )
        assert not settings.uses_embedded_engine
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                status = (await client.get("/healthz")).status_code
        heavy = sorted({name.split(".")[0] if not name.startswith("voxgate.") else "voxgate.engine"
                        for name in sys.modules
                        if name.split(".")[0] in HEAVY or name.startswith("voxgate.engine")})
        print(json.dumps({"status": status, "heavy": heavy}))

    HEAVY = set(json.loads(sys.argv[3]))
    asyncio.run(main())
    """
)


def test_serve_with_an_openai_key_loads_no_engine(upstream_url: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, upstream_url, str(tmp_path / "data"), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["status"] == 200
    assert report["heavy"] == [], report["heavy"]
