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

import textwrap
import threading
from collections.abc import Callable
from typing import Any

from ._flags import CODE_GLOBALS, COUNT, COUNTER, DRAINING_COUNT, NO_GIL, UNCOUNT, set_cell
from ._hit import Hit
from ._keys import _FALSE, _TRUE, generic_key, is_hashable, kwkey, kwtypes, tagged, types_of
from ._outcome import COPY_ERRORS, Raised, own_error, trim
from ._shape import Shape, index_parts, indexed_key, is_bool

_TEMPLATE = '''\
def _pc_factory(_pc_bindings):
{unpack}
{counter}

    {async_}def _pc_careful({params}):
        nonlocal _pc_hits
{prelude}        _pc_key = {key}
{guard}
{postlude}        if _pc_flag:
            try:
                return {await_}_pc_slow(_pc_FLAGGED, _pc_key, {argt}, {kwd})
            except BaseException as _pc_error:
                raise _pc_error.with_traceback(_pc_trim(_pc_error.__traceback__))
{lookup}
{front}
    def _pc_keyof({params}):
{prelude}        _pc_key = {key}
{guard}
{postlude}        return _pc_key

    return _pc_cached, _pc_keyof
'''

# The common shape, one parameter that is the key as it is, gets a front
# function that reads the cache with the argument itself: no key variable,
# one test for the rare cases (a boolean argument, which needs a tagged key;
# bypass() or listeners, see _flags), which go to _pc_careful. The two
# functions it calls only off the hit path share one closure cell, _pc_rare
# (every cell costs every call a copy into the frame and a release from it);
# a tuple, not a list the careful function is put in later, which would make
# a reference cycle (list, careful function, its cell of the list).
_FRONT = """
    _pc_rare = (_pc_careful, _pc_slow)

    {async_}def _pc_cached({params}):
        nonlocal _pc_hits
        if {rare}:
            try:
                return {await_}_pc_rare[0]({call})
            except BaseException as _pc_error:
                raise _pc_error.with_traceback(_pc_trim(_pc_error.__traceback__))
{read}{lookup}
"""

# With key_attrs, the front reads and keys the values (or builds the flat key
# from them); a missing attribute (or an owner gone) takes the careful way, which names it.
_FRONT_READ = """        try:
{lines}        except (AttributeError, ReferenceError):
            try:
                return {await_}_pc_rare[0]({call})
            except BaseException as _pc_error:
                raise _pc_error.with_traceback(_pc_trim(_pc_error.__traceback__))
"""

# With key_attrs in memory, the front takes the key the storage holds from its index (see _storage_index).
# The index holds every key the storage does: a key not there is a miss, which goes to the miss path
# without a lookup to fail (the miss path looks again, under the lock, for a key stored meanwhile).
_FRONT_INDEXED = """        try:
            _pc_key = _pc_index[{values}][{arg}]
        except (KeyError, TypeError):
            _pc_key = ({arg}, {names})
        else:
{lookup}
        try:
            return {await_}_pc_rare[1](_pc_why_of(_pc_key), _pc_key, {argt}, {kwd})
        except BaseException as _pc_error:
            raise _pc_error.with_traceback(_pc_trim(_pc_error.__traceback__))
"""

# The lookup both functions end with: a hit returns from inside the try (see
# _hit_source); a miss or an unhashable key leaves it for the slow path. The
# call is outside the except blocks, so the method's own exceptions do not
# carry our lookup's KeyError as their __context__.
_LOOKUP = """        try:
{hit}
        except KeyError:
{uncount}            _pc_why = {missed}
        except TypeError:
{uncount}{unhashable}{else_counted}
        try:
            return {await_}{slow}(_pc_why, {key}, {argt}, {kwd})
        except BaseException as _pc_error:
            # Raised again from here, its traceback shows this one frame of ours, not the miss path's.
            raise _pc_error.with_traceback(_pc_trim(_pc_error.__traceback__))"""

# A key that did not hash (a dict or list argument) is looked up again by the key remembered for it
# (``_keys_again``) where the hit is plain (no lock, no cached exceptions or recordings, no store behind):
# a dict argument's hit then costs no call into the miss path. Anything else (a miss, an argument not
# remembered yet) goes on to it as before. The key is held in _pc_why until then: a local more would cost
# every call of the function (each is cleared on entry and on return).
_FROZEN = """            _pc_why = _pc_remembered({key})
            if _pc_why is not None:
                try:
{hit}
                except Exception:
{uncount}
            _pc_why = _pc_UNHASHABLE
"""

# A cached exception is raised, which happens outside the try, or
# a cached KeyError or TypeError would pass for a miss. A recorded stream
# (streams="replay") is never handed out itself: each hit gets a fresh replay.
_ELSE_HEAD = "else:\n{count}\n"
_ELSE_RAISES = f"""\
    if _pc_type(_pc_result) is _pc_Raised:
        raise {"_pc_own(_pc_result.error)" if COPY_ERRORS else "_pc_result.error"}.with_traceback(_pc_result.tb)
"""
_ELSE_REPLAYS = """\
    if _pc_type(_pc_result) is _pc_Recording:
        return _pc_result.replay()
"""
_ELSE_TAIL = "    return _pc_result\n"

#: Why the hit path handed over to the slow path (first argument of ``_pc_slow``).
MISSED, UNHASHABLE, FLAGGED = 0, 1, 2

#: The globals of every generated function: process-wide names (fewer closure
#: cells to copy on every call), declared below, and ``_pc_flag``,
#: which ``_flags`` keeps current. One dict for all, so one store updates them all.
GLOBALS: dict[str, Any] = CODE_GLOBALS
# Builtins go by _pc_ names too: a parameter named ``type`` must not shadow them.
GLOBALS.update(_pc_MISSED=MISSED, _pc_UNHASHABLE=UNHASHABLE, _pc_FLAGGED=FLAGGED, _pc_type=type)


def _why_of(key: Any) -> int:
    """Why a lookup that raised KeyError missed, where an unhashable key can raise KeyError too (``Hit.missed``)."""
    return MISSED if is_hashable(key) else UNHASHABLE


GLOBALS["_pc_why_of"] = _why_of
# What the key expressions and the hit path call: every global the generated source names is declared here
# (but _pc_Recording, which only a replaying method names, declared by _recording when streams="replay" loads it,
# and _pc_remembered, declared by _keys_again, which _method loads before it makes any function here).
GLOBALS.update(
    _pc_Raised=Raised,
    _pc_own=own_error,
    _pc_trim=trim,
    _pc_TRUE=_TRUE,
    _pc_FALSE=_FALSE,
    _pc_tagged=tagged,
    _pc_kwkey=kwkey,
    _pc_types=types_of,
    _pc_kwtypes=kwtypes,
    _pc_generic_key=generic_key,
)


def _hit_source(hit: Hit, key: str, raises: bool, count: str) -> tuple[str, str]:
    """The try block of a hit, and the line that undoes its count on a miss.

    The hit is counted first and returns from inside the try: a read that is
    the whole hit becomes ``return <read>``, two instructions fewer than
    storing and loading ``_pc_result``, and there is no jump over the except
    clauses. A miss takes the count back. With cached exceptions the count
    and the return stay in the ``else`` clause (raising there, not in the
    try, keeps a cached KeyError from passing for a miss).
    """
    read = hit.read.format(key=key)
    before = [line.format(key=key) for line in hit.before]
    if not (raises or hit.after or hit.expires or hit.lock or hit.fallback is not None):
        return "\n".join([count, *before, f"return {read}"]), UNCOUNT
    # Unpack the entry where it is read (one store and load fewer than unpacking _pc_result).
    lines = [*before, f"{'_pc_result, _pc_expires' if hit.expires else '_pc_result'} = {read}"]
    lines += [line.format(key=key) for line in hit.after]
    if hit.expires:
        lines += ["if _pc_expires <= _pc_now():", "    raise KeyError"]
    if hit.fallback is not None:
        lines = ["try:", *_indented(lines), "except KeyError:", f"    _pc_result = {hit.fallback.format(key=key)}"]
    if hit.lock:
        lines = ["with _pc_lock:", *_indented(lines)]
    if raises:
        return "\n".join(lines), ""
    lines.append("return _pc_result")
    return "\n".join([count, *lines]), UNCOUNT


def _indented(lines: list[str]) -> list[str]:
    return ["    " + line for line in lines]


_factories: dict[str, Callable[..., Any]] = {}
_factories_lock = threading.Lock()
#: Factories by everything the source depends on: an instance finds its
#: factory without rendering the template again. A factory takes the
#: bindings dict and reads the names it uses from it.
_built: dict[tuple[Any, ...], Callable[[dict[str, Any]], Any]] = {}


def build(
    shape: Shape,
    *,
    hit: Hit,
    is_async: bool,
    raises: bool,
    bindings: dict[str, Any],
    replays: bool = False,
) -> tuple[Callable[..., Any], Callable[..., Any], Any]:
    """Instantiate the cached callable for *shape* with *bindings*.

    Returns the callable, a key function with the same signature, and the
    cell of its hit counter (read by ``_flags.hits_in``).
    """
    factory = factory_for(shape, hit=hit, is_async=is_async, raises=raises, bindings=bindings, replays=replays)
    return instantiate(shape, factory, bindings)


def factory_for(
    shape: Shape,
    *,
    hit: Hit,
    is_async: bool,
    raises: bool,
    bindings: dict[str, Any],
    replays: bool = False,
) -> Callable[[dict[str, Any]], Any]:
    """The compiled factory :func:`build` calls (a caller that keeps it calls :func:`instantiate` itself)."""
    # Per shape, then by what the storage and options add: hashing the
    # shape's whole source key on every instance would cost more than the rest.
    cache_key = (hit, is_async, raises, replays, tuple(bindings))
    factory = shape.built.get(cache_key)
    if factory is None:
        full_key = (shape.source_key, *cache_key)
        factory = _built.get(full_key)
        if factory is None:
            factory = _built[full_key] = _factory(
                shape, hit=hit, is_async=is_async, raises=raises, bindings=bindings, replays=replays
            )
        shape.built[cache_key] = factory
    return factory


def instantiate(
    shape: Shape, factory: Callable[[dict[str, Any]], Any], bindings: dict[str, Any]
) -> tuple[Callable[..., Any], Callable[..., Any], Any]:
    """:func:`build`'s result from the factory of *shape* and these *bindings*."""
    if shape.defaults:
        bindings = dict(bindings)
        bindings.update(shape.defaults)
    func, keyof = factory(bindings)
    # The hit counter's cell, which _flags.hits_in and set_hits read and set (a getter and a setter function
    # would be two more objects to make for every instance).
    code = func.__code__
    index = _hits_cell.get(id(code))
    if index is None:
        index = _hits_cell[id(code)] = code.co_freevars.index("_pc_hits")  # a new tuple on every read
    return func, keyof, func.__closure__[index]


def rebind(func: Callable[..., Any], values: dict[str, Any]) -> None:
    """Point the closure cells of the generated callable *func* named in *values* at those values, in order.

    A front function reaches the careful one and the miss path through its
    ``_pc_rare`` pair: the careful function's cells are set first, the pair
    last, so a call sees the miss path only once everything else is in place.
    """
    cells = _cells.get(id(func.__code__))
    if cells is None:
        cells = _cells[id(func.__code__)] = {name: i for i, name in enumerate(func.__code__.co_freevars)}
    closure: Any = func.__closure__
    rare = cells.get("_pc_rare")
    if rare is not None:
        careful = closure[rare].cell_contents[0]
        rebind(careful, values)
    for name, value in values.items():
        index = cells.get(name)
        if index is not None:  # (a name the source does not use is no cell)
            set_cell(closure[index], value)
    if rare is not None and "_pc_slow" in values:
        set_cell(closure[rare], (careful, values["_pc_slow"]))


#: Closure cell indexes by name, per generated function's code (by id, as _hits_cell).
_cells: dict[int, dict[str, int]] = {}

#: Where the hit counter's cell is in each generated function's closure, by the id of its code
#: (a code object hashes its whole contents; these live as long as their factory, in _factories).
_hits_cell: dict[int, int] = {}


def _factory(
    shape: Shape,
    *,
    hit: Hit,
    is_async: bool,
    raises: bool,
    bindings: dict[str, Any],
    replays: bool = False,
) -> Callable[[dict[str, Any]], Any]:
    """Render and compile the factory for one shape."""
    names = sorted({k for k in bindings if k not in GLOBALS} | {name for name, _ in shape.defaults})
    await_ = "await " if is_async else ""
    special = raises or replays  # a hit that may hold a cached exception or a recording
    count = DRAINING_COUNT if hit.drains else COUNT  # the statement that counts a hit
    else_counted = ""
    if special:
        else_counted = _ELSE_HEAD.format(count=textwrap.indent(count, "    ")) + (_ELSE_RAISES if raises else "")
        else_counted += (_ELSE_REPLAYS if replays else "") + _ELSE_TAIL

    # A key that did not hash is looked up again where the hit is plain (see _FROZEN); not without the
    # GIL, where keys are never remembered (see _keys_again).
    frozen = not (special or hit.lock or hit.drains or hit.fallback is not None or NO_GIL)

    def lookup(key: str, slow: str = "_pc_slow") -> str:
        source, uncount = _hit_source(hit, key, special, count)
        unhashable = "            _pc_why = _pc_UNHASHABLE\n"
        if frozen:
            again, uncount_again = _hit_source(hit, "_pc_why", False, count)
            unhashable = _FROZEN.format(
                key=key, hit=textwrap.indent(again, " " * 20), uncount=textwrap.indent(uncount_again, " " * 20)
            )
        return _LOOKUP.format(
            slow=slow,
            hit=textwrap.indent(source, " " * 12),
            uncount=textwrap.indent(uncount, " " * 12),
            unhashable=unhashable,
            missed=hit.missed.format(key=key),
            else_counted=textwrap.indent(else_counted, " " * 8),
            await_=await_,
            key=key,
            argt=shape.argt,
            kwd=shape.kwd,
        )

    front = "    _pc_cached = _pc_careful\n"
    inline = shape.attr_names
    # The storage keeps an index of its keys (a key_attrs method in memory): the keys come from it.
    indexed = bool(inline) and "_pc_index" in bindings
    postlude = indexed_key(len(inline), "_pc_key") if indexed else shape.postlude
    if shape.key.isidentifier() and (not shape.prelude or inline):
        rare = f"{is_bool(shape.key)} or _pc_flag" if shape.guard else "_pc_flag"
        read = ""
        if inline:
            values, items = index_parts(len(inline))
            front_lookup = lookup("_pc_key", "_pc_rare[1]")
            if indexed:
                # The lookup runs in the else: of the index's try (a hit returns from it, outside any handler).
                lines = shape.attr_reads
                then = _FRONT_INDEXED.format(
                    values=values, names=items, arg=shape.key, await_=await_, argt=shape.argt, kwd=shape.kwd,
                    lookup=textwrap.indent(front_lookup, " " * 4),
                )
                front_lookup = ""
            else:
                lines = shape.attr_reads + f"_pc_key = ({shape.key}, {items})\n"
                then = ""
            read = _FRONT_READ.format(lines=textwrap.indent(lines, " " * 12), await_=await_, call=shape.call) + then
        else:
            # The argument itself is the key: no key variable on this path.
            front_lookup = lookup(shape.key, "_pc_rare[1]")
        front = _FRONT.format(
            async_="async " if is_async else "",
            await_=await_,
            params=shape.params,
            rare=rare,
            call=shape.call,
            read=read,
            lookup=front_lookup,
        )
    source = _TEMPLATE.format(
        counter=COUNTER,
        unpack="".join(f"    {n} = _pc_bindings[{n!r}]\n" for n in names),
        async_="async " if is_async else "",
        await_=await_,
        params=shape.params,
        key=shape.key,
        prelude=textwrap.indent(shape.prelude, " " * 8),
        postlude=textwrap.indent(postlude, " " * 8),
        guard=textwrap.indent(shape.guard, " " * 8) if shape.guard else "",
        argt=shape.argt,
        kwd=shape.kwd,
        lookup=lookup("_pc_key"),
        front=front,
    )
    factory = _factories.get(source)
    if factory is None:
        with _factories_lock:
            factory = _factories.get(source)
            if factory is None:
                exec(compile(source, "<proxycache cached method>", "exec"), GLOBALS)
                factory = _factories[source] = GLOBALS["_pc_factory"]
    return factory
