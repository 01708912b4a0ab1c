"""The one error for arguments that cannot join a key, naming each of them and the ways out.

A key held in memory needs hashable values (or values ``freeze`` can make
hashable); a key in a shared store needs values with a stable encoding
(``stable_digest``), a superset of refusals: both are told in one message
built here.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ._keys import _DEFAULT, _KWARGS, UnkeyableError, freeze, stable_digest
from ._plan import Plan


def unkeyable_error(plan: Plan, key: Any, error: Exception) -> TypeError:
    """The error for a call whose *key* cannot be used (*error* says why the first part failed)."""
    qualname = plan.qualname
    if plan.options.store is None:
        return _message(
            qualname, key_culprits(plan, key, freeze_problem), error,
            what="be used in a cache key",
            attrs_fix="name attributes with hashable values, or pass key= a function",
            args_fix="or pass key= a function that builds a hashable key",
        )
    if plan.options.key is not None:
        return TypeError(
            f"{qualname}(): the key= function's result cannot be part of a shared-store key ({error}). "
            "Build the key from values (another process cannot know an object by identity)"
        )
    return _message(
        qualname, key_culprits(plan, defaults_marked(plan, key), encoding_problem), error,
        what="be part of a shared-store key",
        attrs_fix="name attributes whose values are plain data, or pass key= a function that builds the key",
        args_fix="or pass key= a function that builds the key from values (another process cannot know "
        "this object by identity)",
    )


def _message(
    qualname: str, found: list[tuple[str, str, str]], err: Exception, *, what: str, attrs_fix: str, args_fix: str
) -> TypeError:
    """One error naming every argument and key attribute that cannot join the key, and the ways out.

    Only a parameter of the method's own can be left out with ``ignore=``: one
    that came in ``*args`` or ``**kwargs`` is named (``kwargs['auth']``) and
    sent to ``key=``, since leaving all of ``**kwargs`` out of the key would
    make calls that differ in any other keyword share one entry.
    """
    args = [name for kind, name, _ in found if kind == "argument"]
    packed = [name for kind, name, _ in found if kind == "packed"]
    attrs = [name for kind, name, _ in found if kind == "key_attrs"]
    nouns = {"argument": "argument", "packed": "argument", "key_attrs": "key attribute"}
    if len(found) == 1:
        kind, name, why = found[0]
        subject = f"{nouns[kind]} {name!r} cannot {what} ({why})"
    elif found:
        groups = []
        for noun in ("argument", "key attribute"):
            items = [f"{name!r} ({why})" for k, name, why in found if nouns[k] == noun]
            if items:
                groups.append(f"{noun}{'s' if len(items) > 1 else ''} {', '.join(items)}")
        subject = f"{' and '.join(groups)} cannot {what}"
    else:
        subject = f"an argument cannot {what} ({err})"
    fixes = []
    if args or not (attrs or packed):
        fixes.append(f"Leave {'them' if len(args) > 1 else 'it'} out of the key with ignore={args or ['name']!r}, "
                     + args_fix)
    if packed:
        fixes.append(f"{'For ' + ', '.join(map(repr, packed)) + ': p' if args else 'P'}ass key= a function that "
                     "builds the key from the values that matter (ignore= names only the method's own parameters; "
                     "leaving all its *args or **kwargs out would make different calls share one entry)")
    if attrs:
        fixes.append(f"For key_attrs: {attrs_fix}")
    return TypeError(f"{qualname}(): {subject}. {'. '.join(fixes)}")


def key_culprits(plan: Plan, key: Any, problem: Callable[[Any], str | None]) -> list[tuple[str, str, str]]:
    """Every part of *key* that has a *problem*: ``("argument", "packed" or "key_attrs", name, problem)``.

    Reads the key's layout as ``_shape.shape_of`` builds it: one bare
    value for a single parameter, else one item per parameter (each
    followed by its type when typed), followed by the key_attrs values.
    A ``*args`` part is its values, a ``**kwargs`` part its ``(name, value)``
    items: each is named as it came (``args[1]``, ``kwargs['auth']``, "packed").
    """
    options = plan.options
    if options.key is not None:
        return []  # the user's key function decides the layout
    key_attrs = options.key_attrs or ()
    attr_values: tuple[Any, ...] = ()
    if key_attrs and type(key) is tuple and len(key) == 1 + len(key_attrs):
        key, attr_values = key[0], key[1:]
    names = plan.key_names
    if names == ("*args", "**kwargs") and plan.signature is None:
        # The generic key: the positional values, and (_KWARGS, items) after them when there are keywords.
        if options.typed and type(key) is tuple and len(key) == 3:
            key = key[0]
        args = key[0] if type(key) is tuple and len(key) == 3 and key[1] is _KWARGS else key
        parts: tuple[Any, ...] = (args if type(args) is tuple else (args,), key[2] if args is not key else ())
    elif len(names) == 1 and not options.typed:
        parts = (key,)
    elif type(key) is tuple:
        parts = key[::2] if options.typed else key
    else:
        parts = ()
    found: list[tuple[str, str, str | None]] = []
    for name, part in zip(names, parts, strict=False):
        if name.startswith("**") and type(part) is tuple:
            found += [("packed", f"{name[2:]}[{item[0]!r}]", problem(item[1])) for item in part]
        elif name.startswith("*") and type(part) is tuple:
            found += [("packed", f"{name[1:]}[{i}]", problem(value)) for i, value in enumerate(part)]
        else:
            found.append(("argument", name, problem(part)))
    found += [("key_attrs", attr, problem(value)) for attr, value in zip(key_attrs, attr_values, strict=False)]
    return [(kind, name, why) for kind, name, why in found if why is not None]


def defaults_marked(plan: Plan, key: Any) -> Any:
    """*key* with every argument that is its parameter's default object replaced by a marker.

    Sentinel defaults (httpx's ``USE_CLIENT_DEFAULT``) have no stable
    encoding, but an argument that *is* the default means "the default"
    in every process. Plain defaults never get here: they encode as they are.
    A key= function's result has a layout of its own: see :func:`_user_key_marked`.
    """
    signature = plan.signature
    if signature is None:
        return key
    if plan.options.key is not None:
        return _user_key_marked(signature, key)
    has_attrs = bool(plan.options.key_attrs)
    attrs: Any = None
    original = key
    try:
        if has_attrs:
            # (arguments' key, *attribute values): the layout _codegen builds with key_attrs.
            key, attrs = key[0], key[1:]
        typed = plan.options.typed
        single = len(plan.key_names) == 1 and not typed
        parts = [key] if single else list(key)
        step = 2 if typed else 1
        params = signature.parameters
        for i, name in enumerate(plan.key_names):
            param = params.get(name)
            if param is not None and param.default is not param.empty and parts[i * step] is param.default:
                parts[i * step] = _DEFAULT
    except (TypeError, ValueError, IndexError):
        return original  # not the layout shape_of builds: nothing to mark
    marked = parts[0] if single else tuple(parts)
    return (marked, *attrs) if has_attrs else marked


def _user_key_marked(signature: inspect.Signature, key: Any) -> Any:
    """A key= function's result with each default object that has no stable encoding keyed as that default.

    The key= function is handed every parameter, defaults included, as the
    method gets them (``call["timeout"] is NOT_GIVEN`` holds), so the
    documented ``key=lambda **call: (base_url, call)`` carries openai's
    ``NOT_GIVEN`` and httpx's ``USE_CLIENT_DEFAULT`` though the caller never
    passed them. Found by identity anywhere in the tuples, lists, dicts and
    sets of the result, each becomes ``(<default>, name)``, *name* the first
    parameter with that default: the same in every process that has the method.
    """
    sentinels: dict[int, tuple[Any, str]] = {}
    for param in signature.parameters.values():
        default = param.default
        if default is not param.empty and id(default) not in sentinels and not _encodable(default):
            sentinels[id(default)] = (_DEFAULT, param.name)
    if not sentinels:
        return key

    def mark(value: Any, depth: int) -> Any:
        found = sentinels.get(id(value))
        if found is not None:
            return found
        if depth > 100:
            return value  # the encoding refuses it and says why
        cls = type(value)
        if cls is tuple or cls is list:
            return cls([mark(item, depth + 1) for item in value])
        if cls is dict:
            return {mark(k, depth + 1): mark(v, depth + 1) for k, v in value.items()}
        if cls is set or cls is frozenset:
            return cls([mark(item, depth + 1) for item in value])
        return value

    return mark(key, 0)


def freeze_problem(value: Any) -> str | None:
    """Why *value* cannot be frozen into a memory key, or None."""
    try:
        freeze(value)
    except UnkeyableError as error:
        return str(error)
    return None


def _encodable(value: Any) -> bool:
    try:
        stable_digest(value)
    except UnkeyableError:
        try:
            stable_digest(freeze(value))
        except UnkeyableError:
            return False
    return True


def encoding_problem(value: Any) -> str | None:
    """Why *value* cannot be part of a shared-store key, or None."""
    if _encodable(value):
        return None
    try:
        stable_digest(value)
    except UnkeyableError as error:
        return str(error)
    return None
