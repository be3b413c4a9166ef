"""Filter templates turned inside out: from "the entries matching one value" to "every entry".

A login searches with a configured template whose placeholders (``{username}``, ``{dn}``,
``{uid}``) are filled with one value. Reading the whole directory instead asks the server for
every entry the template could match for *some* value (each placeholder assertion becomes a
presence test, ``(member={dn})`` -> ``(member=*)``; everything else is kept and checked by the
server), and then decides in memory which value an entry matches (the DN or uid is one of the
entry's values of the asserted attributes).

That is exact when the placeholder assertions form one disjunction that the rest of the filter
ANDs with: ``(member={dn})``, ``(|(member={dn})(uniqueMember={dn}))``,
``(&(objectClass=posixGroup)(memberUid={uid}))``. Other shapes (a placeholder under a NOT, or
ORed with a fixed condition) cannot be split that way and are refused with
:class:`UnsupportedTemplate`, never read approximately.
"""

from __future__ import annotations

from dataclasses import dataclass

IN_CHAIN_RULE = "1.2.840.113556.1.4.1941"  # AD's LDAP_MATCHING_RULE_IN_CHAIN


class UnsupportedTemplate(ValueError):
    """A filter template the whole-directory reader cannot evaluate exactly."""


@dataclass(frozen=True)
class Assertion:
    """``attribute`` holds the placeholder's value (transitively through groups when ``chain``)."""

    attribute: str
    placeholder: str
    chain: bool = False


@dataclass(frozen=True)
class SplitTemplate:
    """``every_filter`` selects every entry the template can match for some value; an entry
    selected by it matches a given value when any of ``assertions`` holds for that value."""

    every_filter: str
    assertions: tuple[Assertion, ...]

    @property
    def attributes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a.attribute for a in self.assertions))


@dataclass(frozen=True)
class _Node:
    kind: str  # "&", "|", "!" or "item"
    text: str  # the filter text of this node, parentheses included
    children: tuple[_Node, ...] = ()
    assertion: Assertion | None = None


def split_template(template: str, placeholders: tuple[str, ...]) -> SplitTemplate:
    """The template split into a server part and an in-memory part (see the module doc).
    Raises UnsupportedTemplate for a shape that cannot be split exactly."""
    text = template.strip()
    if not text.startswith("("):
        text = f"({text})"  # RFC 4515 wants the parentheses; ldap3 accepts a bare item too
    node, end = _parse(text, 0, placeholders)
    if end != len(text):
        raise UnsupportedTemplate(f"unexpected text after the filter in {template!r}")
    every, assertions = _split(node, template)
    if not assertions:
        raise UnsupportedTemplate(f"{template!r} has no placeholder among {', '.join(placeholders)}")
    return SplitTemplate(every, assertions)


def _split(node: _Node, template: str) -> tuple[str, tuple[Assertion, ...]]:
    disjunction = _disjunction(node)
    if disjunction is not None:
        return _presence(disjunction), disjunction
    if node.kind == "&":
        fixed, found = [], None
        for child in _flatten_and(node):
            part = _disjunction(child)
            if part is None and _has_placeholder(child):
                raise UnsupportedTemplate(f"{template!r}: a placeholder sits where it cannot be split")
            if part is None:
                fixed.append(child.text)
            elif found is not None:
                raise UnsupportedTemplate(f"{template!r}: placeholders in more than one AND branch")
            else:
                found = part
        if found is not None:
            return f"(&{''.join(fixed)}{_presence(found)})", found
        return node.text, ()
    if _has_placeholder(node):
        raise UnsupportedTemplate(f"{template!r}: a placeholder sits where it cannot be split")
    return node.text, ()


def _disjunction(node: _Node) -> tuple[Assertion, ...] | None:
    """The assertions when ``node`` is a placeholder assertion or an OR of only those."""
    if node.assertion is not None:
        return (node.assertion,)
    if node.kind == "|" and node.children:
        parts = [_disjunction(child) for child in node.children]
        if all(part is not None for part in parts):
            return tuple(a for part in parts for a in part)  # type: ignore[union-attr]
    return None


def _flatten_and(node: _Node) -> list[_Node]:
    return [
        leaf for child in node.children for leaf in (_flatten_and(child) if child.kind == "&" else [child])
    ]


def _has_placeholder(node: _Node) -> bool:
    return node.assertion is not None or any(_has_placeholder(child) for child in node.children)


def _presence(assertions: tuple[Assertion, ...]) -> str:
    tests = "".join(dict.fromkeys(f"({a.attribute}=*)" for a in assertions))
    return tests if tests.count("(") == 1 else f"(|{tests})"


def _parse(text: str, start: int, placeholders: tuple[str, ...]) -> tuple[_Node, int]:
    if start >= len(text) or text[start] != "(":
        raise UnsupportedTemplate(f"expected '(' at {start} in {text!r}")
    position = start + 1
    if position < len(text) and text[position] in "&|!":
        kind, position = text[position], position + 1
        children = []
        while position < len(text) and text[position] == "(":
            child, position = _parse(text, position, placeholders)
            children.append(child)
        if position >= len(text) or text[position] != ")" or (kind == "!" and len(children) != 1):
            raise UnsupportedTemplate(f"malformed {kind} at {start} in {text!r}")
        return _Node(kind, text[start : position + 1], tuple(children)), position + 1
    end = text.find(")", position)  # values escape ')' as \29, so the first one closes the item
    if end < 0:
        raise UnsupportedTemplate(f"unclosed item at {start} in {text!r}")
    item = text[position:end]
    return _Node("item", text[start : end + 1], assertion=_assertion(item, placeholders)), end + 1


def _assertion(item: str, placeholders: tuple[str, ...]) -> Assertion | None:
    """The placeholder assertion an item is (``attr={name}`` or ``attr:in-chain:={name}``),
    None for an item without a placeholder; a placeholder used any other way is refused."""
    used = [name for name in placeholders if "{" + name + "}" in item]
    if not used:
        return None
    left, equals, value = item.partition("=")
    name = value[1:-1] if value.startswith("{") and value.endswith("}") else None
    if not equals or name not in placeholders or len(used) != 1 or left.endswith(("~", ">", "<")):
        raise UnsupportedTemplate(f"({item}): only attribute={{placeholder}} can be read in bulk")
    if ":" not in left:
        return Assertion(left.strip(), name)
    attribute, _, rule = left.partition(":")
    if rule.rstrip(":") != IN_CHAIN_RULE or not attribute:
        raise UnsupportedTemplate(f"({item}): no matching rule but in-chain can be read in bulk")
    return Assertion(attribute.strip(), name, chain=True)
