"""`bench/select.py`, as the scheduler issue names it: the next-dial latency benchmark.

    .venv/bin/python bench/select.py [--contacts N] [--campaigns N] [--dnc N] [--picks N]
                                     [--db PATH] [--keep]

The benchmark itself is `bench/pick_next.py` (see its docstring for what is timed). This file's
name is also the standard library's `select`: every script in bench/ runs with bench/ first on
sys.path, so its `import select` (asyncio, subprocess, selectors) lands here. Imported that way,
this module hands the importer the real one (import returns whatever sys.modules holds after
the module's body has run).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import runpy
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    sys.path[0] = str(_HERE.parent)  # the repository, not bench/, before anything imports select
    sys.argv[0] = str(_HERE / "pick_next.py")
    runpy.run_path(str(_HERE / "pick_next.py"), run_name="__main__")
else:
    _spec = importlib.machinery.PathFinder.find_spec(
        "select", [p for p in sys.path if Path(p or ".").resolve() != _HERE]
    )
    if _spec is None or _spec.loader is None:
        raise ImportError("the standard library's select module was not found")
    _real = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_real)
    sys.modules["select"] = _real
