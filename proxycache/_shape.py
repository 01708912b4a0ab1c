"""The key's layout for a signature: which parameters make the key, and the source that builds it.

``shape_of`` reads a signature once (cached per signature and options) and
gives a ``Shape``: the parameters the generated function declares, the key
expression over them, the ``key_attrs`` lines, and the defaults it binds.
``_codegen`` composes the cached callable from it.
"""

from __future__ import annotations

import inspect
import keyword
import textwrap
from typing import Any

_P = inspect.Parameter


class Shape:
    """What the generated source depends on (a plain class: a dataclass costs at import)."""

    __slots__ = (
        "argt",
        "attr_names",
        "attr_reads",
        "built",
        "call",
        "defaults",
        "guard",
        "key",
        "key_names",
        "kwd",
        "params",
        "postlude",
        "prelude",
        "source_key",
    )

    def __init__(
        self,
        *,
        params: str,
        call: str,
        argt: str,
        kwd: str,
        key_names: tuple[str, ...],
        key: str,
        guard: str,
        defaults: tuple[tuple[str, Any], ...],
        attrs: tuple[str, str, tuple[str, ...], str] = ("", "", (), ""),
    ) -> None:
        #: Source text of the parameter list, e.g. ``"a, b=_pc_d1, *, c"``.
        self.params = params
        #: Source of the forwarded call arguments, e.g. ``"a, b, c=c"``.
        self.call = call
        #: Source of positional and keyword argument containers for the miss path.
        self.argt = argt
        self.kwd = kwd
        #: Names of the parameters that make the key, in order.
        self.key_names = key_names
        #: Key expression and an optional guard that tags booleans.
        self.key = key
        self.guard = guard
        #: Default values by binding name.
        self.defaults = defaults
        #: Lines run before the key expression (reading the key_attrs values),
        #: and after the guard (joining them to the key); the key_attrs names
        #: when the front function may read them inline, and the lines that
        #: read them into ``_pc_a0``... and key them.
        self.prelude, self.postlude, self.attr_names, self.attr_reads = attrs
        #: Everything the source text depends on: default values are bound, not written.
        self.source_key = (params, call, argt, kwd, key, guard, attrs, tuple(name for name, _ in defaults))
        #: build()'s factories for this shape, by what the storage and options add to the source.
        self.built: dict[tuple[Any, ...], Any] = {}

    def __repr__(self) -> str:
        return f"Shape(params={self.params!r}, key={self.key!r})"


class NoShape(Exception):
    """The signature cannot be mirrored; the generic ``(*args, **kwargs)`` form is used."""


#: Shapes by signature object and options. Signatures come from a per-function
#: cache (``_method._signature``), so every instance of a class brings the
#: same object; the entry holds it, so its id is not reused while cached.
_shapes: dict[tuple[Any, ...], tuple[inspect.Signature | None, Shape]] = {}
_MAX_CACHED = 4096


def shape_of(
    sig: inspect.Signature | None,
    *,
    ignore: frozenset[str],
    typed: bool,
    custom_key: bool,
    key_attrs: bool | tuple[str, ...],
) -> Shape:
    """Work out the source pieces for *sig*, or the generic shape when it is None.

    *key_attrs* are the ``key_attrs`` names, in key order (True: some, read by ``_pc_attrs``).
    """
    cache_key = (id(sig), ignore, typed, custom_key, key_attrs)
    found = _shapes.get(cache_key)
    if found is not None and found[0] is sig:
        return found[1]
    shape = _shape_of(sig, ignore=ignore, typed=typed, custom_key=custom_key, key_attrs=key_attrs)
    if len(_shapes) >= _MAX_CACHED:
        _shapes.clear()  # functions made on the fly (lambdas per instance) must not grow it for ever
    _shapes[cache_key] = (sig, shape)
    return shape


def _shape_of(
    sig: inspect.Signature | None,
    *,
    ignore: frozenset[str],
    typed: bool,
    custom_key: bool,
    key_attrs: bool | tuple[str, ...],
) -> Shape:
    if sig is None:
        generic = "*args, **kwargs"
        return Shape(
            params=generic,
            call=generic,
            argt="args",
            kwd="kwargs",
            key_names=("*args", "**kwargs"),
            key=_wrap_key(f"_pc_generic_key(args, kwargs, {typed})", custom_key, generic),
            guard="",
            defaults=(),
            attrs=_attrs_code(key_attrs, typed),
        )
    parts: list[str] = []
    call: list[str] = []
    argt: list[str] = []
    kwd: list[str] = []
    key: list[str] = []
    key_names: list[str] = []
    guards: list[str] = []
    defaults: list[tuple[str, Any]] = []
    seen_kwonly_marker = False
    last_posonly = -1
    plist = list(sig.parameters.values())
    for i, p in enumerate(plist):
        if p.kind is _P.POSITIONAL_ONLY:
            last_posonly = i
    for i, p in enumerate(plist):
        name = p.name
        if name.startswith("_pc_") or not name.isidentifier():
            raise NoShape(name)
        text = name
        if p.default is not _P.empty:
            dname = f"_pc_d{i}"
            defaults.append((dname, p.default))
            text = f"{name}={dname}"
        if p.kind is _P.VAR_POSITIONAL:
            seen_kwonly_marker = True
            parts.append(f"*{name}")
            call.append(f"*{name}")
            argt.append(f"*{name}")
        elif p.kind is _P.VAR_KEYWORD:
            parts.append(f"**{name}")
            call.append(f"**{name}")
            kwd.append(f"**{name}")
        elif p.kind is _P.KEYWORD_ONLY:
            if not seen_kwonly_marker:
                parts.append("*")
                seen_kwonly_marker = True
            parts.append(text)
            call.append(f"{name}={name}")
            kwd.append(f"{name!r}: {name}")
        else:
            parts.append(text)
            call.append(name)
            argt.append(name)
        if i == last_posonly:
            parts.append("/")
        if name in ignore:
            continue
        key_names.append(name if p.kind not in (_P.VAR_POSITIONAL, _P.VAR_KEYWORD) else
                         ("*" if p.kind is _P.VAR_POSITIONAL else "**") + name)
        if p.kind is _P.VAR_POSITIONAL:
            key.append(f"_pc_tagged({name})" if not typed else name)
            if typed:
                key.append(f"_pc_types({name})")
        elif p.kind is _P.VAR_KEYWORD:
            key.append(f"_pc_kwkey({name})")
            if typed:
                key.append(f"_pc_kwtypes({name})")
        else:
            key.append(name)
            if typed:
                key.append(f"_pc_type({name})")
            else:
                guards.append(is_bool(name))
    call_src = ", ".join(call)
    if len(key) == 1:
        key_src = key[0]
        guard = f"if {guards[0]}:\n    _pc_key = _pc_TRUE if _pc_key else _pc_FALSE" if guards else ""
    else:
        key_src = "(" + "".join(k + ", " for k in key) + ")"
        guard = f"if {' or '.join(guards)}:\n    _pc_key = _pc_tagged(_pc_key)" if guards else ""
    if custom_key:
        guard = ""
    return Shape(
        params=", ".join(parts),
        call=call_src,
        argt="(" + "".join(a + ", " for a in argt) + ")",
        kwd="{" + ", ".join(kwd) + "}",
        key_names=tuple(key_names),
        key=_wrap_key(key_src, custom_key, call_src),
        guard=guard,
        defaults=tuple(defaults),
        attrs=_attrs_code(key_attrs, typed),
    )


def _wrap_key(key_src: str, custom_key: bool, call_src: str) -> str:
    if custom_key:
        key_src = f"_pc_userkey({call_src})"
    return key_src


def _attrs_code(key_attrs: bool | tuple[str, ...], typed: bool) -> tuple[str, str, tuple[str, ...], str]:
    """Lines that read the ``key_attrs`` values first, the line that joins them to the key last,
    the names when they can be read inline, and then the lines that read them.

    The key is then ``(arguments' key, value, ...)``: one flat tuple, so a
    hit builds and hashes one tuple (in memory it finds the stored one: see
    ``_storage_index``), and the arguments' key is the same (booleans
    tagged) as without ``key_attrs``. Each value is keyed as an argument is
    (see :func:`_value_key`). With the names known, the
    values are read inline from ``_pc_via`` (the object they belong to, or a
    weak proxy of it): no call, no Python frame and no comprehension (which
    would make a function object on every call). A missing attribute, or an
    object gone, goes to ``_pc_attrs``, which raises the error that names it
    (and keys the values itself, as ``proxycache._keys.attr_values``).
    With a bare True (names unknown), ``_pc_attrs`` reads them all.
    """
    if key_attrs is False or not key_attrs:
        return "", "", (), ""
    inline = inline_attrs(key_attrs)
    if not inline:
        return "_pc_av = _pc_attrs()\n", "_pc_key = (_pc_key, *_pc_av)\n", (), ""
    names = [f"_pc_a{i}" for i in range(len(inline))]
    targets = "".join(n + ", " for n in names)
    reads = "".join(f"{n} = _pc_via.{attr}\n" for n, attr in zip(names, inline, strict=True))
    reads += "".join(_value_key(n, typed) for n in names)
    read = textwrap.indent(reads, "    ")
    prelude = f"try:\n{read}except (AttributeError, ReferenceError):\n    {targets}= _pc_attrs()\n"
    return prelude, f"_pc_key = (_pc_key, {targets})\n", inline, reads


def _value_key(name: str, typed: bool) -> str:
    """The lines keying the value in *name* as an argument is keyed.

    ``True`` is not ``1`` (a boolean is tagged, as arguments' are), and with
    ``typed=True`` the value's type joins it (``1`` is not ``1.0``).
    """
    if typed:
        return f"{name} = ({name}, _pc_type({name}))\n"
    return f"if {is_bool(name)}:\n    {name} = _pc_TRUE if {name} else _pc_FALSE\n"


def is_bool(name: str) -> str:
    """Source that tests whether *name* holds a boolean: keyed apart from the equal number (``True`` is not ``1``).

    Identity tests: the cheapest test there is, and one that never hashes or compares the user's value.
    """
    return f"{name} is True or {name} is False"


def inline_attrs(key_attrs: bool | tuple[str, ...] | None) -> tuple[str, ...]:
    """The ``key_attrs`` names a generated key reads inline: all of them, unless one is a keyword (or none is known)."""
    if not isinstance(key_attrs, tuple) or any(keyword.iskeyword(name) for name in key_attrs):
        return ()
    return key_attrs


def indexed_key(width: int, argkey: str) -> str:
    """The lines joining the key_attrs values to *argkey* where the storage keeps ``_pc_index``.

    The key held for these values and *argkey* (the arguments' key) is
    found there (see ``_storage_index``), and a hit then finds its entry by
    identity; a key not there (a miss, or an unhashable part) is built as
    the postlude of :func:`_attrs_code` builds it. The values were read into
    ``_pc_a0``... first.
    """
    values, names = index_parts(width)
    return (
        f"try:\n    _pc_key = _pc_index[{values}][{argkey}]\n"
        f"except (KeyError, TypeError):\n    _pc_key = ({argkey}, {names})\n"
    )


def index_parts(width: int) -> tuple[str, str]:
    """What ``_pc_index`` is read by (the value, or the tuple of values), and the values as tuple items."""
    names = "".join(f"_pc_a{i}, " for i in range(width))
    return ("_pc_a0" if width == 1 else f"({names})"), names
