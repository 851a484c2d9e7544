"""Issues are written in Markdown: the same text is the HTML of the archive and of emails,
sanitised to what Markdown makes (no script, style, frame or event handler, whatever the
text holds), and the plain-text part of emails as written."""

from __future__ import annotations

import markdown
import nh3
from markupsafe import Markup

# The tags and attributes Markdown makes; nh3 drops the rest, and every unsafe URL.
TAGS = {
    *("p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "code"),
    *("ul", "ol", "li", "em", "strong", "a", "table", "thead", "tbody", "tr", "th", "td"),
}
ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}}


def to_html(text: str) -> Markup:
    """The Markdown `text` as safe HTML."""
    html = markdown.markdown(text, extensions=["tables", "sane_lists"], output_format="html")
    return Markup(nh3.clean(html, tags=TAGS, attributes=ATTRIBUTES, link_rel="noopener nofollow"))  # noqa: S704  # nh3 has sanitised it
