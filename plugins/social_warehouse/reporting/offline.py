"""Make a GX Data Docs site render without network.

Data Docs pages reference jQuery, Bootstrap, bootstrap-table, Font Awesome, Vega and a logo on
CDNs, and fill their main tables with JavaScript. The installed great_expectations package
ships only its own stylesheet, fonts and images (``render/view/static``), not those
libraries, so they cannot be vendored from it. Instead every page is rewritten:

* every ``<script src=http...>`` and ``<link href=http...>`` is removed (no request leaves the
  machine, nothing waits for a timeout);
* the package's own ``offline.css`` and ``offline.js`` (a small dependency-free implementation of
  the jQuery/bootstrap-table/Bootstrap calls the pages make, see that file) are inlined into
  ``<head>``, so each page is self-contained and works from ``file://``;
* images and CSS ``url()`` pointing at GX's web-assets bucket are pointed at the site's own
  ``static/images`` copy (the logo) or dropped.

Then the site's ``static/`` folder, which GX copies whole on every build (4 MB of fonts,
tutorial GIFs and stylesheets the pages inline anyway), is pruned to the files a page still
references (the logo and the favicon, about 80 KB), so keeping Data Docs per run stays cheap.

The rewrite is idempotent (pages carry a marker) and is re-run after every docs build.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["make_offline", "external_references", "MARKER"]

MARKER = "<!-- sw-offline -->"
_ASSETS = Path(__file__).resolve().parent / "assets"
_SCRIPT_SRC = re.compile(
    r"<script\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//[^>]*>\s*</script\s*>", re.I | re.S)
_LINK_HREF = re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']?(?:https?:)?//[^>]*>", re.I | re.S)
_IMG_REMOTE = re.compile(r"(<img\b[^>]*\bsrc\s*=\s*[\"'])(https?://[^\"']+)([\"'])", re.I | re.S)
_CSS_URL_REMOTE = re.compile(r"url\(\s*['\"]?https?://[^)]*\)", re.I)
_REMOTE_REF = re.compile(
    r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*[\"']?((?:https?:)?//[^\"'\s>]+)",
    re.I | re.S,
)


def _relative_static(page: Path, site: Path) -> str:
    rel = os.path.relpath(site / "static" / "images", page.parent)
    return rel.replace(os.sep, "/")


def _rewrite(html: str, page: Path, site: Path, css: str, js: str) -> str:
    if MARKER in html:
        return html
    html = _SCRIPT_SRC.sub("", html)
    html = _LINK_HREF.sub("", html)

    def local_image(m: re.Match) -> str:
        url = m.group(2)
        name = url.split("?", 1)[0].rsplit("/", 1)[-1]
        local = site / "static" / "images" / name
        if local.is_file():
            return f"{m.group(1)}{_relative_static(page, site)}/{name}{m.group(3)}"
        return f"{m.group(1)}data:,{m.group(3)}"

    html = _IMG_REMOTE.sub(local_image, html)
    html = _CSS_URL_REMOTE.sub("none", html)
    inject = f"{MARKER}\n<style>\n{css}\n</style>\n<script>\n{js}\n</script>\n"
    head = re.search(r"<head\b[^>]*>", html, re.I)
    if head:
        return html[: head.end()] + "\n" + inject + html[head.end():]
    return inject + html


def make_offline(site_dir: Path, *, prune_static: bool = True) -> int:
    """Rewrite every page of the Data Docs site at ``site_dir``; return how many changed."""
    site = Path(site_dir)
    css = (_ASSETS / "offline.css").read_text(encoding="utf-8")
    js = (_ASSETS / "offline.js").read_text(encoding="utf-8")
    changed = 0
    for page in sorted(site.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        new = _rewrite(text, page, site, css, js)
        if new != text:
            page.write_text(new, encoding="utf-8")
            changed += 1
    for sheet in sorted(site.rglob("*.css")):
        text = sheet.read_text(encoding="utf-8")
        new = _CSS_URL_REMOTE.sub("none", text)
        if new != text:
            sheet.write_text(new, encoding="utf-8")
    if prune_static:
        _prune_static(site)
    return changed


def _prune_static(site: Path) -> None:
    """Delete files under ``site/static`` that no page or stylesheet references."""
    static = site / "static"
    if not static.is_dir():
        return
    used: set[Path] = set()
    ref = re.compile(r"""(?:src|href)\s*=\s*["']([^"'#?]+)|url\(\s*['"]?([^)'"?#]+)""", re.I)
    for doc in list(site.rglob("*.html")) + list(site.rglob("*.css")):
        for m in ref.finditer(doc.read_text(encoding="utf-8")):
            target = m.group(1) or m.group(2)
            if "://" in target or target.startswith(("data:", "//")):
                continue
            used.add((doc.parent / target).resolve())
    for file in sorted(static.rglob("*"), reverse=True):
        if file.is_file() and file.resolve() not in used:
            file.unlink()
        elif file.is_dir() and not any(file.iterdir()):
            file.rmdir()


def external_references(html: str) -> list[str]:
    """Remote resources a page would load (scripts, stylesheets, images, frames)."""
    refs = [m.group(1) for m in _REMOTE_REF.finditer(html)]
    refs += re.findall(r"url\(\s*['\"]?((?:https?:)?//[^)'\"]+)", html, re.I)
    return refs
