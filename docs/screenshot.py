"""Draw the README's screenshot: the debugger at 160x50 on the identify recording.

    python docs/screenshot.py                  # docs/tui.svg
    python docs/screenshot.py --png shot.png   # and a PNG of it, with rsvg-convert

The cursor is on event 382, the Identify Controller data the device DMA-writes
to the host, in the middle of the story. The SVG is what Textual draws; a PNG
is made from it by ``rsvg-convert`` (Debian's librsvg2-bin), after turning
Textual's no-break spaces into preserved spaces (rsvg-convert drops leading
no-break spaces, which would shift right-aligned columns).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nvmescope.ui import NvmeScopeApp, open_source  # noqa: E402
from nvmescope.ui.marks import Marks  # noqa: E402

AT = 382
SIZE = (160, 50)


async def draw(svg: Path) -> None:
    source = open_source(ROOT / "recordings" / "identify.nvmetrace")
    app = NvmeScopeApp(source, at=AT, marks=Marks())
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        app.save_screenshot(str(svg.name), path=str(svg.parent))
    source.close()


def main() -> None:
    svg = ROOT / "docs" / "tui.svg"
    asyncio.run(draw(svg))
    print(f"wrote {svg.relative_to(ROOT)}")
    if "--png" not in sys.argv[1:]:
        return
    png = Path(sys.argv[sys.argv.index("--png") + 1])
    if shutil.which("rsvg-convert") is None:
        raise SystemExit("rsvg-convert not found (apt-get install librsvg2-bin): no PNG made")
    text = svg.read_text().replace("&#160;", " ").replace("<svg ", '<svg xml:space="preserve" ', 1)
    subprocess.run(["rsvg-convert", "-o", str(png)], input=text.encode(), check=True)
    print(f"wrote {png}")


if __name__ == "__main__":
    main()
