"""Builds the cached callable as a real Python function with the method's signature.

Python binds the arguments itself, in C, so ``f(1)``, ``f(a=1)`` and
``f(a=1, b=<default>)`` arrive as the same locals and make the same key at no
extra cost, keyword calls are as fast as positional ones, and a wrong call
fails with the method's own ``TypeError``. The hit path is inlined: build the
key, check ``bypass()``, read the storage, count the hit. Anything else is a
call into :class:`~proxycache._method.CachedMethod`.

Sources are compiled once per shape (signature structure and storage kind)
and instantiated per instance by calling a small factory with the bindings.
"""

from __future__ import annotations

import inspect
import re
import textwrap
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._flags import CODE_GLOBALS

_P = inspect.Parameter


@dataclass(frozen=True)
class Shape:
    """What the generated source depends on."""

    #: Source text of the parameter list, e.g. ``"a, b=_pc_d1, *, c"``.
    params: str
    #: Source of the forwarded call arguments, e.g. ``"a, b, c=c"``.
    call: str
    #: Source of positional and keyword argument containers for the miss path.
    argt: str
    kwd: str
    #: Names of the parameters that make the key, in order.
    key_names: tuple[str, ...]
    #: Key expression and an optional guard that tags booleans.
    key: str
    guard: str
    #: Default values by binding name.
    defaults: tuple[tuple[str, Any], ...]


class NoShape(Exception):
    """The signature cannot be mirrored; the generic ``(*args, **kwargs)`` form is used."""


def shape_of(
    sig: inspect.Signature | None,
    *,
    ignore: frozenset[str],
    typed: bool,
    custom_key: bool,
    key_attrs: bool,
) -> Shape:
    """Work out the source pieces for *sig*, or the generic shape when it is None."""
    if sig is None:
        generic = "*args, **kwargs"
        return Shape(
            params=generic,
            call=generic,
            argt="args",
            kwd="kwargs",
            key_names=("*args", "**kwargs"),
            key=_wrap_key(f"_pc_generic_key(args, kwargs, {typed})", custom_key, key_attrs, generic),
            guard="",
            defaults=(),
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
                guards.append(f"{name} is True or {name} is False")
    call_src = ", ".join(call)
    if len(key) == 1 and not key_attrs:
        key_src = key[0]
        guard = f"if {guards[0]}:\n    _pc_key = (_pc_BOOL, _pc_key)" if guards else ""
    else:
        key_src = "(" + "".join(k + ", " for k in key) + ")"
        guard = f"if {' or '.join(guards)}:\n    _pc_key = _pc_tagged(_pc_key)" if guards else ""
    if key_attrs and guards:
        # The key is (arguments, attribute values): tag inside the arguments.
        guard = f"if {' or '.join(guards)}:\n    _pc_key = (_pc_tagged(_pc_key[0]), _pc_key[1])"
    if custom_key:
        guard = ""
    return Shape(
        params=", ".join(parts),
        call=call_src,
        argt="(" + "".join(a + ", " for a in argt) + ")",
        kwd="{" + ", ".join(kwd) + "}",
        key_names=tuple(key_names),
        key=_wrap_key(key_src, custom_key, key_attrs, call_src),
        guard=guard,
        defaults=tuple(defaults),
    )


def _wrap_key(key_src: str, custom_key: bool, key_attrs: bool, call_src: str) -> str:
    if custom_key:
        key_src = f"_pc_userkey({call_src})"
    if key_attrs:
        key_src = f"({key_src}, _pc_attrs())"
    return key_src


_TEMPLATE = '''\
def _pc_factory({factory_args}):
    # A float: adding 1.0 reuses a freed float object, adding 1 to an int
    # past 256 allocates one; the counter is the costliest line of a hit.
    _pc_hits = 0.0

    {async_}def _pc_careful({params}):
        nonlocal _pc_hits
        _pc_key = {key}
{guard}
        if _pc_flag:
            return {await_}_pc_slow(_pc_FLAGGED, _pc_key, {argt}, {kwd})
{lookup}
{front}
    def _pc_keyof({params}):
        _pc_key = {key}
{guard}
        return _pc_key

    def _pc_get_hits():
        return int(_pc_hits)

    def _pc_set_hits(n):
        nonlocal _pc_hits
        _pc_hits = float(n)

    return _pc_cached, _pc_keyof, _pc_get_hits, _pc_set_hits
'''

# The common shape, one parameter that is the key as it is, gets a front
# function that reads the cache with the argument itself: no key variable,
# one test for the rare cases (a boolean argument, which needs a tagged key;
# bypass() or listeners, see _flags), which go to _pc_careful.
_FRONT = """
    {async_}def _pc_cached({params}):
        nonlocal _pc_hits
        if {rare}:
            return {await_}_pc_careful({call})
{lookup}
"""

# The lookup both functions end with: a hit returns from inside the try (see
# _counted); a miss or an unhashable key leaves it for the slow path. The
# call is outside the except blocks, so the method's own exceptions do not
# carry our lookup's KeyError as their __context__.
_LOOKUP = """        try:
{hit}
        except KeyError:
{uncount}            _pc_why = _pc_MISSED
        except TypeError:
{uncount}            _pc_why = _pc_UNHASHABLE
{else_counted}
        return {await_}_pc_slow(_pc_why, {key}, {argt}, {kwd})"""

# A cached exception is raised, which happens outside the try, or
# a cached KeyError or TypeError would pass for a miss.
_ELSE_COUNTED = """\
else:
    _pc_hits += 1.0
    if _pc_type(_pc_result) is _pc_Raised:
        raise _pc_result.error.with_traceback(_pc_result.tb)
    return _pc_result
"""

#: Why the hit path handed over to the slow path (first argument of ``_pc_slow``).
MISSED, UNHASHABLE, FLAGGED = 0, 1, 2

#: The globals of every generated function: process-wide names (fewer closure
#: cells to copy on every call), filled in by ``_method``, and ``_pc_flag``,
#: which ``_flags`` keeps current. One dict for all, so one store updates them all.
GLOBALS: dict[str, Any] = CODE_GLOBALS
# Builtins go by _pc_ names too: a parameter named ``type`` must not shadow them.
GLOBALS.update(_pc_MISSED=MISSED, _pc_UNHASHABLE=UNHASHABLE, _pc_FLAGGED=FLAGGED, _pc_type=type)


def _counted(hit: str, raises: bool) -> tuple[str, str]:
    """The try block of a hit, and the line that undoes its count on a miss.

    The hit is counted first and returns from inside the try: a final
    ``_pc_result = X`` becomes ``return X``, two instructions fewer, and there
    is no jump over the except clauses. A miss takes the count back. With
    cached exceptions the count and the return stay in the ``else`` clause
    (raising there, not in the try, keeps a cached KeyError from passing for a miss).
    """
    if raises:
        return hit, ""
    lines = hit.rstrip("\n").split("\n")
    if lines[-1].startswith("_pc_result = "):  # not indented: every way through the hit ends there
        lines[-1] = "return " + lines[-1][len("_pc_result = ") :]
    else:
        lines.append("return _pc_result")
    return "\n".join(["_pc_hits += 1.0", *lines]), "_pc_hits -= 1.0\n"


_factories: dict[str, Callable[..., Any]] = {}
_factories_lock = threading.Lock()


def build(
    shape: Shape,
    *,
    hit: str,
    lock_on_hit: bool,
    is_async: bool,
    raises: bool,
    bindings: dict[str, Any],
) -> tuple[Callable[..., Any], Callable[..., Any], Callable[[], int], Callable[[int], None]]:
    """Instantiate the cached callable for *shape* with *bindings*.

    Returns the callable, a key function with the same signature, and a
    getter and setter for its hit counter.
    """
    if lock_on_hit:
        hit = "with _pc_lock:\n" + textwrap.indent(hit, "    ")
    values = {k: v for k, v in bindings.items() if k not in GLOBALS}
    values.update(shape.defaults)
    names = sorted(values)
    await_ = "await " if is_async else ""
    hit, uncount = _counted(hit, raises)

    def lookup(hit: str, key: str) -> str:
        return _LOOKUP.format(
            hit=textwrap.indent(hit, " " * 12),
            uncount=textwrap.indent(uncount, " " * 12),
            else_counted=textwrap.indent(_ELSE_COUNTED, " " * 8) if raises else "",
            await_=await_,
            key=key,
            argt=shape.argt,
            kwd=shape.kwd,
        )

    front = "    _pc_cached = _pc_careful\n"
    if shape.key.isidentifier():
        rare = f"{shape.key} is True or {shape.key} is False or _pc_flag" if shape.guard else "_pc_flag"
        front = _FRONT.format(
            async_="async " if is_async else "",
            await_=await_,
            params=shape.params,
            rare=rare,
            call=shape.call,
            # The argument itself is the key: no key variable on this path.
            lookup=lookup(re.sub(r"\b_pc_key\b", shape.key, hit), shape.key),
        )
    source = _TEMPLATE.format(
        factory_args=", ".join(names),
        async_="async " if is_async else "",
        await_=await_,
        params=shape.params,
        key=shape.key,
        guard=textwrap.indent(shape.guard, " " * 8) if shape.guard else "",
        argt=shape.argt,
        kwd=shape.kwd,
        lookup=lookup(hit, "_pc_key"),
        front=front,
    )
    factory = _factories.get(source)
    if factory is None:
        with _factories_lock:
            factory = _factories.get(source)
            if factory is None:
                exec(compile(source, "<proxycache cached method>", "exec"), GLOBALS)
                factory = _factories[source] = GLOBALS["_pc_factory"]
    return factory(*[values[n] for n in names])  # type: ignore[no-any-return]
