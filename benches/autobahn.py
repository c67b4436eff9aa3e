"""Run the Autobahn|Testsuite fuzzingclient cases against `scanbridge serve --echo`.

    python benches/autobahn.py                 # cases 1-10, 12, 13 (about 10 minutes)
    python benches/autobahn.py --cases '1.*,2.*'

Uses the runner in ../shared/tools/autobahn (or $AUTOBAHN_TOOL). Prints the
runner's summary line; exits 1 when any case FAILED.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from serverproc import scanbridge_server

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TOOL = ROOT.parent / "shared" / "tools" / "autobahn" / "run.py"
CASES = "1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.*,10.*,12.*,13.*"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cases", default=CASES)
    ap.add_argument("--tool", default=os.environ.get("AUTOBAHN_TOOL", str(DEFAULT_TOOL)))
    ap.add_argument("--json", default=str(ROOT / "reports" / "autobahn.json"))
    args = ap.parse_args()
    if not Path(args.tool).exists():
        print(f"autobahn runner not found at {args.tool} (set AUTOBAHN_TOOL)", file=sys.stderr)
        return 2
    cmd = [
        sys.executable,
        "-m",
        "scanbridge",
        "serve",
        "--echo",
        "--port",
        "0",
        "--log-level",
        "warning",
    ]
    try:
        with scanbridge_server(cmd) as port:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            r = subprocess.run(
                [
                    sys.executable,
                    args.tool,
                    f"ws://127.0.0.1:{port}/echo",
                    "--cases",
                    args.cases,
                    "--json",
                    args.json,
                    "--no-wirelog",
                    "--strict-exit",
                    "--max-time",
                    "2400",
                ],
                timeout=2700,
            )
            return r.returncode
    except RuntimeError as e:
        print(e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
