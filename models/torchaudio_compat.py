"""Make torchaudio importable next to the pinned torch, visibly (called by `make install`).

pyannote.audio pulls the newest torchaudio (2.11), whose compiled extension is built for
torch 2.11 and fails to load under the pinned torch 2.13 ("Could not load this library:
.../torchaudio/lib/_torchaudio.abi3.so"), which breaks `import pyannote.audio`. pyannote
needs only torchaudio's pure-Python parts (resampling, compliance.kaldi.fbank). So, when the
versions differ and the import fails, the compiled libraries are moved aside into
torchaudio/lib/_disabled_by_audiopipe/; when a torchaudio matching torch is installed, they
are put back (or left alone). Prints what it did, every time.
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

ASIDE = "_disabled_by_audiopipe"


def _imports() -> tuple[bool, str]:
    proc = subprocess.run([sys.executable, "-c", "import torchaudio, pyannote.audio"], capture_output=True,
                          text=True)
    return proc.returncode == 0, proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""


def main() -> int:
    spec = importlib.util.find_spec("torchaudio")
    if spec is None:
        print("[torchaudio] not installed: nothing to do")
        return 0
    lib = Path(next(iter(spec.submodule_search_locations))) / "lib"
    aside = lib / ASIDE
    torch_v, ta_v = md.version("torch").split("+")[0], md.version("torchaudio").split("+")[0]
    matching = torch_v.split(".")[:2] == ta_v.split(".")[:2]
    if matching and aside.is_dir():
        for so in aside.iterdir():
            shutil.move(str(so), lib / so.name)
        aside.rmdir()
        print(f"[torchaudio] {ta_v} matches torch {torch_v}: compiled libraries restored")
    ok, err = _imports()
    if ok:
        state = "compiled libraries set aside" if aside.is_dir() else "as installed"
        print(f"[torchaudio] {ta_v} with torch {torch_v}: imports fine ({state})")
        return 0
    if matching:
        print(f"[torchaudio] {ta_v} matches torch {torch_v} but does not import: {err}", file=sys.stderr)
        return 1
    aside.mkdir(exist_ok=True)
    moved = [so.name for so in lib.glob("*.so")]
    for name in moved:
        shutil.move(str(lib / name), aside / name)
    ok, err2 = _imports()
    print(f"[torchaudio] {ta_v} is built for another torch than {torch_v} ({err}); "
          f"moved its compiled libraries aside ({', '.join(moved)}) -> pure-Python torchaudio: "
          f"{'imports fine' if ok else 'STILL FAILS: ' + err2}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
