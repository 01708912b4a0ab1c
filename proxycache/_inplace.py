"""``cache_methods`` / ``uncache_methods``: cached methods installed on one instance."""

from __future__ import annotations

import types
from typing import Any, TypeVar

from . import _instance
from ._make import make_cached, state_of
from ._options import CHECKED_DEFAULT, check_option_names, make_options
from ._select import instance_methods, named_method, refuse_unselecting

T = TypeVar("T")

_ABSENT = _instance.ABSENT
_MethodType = types.MethodType
_FunctionType = types.FunctionType


def cache_methods(obj: T, *names: str, **options: Any) -> T:
    """Cache methods of this one instance, in place, and return it.

    With no *names*, every public method is cached (``include=``/``exclude=``
    refine the choice). Only *obj* changes: not its class, not other
    instances. Calls *obj* makes to its own methods are cached too.
    ``uncache_methods`` restores the originals. *options* are
    the keyword options every entry point takes (``maxsize``, ``ttl``,
    ``policy``, ``include``, ``exclude``, ``ignore``, ``key_attrs``, ``key``,
    ``store``, ...): see the Options page.
    """
    # This runs for every instance (a client made per request): the common case, one plain method
    # of a plain class, is told with few calls.
    opts = options.pop("_options", None)
    if opts is None:
        if options:
            check_option_names(options, "cache_methods()")
            opts = make_options(**options)
            refuse_unselecting(opts, "cache_methods()")
        else:
            opts = CHECKED_DEFAULT
    if isinstance(obj, type):
        raise TypeError(
            f"cache_methods works on instances, not on the class {obj.__qualname__}; "
            "use @cached_method in the class body, CachingMixin, or CachedProxy(obj)"
        )
    plan: list[tuple[str, Any]] | None = None
    if names and _instance.DICT_UNREAD and type(obj).__dictoffset__:
        # Named methods that are the class's own, bound, are installed as attributes, leaving the
        # instance's __dict__ unread. Anything else reads it (dir() does anyway).
        plan = []
        for name in names:
            value = named_method(obj, name, opts)
            if _class_method(obj, name, value):
                plan.append((name, value))
            elif state_of(value) is None or not _instance.belongs_to(value, obj):  # else cached already: kept
                plan = None
                break
    d = None
    if plan is None:
        try:  # _instance.instance_dict, written out: this runs for every instance
            d = object.__getattribute__(obj, "__dict__")
        except (AttributeError, TypeError):
            d = None
        if type(d) is not dict:
            raise TypeError(
                f"cannot install cached methods on {type(obj).__module__}.{type(obj).__qualname__}: its "
                "instances have no __dict__, so their attributes cannot be set (a C type or a __slots__ "
                "class). Wrap it instead: CachedProxy(obj, ...)"
            )
        # Callables copied here from another instance's dict (a __copy__ that
        # copies __dict__) are that instance's: drop them before choosing.
        _instance.disown(obj, d)
        plan = []
        for name in names or instance_methods(obj, opts):
            value = named_method(obj, name, opts)
            # A bound method of a plain function is never cached already (state_of would say None).
            plain = (type(value) is _MethodType and type(value.__func__) is _FunctionType
                     and "__proxycache__" not in value.__func__.__dict__)
            if not plain and state_of(value) is not None and _instance.belongs_to(value, obj):
                continue  # already cached: keep it (and its entries)
            plan.append((name, value))
    strict = bool(names)
    for name, value in plan:
        previous = _ABSENT if d is None else d.get(name, _ABSENT)
        if type(value) is _MethodType and value.__self__ is obj:
            # Hold the instance weakly: the callable lives in the instance's own dict.
            func = value.__func__
            cached = make_cached(func, opts, name=name, qualname=func.__qualname__,
                                 instance=obj, weak_instance=True, strict_ignore=strict)
        else:
            cached = make_cached(value, opts, name=name,
                                 qualname=f"{type(obj).__qualname__}.{name}",
                                 attrs_of=_weak_getter(obj), strict_ignore=strict)
        state = cached.__proxycache__
        state.replaced = previous
        _instance.install(obj, name, cached, d, state)
    return obj


def uncache_methods(obj: T, *names: str) -> T:
    """Undo ``cache_methods``: restore the original methods (all, or those named) and drop their caches."""
    d = _instance.instance_dict(obj)
    if d is None:
        return obj
    _instance.disown(obj)
    installed = {n: v for n, v in d.items() if isinstance(n, str) and (state := state_of(v)) is not None
                 and state.replaced is not None}
    unknown = [n for n in names if n not in installed]
    if unknown:
        raise KeyError(
            f"uncache_methods: {unknown[0]!r} is not a method cache_methods installed on this "
            f"{type(obj).__qualname__}; installed: {', '.join(sorted(installed)) or '(none)'}"
        )
    for name in names or tuple(installed):
        cached = installed[name]
        previous = state_of(cached).replaced  # type: ignore[union-attr]
        cached.cache_clear()
        if previous is _ABSENT:
            del d[name]
        else:
            d[name] = previous
    _instance.remove_shim_if_unused(obj)
    return obj


def _class_method(obj: Any, name: str, value: Any) -> bool:
    """Whether *value* (``obj.<name>``) is the class's plain function bound to *obj*, nothing the instance holds."""
    if type(value) is not _MethodType or value.__self__ is not obj:
        return False
    func = value.__func__
    # Read on the class, a plain function is itself (a staticmethod or classmethod is not).
    return (type(func) is _FunctionType and "__proxycache__" not in func.__dict__
            and getattr(type(obj), name, None) is func)


def _weak_getter(obj: Any) -> Any:
    import weakref

    try:
        return weakref.ref(obj)
    except TypeError:
        return lambda: obj


_instance.recache_with = cache_methods  # disown() recaches with it; this module imports _instance
