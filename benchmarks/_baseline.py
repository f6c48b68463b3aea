"""`--baseline REV`: run a benchmark's workers on an earlier revision of livn, side by side with this one.

The revision is checked out once as a detached git worktree (`<tmp>/livn-baseline-<commit>`,
reused by later runs; `git worktree prune` forgets it after the directory is deleted), and a
worker process runs it by putting that tree's `src/` first on `PYTHONPATH`. Both versions then
run in the same benchmark, alternately, on the same machine and load: the ratio of the two
is what the benchmark reports, which this VM's drifting speed (about +-30 %) leaves intact.
The third-party packages are this environment's for both.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent


def add_baseline_argument(parser) -> None:
    """Add `--baseline REV` (a commit, tag or branch of this repository) to an argparse parser."""
    parser.add_argument("--baseline", metavar="REV", help="also measure this earlier revision of livn, side by side")


def baseline_tree(revision: str) -> Path:
    """A worktree of `revision` (created on first use); raises SystemExit if git cannot resolve it."""
    try:
        commit = subprocess.run(["git", "-C", str(REPOSITORY), "rev-parse", "--verify", f"{revision}^{{commit}}"],
                                capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as error:
        raise SystemExit(f"--baseline {revision!r}: not a revision of {REPOSITORY} ({error})") from None
    tree = Path(tempfile.gettempdir()) / f"livn-baseline-{commit[:12]}"
    if not (tree / "src" / "livn").is_dir():
        subprocess.run(["git", "-C", str(REPOSITORY), "worktree", "prune"], check=False)
        subprocess.run(["git", "-C", str(REPOSITORY), "worktree", "add", "--detach", "--force", str(tree), commit],
                       capture_output=True, check=True)
    return tree


def environment(tree: Path | None) -> dict:
    """`os.environ` for a worker of `tree` (None: this checkout, as installed)."""
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(tree / "src"), *filter(None, [env.get("PYTHONPATH")])])
    return env


def label(tree: Path | None) -> str:
    """Short name of a version for tables: `this` or `baseline <commit>`."""
    return "this" if tree is None else f"baseline {tree.name.removeprefix('livn-baseline-')[:8]}"
