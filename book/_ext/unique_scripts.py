"""Sphinx extension: drop a page's repeated inline scripts.

jupyter-book 1 with sphinx-thebe adds the inline ``const THEBE_JS_URL = ...`` script twice, and
the second copy is a JavaScript error in every browser ("Identifier 'THEBE_JS_URL' has already
been declared"). Identical scripts are identical work, so keeping the first copy is safe.
"""

from __future__ import annotations


def _unique_scripts(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for script in context.get("script_files", []):
        key = (script.filename or "", tuple(sorted(script.attributes.items())))  # None and "" alike
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _unique_scripts, priority=10_000)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
