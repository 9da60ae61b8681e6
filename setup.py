"""The build step setuptools cannot declare: the web terminal (`web/`, TypeScript) is built by
npm into `src/tradingfloor/web/static`, which the wheel ships. Building a wheel from the source
tree builds it when it is missing or older than its sources; a source tree without `web/`
(the files already built) builds nothing."""

import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
WEB = ROOT / "web"
BUILT = ROOT / "src" / "tradingfloor" / "web" / "static" / "index.html"


def _sources() -> list[Path]:
    found = [WEB / name for name in ("package.json", "package-lock.json", "index.html")]
    found += [WEB / name for name in ("vite.config.ts", "tsconfig.json")]
    return [path for path in found if path.exists()] + sorted((WEB / "src").rglob("*"))


def build_web() -> None:
    if not (WEB / "package.json").exists():
        return
    newest = max(path.stat().st_mtime for path in _sources())
    if BUILT.exists() and BUILT.stat().st_mtime >= newest:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit(
            "building the web terminal needs Node.js and npm (https://nodejs.org); "
            "or install a wheel, which ships it built"
        )
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True)
    subprocess.run([npm, "run", "build"], cwd=WEB, check=True)


class BuildPyWithWeb(build_py):
    def run(self) -> None:
        build_web()
        super().run()


setup(cmdclass={"build_py": BuildPyWithWeb})
