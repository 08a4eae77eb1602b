"""The README and the docs site: short README, generated references in sync, nothing of the old README lost."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO
from tests.docblocks import blocks, for_lab

DOCS = REPO / "docs"
OLD_README = "b5d2671"  # the last commit with the one-page README
# Python-Markdown extensions of mkdocs.yml that decide a page's heading ids
ANCHOR_EXTENSIONS = ["toc", "attr_list", "admonition", "tables", "pymdownx.superfences", "pymdownx.details"]


def _anchors(page: Path) -> set[str]:
    markdown = pytest.importorskip("markdown")
    md = markdown.Markdown(extensions=ANCHOR_EXTENSIONS)
    md.convert(page.read_text(encoding="utf-8"))
    out: set[str] = set()

    def walk(tokens: list[dict[str, Any]]) -> None:
        for t in tokens:
            out.add(t["id"])
            walk(t["children"])

    walk(md.toc_tokens)  # type: ignore[attr-defined]
    return out


def test_the_generated_references_match_the_code() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "tools" / "gen_cli_docs.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr


def test_the_config_reference_names_every_key_of_the_models() -> None:
    sys.path.insert(0, str(REPO / "tools"))
    try:
        import gen_cli_docs
    finally:
        sys.path.pop(0)
    text = (DOCS / "reference" / "configuration.md").read_text(encoding="utf-8")
    keys = [k for k, _ in gen_cli_docs.config_keys()]
    assert "network.ssh_workers" in keys and "credentials.vault_password_env" in keys
    for key in keys:
        assert f"| `{key}` |" in text, key


def test_readme_opens_with_the_two_fresh_machine_commands() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    first_block = text[text.index("```") : text.index("```", text.index("```") + 3)]
    assert "make demo" in first_block and "make test" in first_block
    makefile = (REPO / "Makefile").read_text()
    assert "demo:" in makefile and "test:" in makefile
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_readme_is_short_and_its_links_lead_somewhere() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    assert "Apache-2.0" in text
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if not link.startswith(("http://", "https://", "mailto:"))]
    assert any(link.startswith("docs/") for link in local)
    for link in local:
        assert (REPO / link).exists(), link


def test_every_heading_of_the_old_readme_has_a_home() -> None:
    entries = yaml.safe_load((DOCS / "_moved.yml").read_text(encoding="utf-8"))
    assert len(entries) == 109
    anchors: dict[str, set[str]] = {}
    for e in entries:
        page, _, anchor = e["moved_to"].partition("#")
        assert (DOCS / page).is_file(), e
        if anchor:
            if page not in anchors:
                anchors[page] = _anchors(DOCS / page)
            assert anchor in anchors[page], e
    old = subprocess.run(
        ["git", "show", f"{OLD_README}:README.md"], capture_output=True, text=True, cwd=REPO, check=False
    )
    if old.returncode == 0:  # a shallow clone may not have the commit
        heads = [(n, line) for n, line in enumerate(old.stdout.split("\n"), 1) if re.match(r"^#+ ", line)]
        assert heads == [(e["line"], e["heading"]) for e in entries]


def test_every_page_is_in_the_nav_and_every_nav_entry_exists() -> None:
    config = yaml.load((REPO / "mkdocs.yml").read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, str):
            found.append(node)
        elif isinstance(node, list):
            for n in node:
                walk(n)
        elif isinstance(node, dict):
            for v in node.values():
                walk(v)

    walk(config["nav"])
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert set(found) <= pages, set(found) - pages
    assert pages <= set(found), f"pages missing from mkdocs.yml's nav: {sorted(pages - set(found))}"
    assert config["theme"]["font"] == "false"  # offline build: no Google fonts


def test_getting_started_runs_the_main_jobs_against_the_lab() -> None:
    found = blocks(DOCS / "getting-started.md")
    by_lab = {lab: " ".join(c.text for b in found if b.lab == lab for c in b.commands) for lab in ("extranet", "cloud")}
    assert "govops net audit" in by_lab["extranet"]
    assert "govops cloud vm create" in by_lab["cloud"] and "govops cloud vm delete" in by_lab["cloud"]
    assert "govops capacity show" in by_lab["cloud"] and "report capacity" in by_lab["cloud"]


def test_doc_blocks_parse_commands_comments_and_allowed_exit_codes(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text(
        "text\n\n<!-- test: extranet -->\n```sh\n"
        "govops net audit --limit 2   # exit 3: findings\n"
        "govops net runs              # newest first, exit 2 on a bad store\n"
        'echo "a # b" \\\n  --x   # exit 3 too\n'
        "\n```\n\n```sh\ngovops lab down\n```\n",
        encoding="utf-8",
    )
    (block,) = blocks(page)
    assert block.lab == "extranet"
    assert [(c.text, sorted(c.allowed)) for c in block.commands] == [
        ("govops net audit --limit 2", [0, 3]),
        ("govops net runs", [0]),
        ('echo "a # b"    --x', [0, 3]),
    ]
    assert [c.line for c in block.commands] == [5, 6, 7]


def test_doc_blocks_never_start_or_stop_the_test_lab() -> None:
    lab = Path("/tmp/the lab")
    assert for_lab("govops lab up --extranet --devices 60", lab) == "govops lab status --dir '/tmp/the lab'"
    assert for_lab("govops lab down", lab) == "govops lab status --dir '/tmp/the lab'"
    assert for_lab("govops lab install --cloud", lab) == "govops lab status --dir '/tmp/the lab'"
    assert for_lab('eval "$(govops lab env)"', lab) == "eval \"$(govops lab env --dir '/tmp/the lab')\""
    assert for_lab("govops net audit", lab) == "govops net audit"


def test_a_marker_without_a_shell_block_is_refused(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text("<!-- test: cloud -->\n```console\n$ govops\n```\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"p\.md:1"):
        blocks(page)


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(tmp_path / "site")],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "site" / "reference" / "cli.html").is_file()


def _shell_commands(page: Path) -> list[str]:
    from tests.docblocks import _split_comment

    text = page.read_text(encoding="utf-8")
    out = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        for line in block.split("\n"):
            code = _split_comment(line)[0].strip()
            if code:
                out.append(code)
    return out


def test_the_chinese_getting_started_runs_the_same_commands_as_the_tested_english_one() -> None:
    english = _shell_commands(DOCS / "getting-started.md")
    assert len(english) > 15
    assert _shell_commands(DOCS / "zh" / "getting-started.md") == english


@pytest.mark.parametrize(
    ("page", "first_key"),
    [
        ("reference/configuration.md", "version: 1"),
        ("guides/managers/capacity.md", "prometheus:"),
        ("guides/network/writing-rules.md", "# govops.yaml"),
    ],
)
def test_the_config_examples_in_the_docs_are_valid_configs(page: str, first_key: str) -> None:
    from govops.config import GovopsConfig

    text = (DOCS / page).read_text(encoding="utf-8")
    examples = [b for b in re.findall(r"```yaml\n(.*?)```", text, flags=re.S) if b.startswith(first_key)]
    assert examples, f"{page}: no govops.yaml example starting with {first_key!r}"
    GovopsConfig.model_validate(yaml.safe_load(examples[0]))
