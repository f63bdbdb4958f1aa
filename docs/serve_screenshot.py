"""Draw docs/serve.png: `nvmescope serve -- lesson identify` in headless Chromium, three
lesson steps in. Needs Debian's chromium (`apt-get install chromium`).

    python docs/serve_screenshot.py
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from browser import Chromium, served  # noqa: E402


async def main() -> None:
    with served(["lesson", "identify"]) as (url, _):
        async with Chromium() as browser:
            await browser.open(url + "/?fontsize=14")
            await browser.settled_screenshot()
            for _ in range(3):
                await browser.key(">")
            png = await browser.settled_screenshot()
    (HERE / "serve.png").write_bytes(png)
    print(f"wrote {HERE / 'serve.png'}")


if __name__ == "__main__":
    asyncio.run(main())
