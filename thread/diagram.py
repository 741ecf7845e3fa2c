"""Graph-shaped answers (a trace, a recall, a path) drawn as Mermaid or Graphviz DOT text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Diagram", "DiagramFormat", "render_diagram"]

DiagramFormat = Literal["mermaid", "dot"]


@dataclass
class Diagram:
    """Nodes by uid with a caption, and labelled directed edges between them."""

    nodes: dict[str, str] = field(default_factory=dict)
    edges: list[tuple[str, str, str]] = field(default_factory=list)

    def node(self, uid: str, caption: str) -> str:
        self.nodes.setdefault(uid, caption)
        return uid

    def edge(self, src: str, dst: str, caption: str) -> None:
        if (src, dst, caption) not in self.edges:
            self.edges.append((src, dst, caption))


_MERMAID_ENTITIES = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;"}


def _mermaid_text(text: str) -> str:
    """Text for a quoted Mermaid label: `#`, quotes and angle brackets as Mermaid's entity
    codes (`#quot;`, `#lt;`; `#35;` for `#` itself, so text that looks like a code stays
    text), newlines as line breaks."""
    escaped = "".join(_MERMAID_ENTITIES.get(c, c) for c in text.replace("\r\n", "\n"))
    return escaped.replace("\n", "<br/>")


def _dot_text(text: str) -> str:
    """Text for a double-quoted DOT string: a backslash doubled (it starts DOT's escapes),
    a quote as `\\"`, newlines as `\\n`. Angle brackets are plain text inside quotes (only
    a `<…>` label is HTML)."""
    text = text.replace("\r\n", "\n")
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_diagram(diagram: Diagram, fmt: DiagramFormat) -> str:
    """The diagram as Mermaid flowchart or DOT source (node ids are positional, captions quoted)."""
    ids = {uid: f"n{i}" for i, uid in enumerate(diagram.nodes)}
    if fmt == "mermaid":
        lines = ["flowchart LR"]
        lines += [
            f'    {ids[uid]}["{_mermaid_text(caption)}"]' for uid, caption in diagram.nodes.items()
        ]
        lines += [f'    {ids[s]} -->|"{_mermaid_text(c)}"| {ids[d]}' for s, d, c in diagram.edges]
        return "\n".join(lines) + "\n"
    lines = ["digraph thread {", "    rankdir=LR;", "    node [shape=box];"]
    lines += [
        f'    {ids[uid]} [label="{_dot_text(caption)}"];' for uid, caption in diagram.nodes.items()
    ]
    lines += [f'    {ids[s]} -> {ids[d]} [label="{_dot_text(c)}"];' for s, d, c in diagram.edges]
    return "\n".join([*lines, "}"]) + "\n"
