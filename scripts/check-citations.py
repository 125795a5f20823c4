#!/usr/bin/env python3
"""Check that every section citation in the sources points at a heading that exists.

    python3 scripts/check-citations.py              # scans include/
    python3 scripts/check-citations.py include tests examples

A citation is "§N" or "§N.M" (also a range "§2.4–2.5", both ends checked). It refers to the
document named right before it ("reference-model.md §5.2", "docs/style.md §3", "reference-model §4.5"),
to the same document as the citation it continues ("reference-model.md §2.3 and §9.1"), and otherwise
to docs/reference-model.md. It resolves when that document has a Markdown heading numbered N or N.M
("## 5. Stage 2 ...", "### 5.2 Tokenizer changes").

A citation by title ('architecture.md, "The public API"') resolves when the named document has a
heading containing that title.

Comment markers at the start of a line (//, ///, #, *) are ignored, so a citation broken across two
comment lines is still read as one. Prints every dangling citation as path:line, then a one-line
summary; exits 1 when any citation dangles.
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
DEFAULT_DOC = "reference-model.md"
SOURCE_SUFFIXES = {".hpp", ".h", ".cpp", ".cc", ".cuh", ".cu", ".py", ".sh", ".md", ".txt", ".cmake"}

NUMBER = r"\d+(?:\.\d+)*"
CITATION = re.compile(rf"§\s?({NUMBER})(?:\s?[–-]\s?({NUMBER}))?")
# A document name right before a citation: "reference-model.md §", "docs/style.md, §", "reference-model §".
DOC_BEFORE = re.compile(r"((?:docs/)?[A-Za-z0-9_-]+\.md|reference-model)[\s,:]*$")
# What may separate two citations of one list: "§2.3 and §9.1", "§4.5, §5.7, §6.4".
CONTINUATION = re.compile(r"^[\s,;/]*(?:and|or|&|to)?[\s,;/]*$")
TITLE_CITATION = re.compile(r'((?:docs/)?[A-Za-z0-9_-]+\.md)[\s,:]*["“]([^"”\n]{3,80})["”]')
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
HEADING_NUMBER = re.compile(rf"^({NUMBER})\.?(?:\s|$)")
COMMENT_PREFIX = re.compile(r"^([ \t]*)(///?|//!|#+|\*+|/\*+|--)")


def blank_comment_markers(text):
    """The text with leading comment markers turned into spaces (offsets and lines unchanged)."""
    out = []
    for line in text.split("\n"):
        m = COMMENT_PREFIX.match(line)
        if m:
            line = m.group(1) + " " * len(m.group(2)) + line[m.end():]
        out.append(line)
    return "\n".join(out)


class Doc:
    def __init__(self, path):
        self.path = path
        self.exists = path.is_file()
        self.numbers = set()
        self.titles = []
        if not self.exists:
            return
        in_fence = False
        for line in path.read_text(encoding="utf-8").split("\n"):
            if line.lstrip().startswith("```"):
                in_fence = not in_fence
                continue
            m = None if in_fence else HEADING.match(line)
            if not m:
                continue
            title = m.group(2)
            self.titles.append(title.lower())
            n = HEADING_NUMBER.match(title)
            if n:
                self.numbers.add(n.group(1))


def doc_for(name, cache):
    name = name.removeprefix("docs/")
    if not name.endswith(".md"):
        name += ".md"
    if name not in cache:
        cache[name] = Doc(DOCS / name)
    return name, cache[name]


def expand_range(first, last):
    """'2.4', '2.5' -> both; '2.4', '5' -> '2.4', '2.5' (the end keeps the start's prefix)."""
    if last is None:
        return [first]
    if "." in first and "." not in last:
        last = first.rsplit(".", 1)[0] + "." + last
    return [first, last]


def check_file(path, docs, dangling):
    try:
        raw = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return 0
    if "§" not in raw and ".md" not in raw:
        return 0
    text = blank_comment_markers(raw)
    rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    count = 0

    def line_of(offset):
        return text.count("\n", 0, offset) + 1

    prev_end, prev_doc = None, None
    for m in CITATION.finditer(text):
        before = text[max(0, m.start() - 60):m.start()]
        named = DOC_BEFORE.search(before)
        if named:
            doc_name = named.group(1)
        elif prev_end is not None and CONTINUATION.match(text[prev_end:m.start()]):
            doc_name = prev_doc
        else:
            doc_name = DEFAULT_DOC
        doc_name, doc = doc_for(doc_name, docs)
        for number in expand_range(m.group(1), m.group(2)):
            count += 1
            if not doc.exists:
                dangling.append(f"{rel}:{line_of(m.start())}: {m.group(0)} -> docs/{doc_name} does not exist")
            elif number not in doc.numbers:
                dangling.append(f"{rel}:{line_of(m.start())}: {m.group(0)} -> docs/{doc_name} has no heading §{number}")
        prev_end, prev_doc = m.end(), doc_name

    for m in TITLE_CITATION.finditer(text):
        doc_name, doc = doc_for(m.group(1), docs)
        title = m.group(2).strip()
        count += 1
        if not doc.exists:
            dangling.append(f'{rel}:{line_of(m.start())}: "{title}" -> docs/{doc_name} does not exist')
        elif not any(title.lower() in t for t in doc.titles):
            dangling.append(f'{rel}:{line_of(m.start())}: "{title}" -> docs/{doc_name} has no heading with that title')
    return count


def main(argv):
    roots = [ROOT / a for a in argv] if argv else [ROOT / "include"]
    docs, dangling = {}, []
    files = citations = 0
    for root in roots:
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in paths:
            if path.suffix not in SOURCE_SUFFIXES:
                continue
            n = check_file(path, docs, dangling)
            if n:
                files += 1
                citations += n
    for d in dangling:
        print(d)
    where = ", ".join(str(r.relative_to(ROOT)) if r.is_relative_to(ROOT) else str(r) for r in roots)
    print(f"check-citations: {citations} citations in {files} files under {where}; "
          f"{len(dangling)} dangling")
    return 1 if dangling else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
