"""The cached callable an entry point installs (``make_cached``), and the state behind one (``state_of``)."""

from __future__ import annotations

import types
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._options import Options

if TYPE_CHECKING:
    from ._blueprint import MAX_BLUEPRINTS, _blueprint
    from ._method import CachedMethod
    from ._plan import signature_and_slot

_weakref = weakref.ref
_MethodType = types.MethodType

#: The cache controls every cached callable carries (``proxycache.typing.CachedCallable`` types them).
#: (make_cached writes them out: keep the two together.)
CACHE_API = ("cache_info", "cache_stats", "cache_clear", "cache_parameters", "cache_invalidate", "cache_refresh")


class _NotLoaded:
    """What ``_state_class`` is until the first :func:`make_cached`: no object is one."""


#: CachedMethod, once the first make_cached has loaded the machinery behind a cached callable (_load).
_state_class: type[Any] = _NotLoaded


def _load() -> None:
    """Load what a cached callable is made of: the first :func:`make_cached` of the process does.

    ``import proxycache`` loads only what wrapping needs (a proxy is made
    without it), not the fifteen modules of the hit and miss paths: most
    of the import's cost, paid by the first access of a method instead.
    Two threads may both run this: the import system hands both the same
    modules, and the class is set last, when all the rest is in place.
    """
    global MAX_BLUEPRINTS, _blueprint, signature_and_slot, _state_class
    from ._blueprint import MAX_BLUEPRINTS, _blueprint
    from ._method import CachedMethod
    from ._plan import signature_and_slot

    _reserve_attribute_names(CachedMethod)
    _state_class = CachedMethod


def make_cached(
    target: Callable[..., Any],
    options: Options,
    *,
    name: str,
    qualname: str | None = None,
    instance: Any = None,
    weak_instance: bool = False,
    attrs_of: Callable[[], Any] | None = None,
    strict_ignore: bool = True,
) -> Any:
    """Build the cached callable for *target*.

    With ``instance`` given, *target* is the plain function and the instance
    is passed as its first argument; ``weak_instance`` holds the instance by
    weak reference so the callable can live in the instance's ``__dict__``
    without a reference cycle. Without ``instance``, *target* is called as is
    (a bound method, a function or any callable).
    """
    if _state_class is _NotLoaded:
        _load()
    wrapped = target
    weak = None
    call: Callable[..., Any] | None
    if instance is not None:
        func = target
        if weak_instance:
            ref = _weakref(instance)
            # Called through CachedMethod.call, which reads this: no closure to make for every instance.
            weak = (ref, func, type(instance).__qualname__, name)
            call = None
            if attrs_of is None:
                attrs_of = ref
        else:
            bound = func.__get__(instance, type(instance))
            call = bound
            wrapped = bound
            if attrs_of is None:
                attrs_of = lambda: instance  # noqa: E731
        sig_target = func
        drop_first = True
    else:
        call = target
        sig_target = target
        drop_first = False
    if not qualname:
        found = getattr(target, "__qualname__", None)
        qualname = found if isinstance(found, str) else name
    func = sig_target.__func__ if type(sig_target) is _MethodType else sig_target
    # What every owner's cache of this method shares, kept with the options (so that it goes with them,
    # and the store they name with it) and found by the function, the names and the kind of owner (its
    # plan is the same for all owners of one kind); kept while the function's code, defaults and
    # signature-setting attributes are the ones it was made with.
    fast_key = (id(func), type(sig_target) is _MethodType, drop_first, name, qualname, strict_ignore,
                attrs_of is None)
    kept = options._blueprints
    entry = kept.get(fast_key)
    if (
        entry is not None
        and entry[0]() is func
        and entry[1] is func.__code__
        and entry[2] is func.__defaults__
        and entry[3] is func.__kwdefaults__
        and not func.__dict__
    ):
        signature, is_async, blueprint = entry[4], entry[5], entry[6]
    else:
        signature, is_async, slot = signature_and_slot(sig_target, drop_first)
        blueprint = _blueprint(slot, options, name, qualname, signature, strict_ignore, fast_key[1:3] + fast_key[6:])
        if slot is not None and not func.__dict__:  # a plain function: its signature is cached
            if len(kept) >= MAX_BLUEPRINTS:
                kept.clear()
            kept[fast_key] = (_weakref(func), func.__code__, func.__defaults__, func.__kwdefaults__,
                              signature, is_async, blueprint)
    # Positional: keyword arguments cost a look-up each, and this runs for every instance.
    state = _state_class(call, signature, options, name, qualname, is_async, attrs_of, wrapped, strict_ignore,
                         blueprint, weak)
    if options.key_attrs and attrs_of is None:
        raise TypeError(f"key_attrs= needs an instance, but {qualname} is not bound to one")
    # The callable is dressed here, not in a helper: a call fewer for every instance.
    fn: Any = state.func  # a generated function that gets attributes set below
    # The function refers to the state (its miss path is a bound method of
    # it); the state must not refer back, or freeing the owner would wait
    # for the cycle collector.
    del state.func
    fn.__name__ = name
    fn.__qualname__ = qualname
    # Only real metadata is copied: dynamic objects (xmlrpc's remote methods) answer any attribute, and
    # reading one may even call the server. A bound method answers these from its function (func): read
    # them there, and from a plain function, which has all three, without a getattr() call each.
    if type(func) is not _FunctionType:
        module, doc = getattr(func, "__module__", None), getattr(func, "__doc__", None)
        annotations = getattr(func, "__annotations__", None)
    else:
        module, doc, annotations = func.__module__, func.__doc__, func.__annotations__
    fn.__module__ = module if isinstance(module, str) else None
    fn.__doc__ = doc if isinstance(doc, str) else None
    if isinstance(annotations, dict) and annotations:  # the generated function's own start empty
        fn.__annotations__ = annotations  # shared, not copied, as functools.update_wrapper does
    # One dict, not eight attribute stores, written out (half the cost of zipping CACHE_API with
    # an attrgetter): this runs for every instance.
    fn.__dict__ = {
        "cache_info": state.cache_info,
        "cache_stats": state.cache_stats,
        "cache_clear": state.cache_clear,
        "cache_parameters": state.cache_parameters,
        "cache_invalidate": state.cache_invalidate,
        "cache_refresh": state.cache_refresh,
        "__wrapped__": wrapped,
        "__proxycache__": state,
    }
    if drop_first and signature is not None:
        # __wrapped__ is the plain function (self first): inspect.signature()
        # would follow it and show self, which a caller of this one never passes.
        fn.__signature__ = signature
    return fn


def state_of(func: Any) -> CachedMethod | None:
    """The :class:`CachedMethod` behind a cached callable, or None."""
    kind = type(func)
    if kind is _MethodType:
        # Its function answers; asked through the method, a missing name
        # raises (and formats) an AttributeError first: every first access asks.
        func = func.__func__
        kind = type(func)
    if kind is _FunctionType:
        # Its own dict answers without the AttributeError (formatted, then dropped) that getattr
        # would raise for every plain function: cache_methods and the descriptors ask on each install.
        state = func.__dict__.get("__proxycache__")
    elif kind in _NEVER_CACHED:
        return None  # what an instance's dict mostly holds (disown asks about each value)
    else:
        state = getattr(func, "__proxycache__", None)
    return state if isinstance(state, _state_class) else None


_FunctionType = types.FunctionType
#: Types that never carry a cached method's state (exact types: a subclass may).
_NEVER_CACHED = frozenset({str, int, float, bool, bytes, tuple, list, dict, set, frozenset, type(None)})


def _reserve_attribute_names(cls: type[CachedMethod]) -> None:
    """Make CPython share one table of attribute names among all CachedMethods, whatever the order of first use.

    An instance keeps its attributes in a values array over a table of names
    its class shares; the table takes new names only while the class has
    made few instances (CPython 3.11 lowers the room for each one made).
    Past that, an instance that sets a name the table lacks gets a dict of
    its own: an allocation more for every first access if, say, thirty
    proxies came before the first ``cache_methods``. The first instance sets
    the names a method may have, the common ones first (the table holds
    29 on CPython 3.11: what only methods with more options than the defaults set
    comes last).
    """
    first = cls.__new__(cls)
    for name in _ATTRIBUTE_NAMES:
        setattr(first, name, None)


#: What a CachedMethod may set on itself, the names of a first access in memory first.
_ATTRIBUTE_NAMES = (
    "call", "plan", "options", "qualname", "is_async", "clock", "blueprint", "flight_kind", "aflight_kind",
    "storage", "keyof", "func", "_hits", "_func_ref", "weak", "installed_for", "replaced",
    "flights", "aflights", "counters", "_find", "lock", "generation", "finished", "returns_awaitable", "_spare",
    "lean_parts", "io_outside", "streams", "rules", "stale", "holds_lease", "lease",
)
