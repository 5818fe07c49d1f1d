"""Mutation testing of chosen modules within a time budget (``make mutation``).

mutmut 3 needs the package under ``src/`` (it names mutants after the file path and
imports the mutated copy from ``mutants/src``), while this repository keeps it in
``plugins/social_warehouse``. So the run happens in a scratch workspace (default
``.mutation/``, git-ignored): a copy of the package under ``src/``, the tests and the
project files the tests read (``expectations/``, ``config/``, ``sources/``), and a
``pyproject.toml`` whose ``[tool.mutmut]`` is the repository's section plus the chosen
modules (``only_mutate``) and their test files (``pytest_add_cli_args_test_selection``).
mutmut then runs, per mutant, only the selected tests that execute the mutated function.

The run stops after ``--budget`` seconds (SIGTERM: mutmut keeps every result so far; the
mutants it did not reach are reported as "not checked"; ``--resume`` continues in the same
workspace without generating the mutants again). The summary (per module: killed,
survived, timeout, no tests, not checked, score) and every surviving mutant's diff are
printed and, with ``--report``, written as Markdown.

Usage::

    python scripts/mutation.py analytics/evaluation.py analytics/graph --budget 600
    python scripts/mutation.py quality/metrics.py --tests tests/unit/test_boundaries.py
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "plugins" / "social_warehouse"
#: Project files the selected tests read through paths relative to the repository root.
PROJECT_FILES = ("expectations", "config", "sources")

#: Module (path under the package; a folder means every module in it) -> the fast test
#: files that exercise it. Each mutant runs only the tests of this selection that execute
#: the mutated function, so slow end-to-end or gate tests are left out on purpose.
DEFAULT_TESTS: dict[str, tuple[str, ...]] = {
    "analytics/evaluation.py": ("tests/unit/test_boundaries.py", "tests/unit/test_recommend.py"),
    "analytics/graph": ("tests/unit/test_boundaries.py", "tests/unit/test_graph.py",
                        "tests/unit/test_mutation_graph.py"),
    "analytics/influence.py": ("tests/unit/test_boundaries.py", "tests/unit/test_influence.py",
                               "tests/unit/test_kol_degenerate.py"),
    "analytics/_common.py": ("tests/unit/test_boundaries.py", "tests/unit/test_influence.py",
                             "tests/unit/test_kol_degenerate.py"),
    "analytics/tiers.py": ("tests/unit/test_influence.py", "tests/unit/test_kol_degenerate.py"),
    "analytics/audience_quality.py": ("tests/unit/test_influence.py",
                                      "tests/unit/test_kol_degenerate.py"),
    "quality/metrics.py": ("tests/unit/test_boundaries.py",
                           "tests/unit/test_mutation_metrics.py"),
    "mapping/rules.py": ("tests/unit/test_boundaries.py", "tests/unit/test_mapping.py"),
    "ingest.py": ("tests/unit/test_ingest.py", "tests/unit/test_ingest_records.py"),
}
#: Deselected in mutation runs: the raw-gate boundary test imports Great Expectations and
#: runs a whole gate (tens of seconds per mutant); the volume metric has its own fast tests.
DEFAULT_PYTEST_ARGS = ("-q", "-p", "no:cacheprovider", "-m", "not e2e", "-k", "not raw_gate")

STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests",
          34: "skipped", 36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout",
          255: "timeout", 37: "caught by type check", None: "not checked"}
COLUMNS = ("killed", "timeout", "survived", "no tests", "suspicious", "not checked")


def _module_files(module: str) -> list[str]:
    """Package-relative ``.py`` files of ``module`` (a file or a folder)."""
    path = PACKAGE / module
    if path.is_dir():
        return sorted(str(p.relative_to(PACKAGE)) for p in path.rglob("*.py")
                      if p.name != "__init__.py")
    if path.is_file() and path.suffix == ".py":
        return [module]
    raise SystemExit(f"module {module!r} not found under {PACKAGE}")


def _tests_for(modules: list[str]) -> list[str]:
    tests: list[str] = []
    for module in modules:
        key = module.rstrip("/")
        if key not in DEFAULT_TESTS:
            raise SystemExit(
                f"no default tests for module {module!r}; pass --tests "
                f"(modules with defaults: {', '.join(sorted(DEFAULT_TESTS))})"
            )
        tests += [t for t in DEFAULT_TESTS[key] if t not in tests]
    return tests


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str) or isinstance(value, list):
        return json.dumps(value)  # JSON strings, numbers and string lists are valid TOML
    raise TypeError(f"unsupported [tool.mutmut] value {value!r}")


def prepare_workspace(work: Path, modules: list[str], tests: list[str],
                      pytest_args: list[str]) -> None:
    """A fresh workspace: package under src/, tests, project files, generated config."""
    if work.exists():
        shutil.rmtree(work)
    (work / "src").mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(PACKAGE, work / "src" / "social_warehouse", ignore=ignore)
    shutil.copytree(REPO / "tests", work / "tests", ignore=ignore)
    for name in PROJECT_FILES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, work / name, ignore=ignore)
    project = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))
    mutmut_cfg = dict(project.get("tool", {}).get("mutmut", {}))
    files = [f"src/social_warehouse/{f}" for m in modules for f in _module_files(m)]
    mutmut_cfg.update(
        source_paths=["src/social_warehouse"],
        only_mutate=files,
        pytest_add_cli_args_test_selection=tests,
        pytest_add_cli_args=list(mutmut_cfg.get("pytest_add_cli_args", [])) + pytest_args,
        also_copy=[*PROJECT_FILES, *mutmut_cfg.get("also_copy", [])],
    )
    pytest_cfg = project.get("tool", {}).get("pytest", {}).get("ini_options", {})
    lines = ["[tool.mutmut]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in mutmut_cfg.items()]
    lines += ["", "[tool.pytest.ini_options]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in pytest_cfg.items() if k != "testpaths"]
    (work / "pyproject.toml").write_text("\n".join(lines) + "\n", "utf-8")


def run_mutmut(work: Path, budget: float, max_children: int) -> tuple[float, bool]:
    """Run ``mutmut run`` in ``work`` for at most ``budget`` seconds; (seconds, stopped)."""
    mutmut = Path(sys.executable).parent / "mutmut"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "GX_ANALYTICS_ENABLED": "False"}
    env.pop("PYTHONPATH", None)
    cmd = ["nice", str(mutmut), "run", "--max-children", str(max_children)]
    start = time.monotonic()
    log = (work / "mutmut-run.log").open("w")
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    stopped = False
    try:
        proc.wait(timeout=budget)
    except subprocess.TimeoutExpired:
        stopped = True
        # mutmut 3.8 ignores SIGINT; it records each mutant's result as it finishes, so
        # SIGTERM to the whole group (mutmut and its forked workers) loses nothing
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    finally:
        log.close()
    return time.monotonic() - start, stopped


def _functions(path: Path) -> dict[str, str]:
    """Source of every function in a mutated file, by name (orig and mutants)."""
    text = path.read_text("utf-8")
    lines = text.splitlines()
    out: dict[str, str] = {}
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and "__mutmut_" in node.name:
            out[node.name] = "\n".join(lines[node.lineno - 1:node.end_lineno])
    return out


def _diff(funcs: dict[str, str], key: str) -> str:
    """The changed lines of mutant ``key`` (``x_f__mutmut_3``) against ``x_f__mutmut_orig``."""
    orig = key.rsplit("__mutmut_", 1)[0] + "__mutmut_orig"
    a = funcs.get(orig, "").splitlines()[1:]
    b = funcs.get(key, "").splitlines()[1:]
    lines = [ln for ln in difflib.unified_diff(a, b, lineterm="", n=0)
             if ln[:1] in "+-" and not ln.startswith(("---", "+++"))]
    return " | ".join(ln[0] + " " + ln[1:].strip() for ln in lines)


def collect(work: Path, modules: list[str]) -> tuple[dict[str, Counter], list[tuple]]:
    """Per module status counts and the surviving mutants (module, name, status, diff)."""
    counts: dict[str, Counter] = {}
    survivors: list[tuple] = []
    for module in modules:
        c: Counter = Counter()
        for rel in _module_files(module):
            meta = work / "mutants" / "src" / "social_warehouse" / (rel + ".meta")
            if not meta.exists():
                continue
            data = json.loads(meta.read_text("utf-8"))
            funcs = _functions(meta.with_suffix(""))
            for name, code in sorted(data["exit_code_by_key"].items()):
                status = STATUS.get(code, "suspicious")
                c[status] += 1
                if status in ("survived", "no tests", "suspicious"):
                    short = name.rsplit(".", 1)[1]
                    survivors.append((rel, short, status, _diff(funcs, short)))
        counts[module] = c
    return counts, survivors


def score(c: Counter) -> float | None:
    """Detected (killed + timeout) over checked mutants (not "not checked"/"skipped")."""
    checked = sum(c[s] for s in COLUMNS if s != "not checked")
    return (c["killed"] + c["timeout"]) / checked if checked else None


def report(counts: dict[str, Counter], survivors: list[tuple], command: str,
           seconds: float, stopped: bool, tests: list[str]) -> str:
    load = os.getloadavg()
    out = [
        f"Command: `{command}`",
        "",
        f"Tests: {', '.join(tests)}; {seconds:.0f} s"
        f"{' (stopped at the budget)' if stopped else ''}; load average at the end "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on {os.cpu_count()} cores.",
        "",
        "| module | " + " | ".join(COLUMNS) + " | score |",
        "|---|" + "---:|" * (len(COLUMNS) + 1),
    ]
    for module, c in counts.items():
        s = score(c)
        out.append(f"| {module} | " + " | ".join(str(c[k]) for k in COLUMNS)
                   + f" | {'n/a' if s is None else f'{100 * s:.1f} %'} |")
    out += ["", "Score = (killed + timeout) / checked mutants (\"no tests\" and survived count "
            "as undetected; \"not checked\" = not reached within the budget).", "",
            "Undetected mutants:", ""]
    out += [f"- `{rel}` `{name}` ({status}): `{diff}`" for rel, name, status, diff in survivors]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("modules", nargs="+",
                    help="paths under plugins/social_warehouse (files or folders)")
    ap.add_argument("--budget", type=float, default=900.0, help="seconds (default 900)")
    ap.add_argument("--tests", nargs="*", help="test files (default: per-module defaults)")
    ap.add_argument("--max-children", type=int, default=2)
    ap.add_argument("--workdir", type=Path, default=REPO / ".mutation")
    ap.add_argument("--report", type=Path, help="also write the summary to this file")
    ap.add_argument("--collect-only", action="store_true",
                    help="summarise the workspace's last run without running mutmut")
    ap.add_argument("--resume", action="store_true",
                    help="keep the workspace: mutmut reuses its mutants and results so far")
    args = ap.parse_args(argv)
    modules = [m.rstrip("/") for m in args.modules]
    for m in modules:
        _module_files(m)
    tests = args.tests or _tests_for(modules)
    seconds, stopped = 0.0, False
    if not args.collect_only:
        if not (args.resume and (args.workdir / "pyproject.toml").exists()):
            prepare_workspace(args.workdir, modules, tests, list(DEFAULT_PYTEST_ARGS))
        seconds, stopped = run_mutmut(args.workdir, args.budget, args.max_children)
    counts, survivors = collect(args.workdir, modules)
    command = "python scripts/mutation.py " + " ".join(modules) + f" --budget {args.budget:g}"
    if args.tests:
        command += " --tests " + " ".join(args.tests)
    text = report(counts, survivors, command, seconds, stopped, tests)
    print(text)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(text, "utf-8")
    if not any(counts.values()):
        print(f"no mutmut results under {args.workdir}/mutants; see "
              f"{args.workdir}/mutmut-run.log", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
