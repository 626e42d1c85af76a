"""Builds and runs the kestra_model JVM harness (tests/kestra_model, Maven) once per test session.

The harness is Kestra 1.1.7's own code: FlowService#validate for flows, the dashboard parser and
ModelValidator for dashboards, and an embedded Kestra (H2 in-memory repository and queues,
executor, worker, local storage) for executions. This module only builds it, hands it a spec and
reads its JSON report; the tests make the assertions.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

MODULE_DIR = Path(__file__).resolve().parent
REPO_ROOT = MODULE_DIR.parents[1]
CLASSPATH_FILE = MODULE_DIR / "target" / "classpath.txt"
CLASSES_DIR = MODULE_DIR / "target" / "classes"
MIN_JAVA = 21  # Kestra 1.1 is built for Java 21
INSTALL_HINT = (
    "apt-get install maven, and a JDK 21+ (e.g. Temurin 25 in /usr/lib/jvm); "
    "set KESTRA_MODEL_JAVA_HOME if it is elsewhere"
)

# Plugin groups whose jars (io.kestra.plugin:plugin-gcp, plugin-script-python, plugin-script-shell,
# plugin-jdbc-duckdb, plugin-git) Maven Central does not serve to this project: the harness masks
# their tasks and triggers, reports each one, and cannot execute flows that use them.
UNSERVED_GROUPS = (
    "io.kestra.plugin.gcp.",
    "io.kestra.plugin.scripts.",
    "io.kestra.plugin.jdbc.",
    "io.kestra.plugin.git.",
)


# A folder of real plugin jars (e.g. a Kestra installation's plugins folder): when set, the
# harness registers them as `kestra server --plugins` does and masks only the groups they lack.
# CI does not set it (Maven Central does not serve those jars), so CI masks.
PLUGINS_DIR_VAR = "KESTRA_PLUGINS_DIR"

# The report of this test run's harness, for the terminal summary (conftest.py).
LAST_REPORT: dict = {}


def plugins_dir() -> Path | None:
    """The folder named by KESTRA_PLUGINS_DIR, None when unset; a value that names no folder of
    jars is an error, never a silent fall-back to masking."""
    value = os.environ.get(PLUGINS_DIR_VAR, "").strip()
    if not value:
        return None
    path = Path(value).expanduser().resolve()
    if not path.is_dir() or not any(path.glob("*.jar")):
        raise RuntimeError(f"{PLUGINS_DIR_VAR}={value}: not a folder holding plugin jars")
    return path


def java_major(java_home: Path) -> int:
    """Feature version from the JDK's `release` file (JAVA_VERSION="25.0.1" -> 25), 0 if unknown."""
    try:
        text = (java_home / "release").read_text(encoding="utf-8")
    except OSError:
        return 0
    m = re.search(r'^JAVA_VERSION="(\d+)(?:\.(\d+))?', text, re.M)
    if not m:
        return 0
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


def find_jdk() -> Path | None:
    candidates = [os.environ.get("KESTRA_MODEL_JAVA_HOME"), os.environ.get("JAVA_HOME")]
    jvm_dir = Path("/usr/lib/jvm")
    if jvm_dir.is_dir():
        candidates += [str(p) for p in sorted(jvm_dir.iterdir(), reverse=True)]
    for candidate in candidates:
        if not candidate:
            continue
        home = Path(candidate)
        if (home / "bin" / "javac").exists() and java_major(home) >= MIN_JAVA:
            return home
    return None


def find_maven() -> str | None:
    return shutil.which("mvn")


def _build_is_current() -> bool:
    """True when target/ was built after the last change to pom.xml or src/, and its jars exist."""
    if not CLASSPATH_FILE.exists() or not CLASSES_DIR.is_dir():
        return False
    built = CLASSPATH_FILE.stat().st_mtime
    sources = [MODULE_DIR / "pom.xml", *(p for p in (MODULE_DIR / "src").rglob("*") if p.is_file())]
    if any(p.stat().st_mtime > built for p in sources):
        return False
    return all(Path(jar).exists() for jar in CLASSPATH_FILE.read_text().strip().split(os.pathsep))


def build(jdk: Path, mvn: str) -> None:
    """`mvn compile`: resolves Kestra from Maven Central into ~/.m2 the first time, then only compiles."""
    if _build_is_current():
        return
    env = dict(os.environ, JAVA_HOME=str(jdk))
    result = subprocess.run(
        [mvn, "-B", "-q", "-f", str(MODULE_DIR / "pom.xml"), "compile"],
        env=env, capture_output=True, text=True, timeout=900,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
        raise RuntimeError(f"mvn compile of tests/kestra_model failed (exit {result.returncode}):\n{tail}")


@dataclass(frozen=True)
class Execution:
    """What run() asks the embedded Kestra to execute: a flow file and its inputs."""

    name: str
    path: Path
    inputs: dict
    timeout: int = 60  # seconds the harness waits for the execution to end


def run(jdk: Path, work_dir: Path, validate: list[tuple[Path, str]], executions: list[Execution], *,
        plugins_dir: Path | None = None, enum_facts: list[dict] = (), namespace_files: list[dict] = (),
        process_runner: bool = False) -> dict:
    """Runs the harness once and returns its report (see Harness.java for the format).

    `plugins_dir`: real plugin jars to register, as `kestra server --plugins` does; the groups they
    provide are then judged by Kestra instead of masked. `enum_facts`: the enum constants masked
    plugin properties may take (plugin_enums.txt). `namespace_files`: ``{namespace, path, file}``
    stored before the executions. `process_runner`: force script tasks onto the Process runner."""
    spec = {
        "tenant": "main",
        "unservedGroups": list(UNSERVED_GROUPS),
        "pluginsDir": str(plugins_dir) if plugins_dir else "",
        "enumFacts": list(enum_facts),
        "processRunner": process_runner,
        "namespaceFiles": list(namespace_files),
        "validate": [{"path": str(path), "kind": kind} for path, kind in validate],
        "executions": [{"name": e.name, "path": str(e.path), "inputs": e.inputs, "timeoutSeconds": e.timeout}
                       for e in executions],
    }
    spec_file, report_file = work_dir / "spec.json", work_dir / "report.json"
    spec_file.write_text(json.dumps(spec, indent=1), encoding="utf-8")
    classpath = CLASSPATH_FILE.read_text().strip() + os.pathsep + str(CLASSES_DIR)
    result = subprocess.run(
        [str(jdk / "bin" / "java"), "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "--enable-native-access=ALL-UNNAMED",
         "-cp", classpath,
         "kestra_model.Harness", str(spec_file), str(report_file), str(work_dir / "storage")],
        capture_output=True, text=True, timeout=300 + sum(e.timeout for e in executions), cwd=REPO_ROOT,
    )
    if result.returncode != 0 or not report_file.exists():
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
        raise RuntimeError(f"kestra_model harness failed (exit {result.returncode}):\n{tail}")
    return json.loads(report_file.read_text(encoding="utf-8"))
