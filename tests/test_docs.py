"""The docs stay true: README.md and docs/*.md link only to what exists, and every command they show
names a real script, module, flag, pytest marker, Pulumi config key and stack output.

Commands are the lines of ```bash blocks and the inline code spans that start with a command
(`pulumi …`, `python …`, `scripts/… …`). Flags of the project's own scripts are checked against
their usage: `--help` for the Python ones (argparse), the header comment for the shell ones.
"""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
PAGES = [README, *sorted((REPO / "docs").glob("*.md"))]
README_MAX_LINES = 260

FENCE = re.compile(r"^\s*```")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
PYTHON = {"python", "python3", "./venv/bin/python", ".ci-venv/bin/python"}
# Top-level folders of the repository: a token starting with one of them names a path in it.
REPO_DIRS = ("scripts/", "tests/", "bench/", "kestra/", "infra/", "flows/", "policy/", "tools/", "data/", "docs/", ".ci/")


def _load_config_reference():
    loader = importlib.machinery.SourceFileLoader("config_reference", str(REPO / "scripts" / "config-reference"))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


config_reference = _load_config_reference()


# --- reading Markdown -----------------------------------------------------------------------

def split_markdown(text: str) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """(prose lines, [(fence language, block lines)]): headings and links live only in prose."""
    prose, blocks, block, lang = [], [], None, ""
    for line in text.splitlines():
        if FENCE.match(line):
            if block is None:
                block, lang = [], line.strip()[3:].strip()
            else:
                blocks.append((lang, block))
                block = None
            continue
        (prose if block is None else block).append(line)
    return prose, blocks


def github_anchor(heading: str) -> str:
    """GitHub's heading id: markup dropped, lower case, punctuation removed, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    prose, _ = split_markdown(path.read_text())
    seen: dict[str, int] = {}
    found = set()
    for line in prose:
        if m := HEADING.match(line):
            slug = github_anchor(m.group(2))
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            found.add(slug if n == 0 else f"{slug}-{n}")
    return found


def broken_links(path: Path, text: str | None = None) -> list[str]:
    """Relative links of the page at `path` whose file (or heading anchor) does not exist."""
    prose, _ = split_markdown(path.read_text() if text is None else text)
    problems = []
    for line in prose:
        for target in LINK.findall(INLINE_CODE.sub("", line)):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            dest = (path.parent / file_part).resolve() if file_part else path
            if not dest.exists():
                problems.append(f"{target}: no such file")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                problems.append(f"{target}: no heading #{anchor} in {dest.relative_to(REPO)}")
    return problems


def commands(text: str) -> list[str]:
    """The command lines of ```bash blocks (continuations joined) and command-like inline code."""
    prose, blocks = split_markdown(text)
    found = []
    for lang, block in blocks:
        if lang not in ("bash", "sh", "shell"):
            continue
        joined = "\n".join(block).replace("\\\n", " ")
        found += [line.strip() for line in joined.splitlines() if line.strip()]
    for line in prose:
        for _, span in INLINE_CODE.findall(line):
            if " " in span and re.match(r"^(pulumi|python3?|bash|\./venv/bin/python|scripts/|bench/|[A-Z_]+=)", span):
                found.append(span)
    return found


# --- what the repository offers --------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def usage(script: str) -> str:
    """The usage text of one of the project's commands: a module (`kestra.tour`) or a script path."""
    path = REPO / script
    if path.is_file() and not script.endswith(".py") and "python" not in path.read_text().split("\n", 1)[0]:
        header = []  # a shell script: its header comment is its usage (scripts/ci-stack prints it)
        for line in path.read_text().splitlines()[1:]:
            if not line.startswith("#"):
                break
            header.append(line)
        return "\n".join(header)
    cmd = [sys.executable, script, "--help"] if path.is_file() else [sys.executable, "-m", script, "--help"]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    return done.stdout + done.stderr


def flags_taking_values(help_text: str) -> dict[str, set[str] | None]:
    """--flag -> its choices ({a,b} metavar), or None for any value; only flags shown with a metavar."""
    out: dict[str, set[str] | None] = {}
    for flag, metavar in re.findall(r"(--[\w-]+)[ =](\{[^}]*\}|[A-Z][^\s,\]]*)", help_text):
        out[flag] = set(metavar.strip("{}").split(",")) if metavar.startswith("{") else None
    return out


@functools.lru_cache(maxsize=None)
def config_keys() -> set[str]:
    text = (REPO / "Pulumi.yaml").read_text()
    undeclared = config_reference.documented_in_comments(text)
    # gcp:project and gcp:region are the gcp provider's keys, read by infra/config.py.
    return set(yaml.safe_load(text)["config"]) | set(undeclared["secrets"]) | set(undeclared["policy"]) | {
        "gcp:project", "gcp:region"}


@functools.lru_cache(maxsize=None)
def stack_outputs() -> set[str]:
    return set(re.findall(r"pulumi\.export\(\s*\"(\w+)\"", (REPO / "__main__.py").read_text()))


@functools.lru_cache(maxsize=None)
def pytest_markers() -> set[str]:
    ini = (REPO / "pytest.ini").read_text()
    block = ini.split("markers =", 1)[1]
    return set(re.findall(r"^\s+(\w+):", block, flags=re.M))


@functools.lru_cache(maxsize=None)
def sources_of_tests() -> str:
    # This file names made-up selections on purpose: it is not a test a -k could select by them.
    return "\n".join(p.read_text() for p in (REPO / "tests").rglob("*.py") if p != Path(__file__).resolve())


@functools.lru_cache(maxsize=None)
def tour_phases() -> set[str]:
    listing = subprocess.run([sys.executable, "-m", "kestra.tour", "--list"], cwd=REPO, capture_output=True,
                             text=True, timeout=120).stdout
    return set(re.findall(r"^(\S+)\s", listing, flags=re.M))


# --- checking one command ---------------------------------------------------------------------

def _is_placeholder(token: str) -> bool:
    return bool(re.fullmatch(r"[A-Z][A-Z0-9_]*|.*….*|<.*>", token))


def _check_args(script: str, args: list[str], problems: list[str]) -> None:
    """Flags of one of the project's commands against its usage; plain words must appear in it."""
    text = usage(script)
    takes = flags_taking_values(text)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("-") and arg != "-":
            flag = arg.split("=", 1)[0]
            if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text):
                problems.append(f"{script}: unknown flag {flag}")
            elif flag in takes and "=" not in arg and i + 1 < len(args):
                value, choices = args[i + 1], takes[flag]
                if choices is not None and value not in choices:
                    problems.append(f"{script}: {flag} {value} is not one of {sorted(choices)}")
                if script == "kestra.tour" and flag == "--phase" and not _is_placeholder(value) \
                        and value not in tour_phases():
                    problems.append(f"kestra.tour: no phase {value}")
                i += 1
        elif re.fullmatch(r"[a-z][a-z-]*", arg) and not (REPO / arg).exists():
            if not re.search(rf"(?<![\w-]){re.escape(arg)}(?![\w-])", text):
                problems.append(f"{script}: {arg} is not in its usage")
        i += 1


def _check_pytest(args: list[str], problems: list[str]) -> None:
    for opt, expr in zip(args, args[1:]):
        words = [w for w in re.findall(r"[\w-]+", expr) if w not in ("and", "or", "not")]
        if opt == "-m":
            problems += [f"pytest: no marker {w} in pytest.ini" for w in words if w not in pytest_markers()]
        elif opt == "-k":
            problems += [f"pytest: -k {w} selects no test" for w in words if w not in sources_of_tests()]


def _check_pulumi(args: list[str], problems: list[str]) -> None:
    words = [a for a in args if not a.startswith("-")]
    if words[:2] in (["config", "set"], ["config", "rm"]) and len(words) > 2:
        key = re.split(r"[.\[]", words[2], maxsplit=1)[0]
        if not _is_placeholder(key) and key not in config_keys():
            problems.append(f"pulumi config: {key} is not a config key of Pulumi.yaml")
    if words[:2] == ["stack", "output"] and len(words) > 2 and words[2] not in stack_outputs():
        problems.append(f"pulumi stack output: {words[2]} is not an output of __main__.py")
    if "--policy-pack" in args:
        pack = args[args.index("--policy-pack") + 1]
        if not (REPO / pack / "PulumiPolicy.yaml").exists():
            problems.append(f"pulumi: --policy-pack {pack} is no policy pack")


def check_simple_command(tokens: list[str]) -> list[str]:
    problems: list[str] = []
    while tokens and re.match(r"^[A-Za-z_]\w*=", tokens[0]):  # VAR=value prefixes
        tokens = tokens[1:]
    if not tokens:
        return problems
    for token in tokens:
        if token.startswith(REPO_DIRS) and not _is_placeholder(token):
            if not (REPO / token.rstrip("/")).exists():
                problems.append(f"{token}: no such file in the repository")
    head, args = tokens[0], tokens[1:]
    if head == "bash" and args:
        head, args = args[0], args[1:]
    if head == "pulumi":
        _check_pulumi(args, problems)
    elif head in PYTHON and args:
        if args[0] == "-m" and len(args) > 1:
            module, rest = args[1], args[2:]
            if module == "pytest":
                _check_pytest(rest, problems)
            elif module.startswith(("kestra.", "tests.", "bench.", "policy.")):
                if not (REPO / (module.replace(".", "/") + ".py")).exists():
                    problems.append(f"python -m {module}: no such module in the repository")
                else:
                    _check_args(module, rest, problems)
        elif (REPO / args[0]).is_file():
            _check_args(args[0], args[1:], problems)
    elif head.startswith(REPO_DIRS):
        if (REPO / head).is_file():
            _check_args(head, args, problems)
    return problems


def check_command(line: str) -> list[str]:
    """Problems with one documented command line: each simple command and `$(…)` in it is checked."""
    problems: list[str] = []
    while m := re.search(r"\$\(([^()]*)\)", line):
        problems += check_command(m.group(1))
        line = line[:m.start()] + "SUBSTITUTED" + line[m.end():]
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|<>")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    simple: list[str] = []
    for token in [*lexer, ";"]:
        if token and set(token) <= set(";&|<>"):
            problems += check_simple_command(simple)
            simple = []
            if token in (">", "<"):
                simple = ["<redirect>"]  # the next word is a file name, not a command
        elif simple == ["<redirect>"]:
            simple = []
        else:
            simple.append(token)
    return problems


# --- the tests ------------------------------------------------------------------------------

def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def test_readme_is_short():
    lines = README.read_text().count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail to docs/ (at most {README_MAX_LINES})"


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_every_relative_link_resolves(page):
    assert broken_links(page) == []


def test_readme_links_every_docs_page():
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in LINK.findall(README.read_text())}
    missing = [_rel(p) for p in PAGES[1:] if p.resolve() not in linked]
    assert not missing, f"README.md does not link {missing}"


def test_readme_answers_the_newcomers_questions_in_one_click():
    readme = README.read_text()
    for page in ("docs/gke.md", "docs/keeping-data.md", "docs/testing.md"):
        assert f"]({page}" in readme, f"README.md links no {page}"


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_every_command_names_real_scripts_flags_markers_and_keys(page):
    problems = [f"{cmd!r}: {p}" for cmd in commands(page.read_text()) for p in check_command(cmd)]
    assert problems == []


def test_configuration_reference_is_generated_from_pulumi_yaml():
    done = subprocess.run([sys.executable, "scripts/config-reference", "--check"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_configuration_reference_documents_every_key():
    page = (REPO / "docs" / "configuration.md").read_text()
    missing = sorted(k for k in config_keys() if f"`{k}`" not in page)
    assert not missing, f"docs/configuration.md lacks {missing}"


def test_readme_outputs_table_lists_exactly_the_stack_outputs():
    text = README.read_text()
    start = text.index("\n## Stack outputs")
    section = text[start:text.find("\n## ", start + 1)]
    table = {name for row in section.splitlines() if row.startswith("| `")
             for name in re.findall(r"`(\w+)`", row.split("|")[1])}
    assert table == stack_outputs()


# --- the checks themselves fail on what they are for ----------------------------------------

def test_a_broken_link_or_anchor_is_reported():
    page = REPO / "docs" / "gke.md"
    text = "[a](missing.md) [b](keeping-data.md#no-such-heading) [c](keeping-data.md#on-gke) [d](#prerequisites)"
    assert broken_links(page, text) == ["missing.md: no such file",
                                        "keeping-data.md#no-such-heading: no heading #no-such-heading in docs/keeping-data.md"]


@pytest.mark.parametrize("line, problem", [
    ("python -m kestra.smoke --stack-output - --no-such-flag", "kestra.smoke: unknown flag --no-such-flag"),
    ("pulumi stack output --json | python -m kestra.tour --phase no-such-phase", "kestra.tour: no phase no-such-phase"),
    ("scripts/install-tools --fast", "scripts/install-tools: unknown flag --fast"),
    ("scripts/ci-stack deploy", "scripts/ci-stack: deploy is not in its usage"),
    ("scripts/no-such-script --check", "scripts/no-such-script: no such file in the repository"),
    ("python bench/policy_bench.py --profiles cloud", "bench/policy_bench.py: --profiles cloud is not one of ['external', 'gcp', 'gke', 'local']"),
    ("python -m pytest -m engines", "pytest: no marker engines in pytest.ini"),
    ("python -m pytest -m engine -k no_test_is_called_this", "pytest: -k no_test_is_called_this selects no test"),
    ("pulumi config set keepdata true && pulumi up", "pulumi config: keepdata is not a config key of Pulumi.yaml"),
    ("KESTRA_URL=$(pulumi stack output kestraURL) python -m pytest -m integration",
     "pulumi stack output: kestraURL is not an output of __main__.py"),
    ("python -m kestra.nothing", "python -m kestra.nothing: no such module in the repository"),
])
def test_a_wrong_command_is_reported(line, problem):
    assert check_command(line) == [problem]


def test_a_right_command_passes():
    assert check_command("pulumi config set --path 'policyExceptions[\"no-public-members\"]' 'why' "
                         "&& pulumi stack output --json --show-secrets | python -m kestra.tour --stack-output - --phase java") == []
