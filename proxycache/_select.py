"""Which attributes get cached, for every entry point: the rule, the default skip-list and the candidates.

One rule, asked by all four entry points:

- by name (:meth:`Selection.wants`): never a dunder; ``exclude=`` wins;
  then ``include=`` (names, globs over public names, a predicate) or, without
  it, every public name not in :data:`DEFAULT_SKIP`; dotted ``include=``
  entries reach into nested objects (:meth:`Selection.nested_paths`);
- by kind (:meth:`Selection.takes`): a callable that is not a class, not a
  property (or other data descriptor) of the type, and not a generator
  function unless ``streams="replay"``;
- a name given to ``cache_methods`` skips the name rule but not the kind
  rule (:func:`named_method`); ``@cached_method`` applies the kind rule to
  the function it decorates (:func:`check_decorated`).

The candidates an eager entry point looks at: an instance's attributes
(:func:`instance_methods`, for ``cache_methods``) and a class's plain
methods (:func:`class_methods`, for ``CachingMixin``). ``CachedProxy``
asks :meth:`Selection.caches` for each attribute on first access.
"""

from __future__ import annotations

import abc
import fnmatch
import inspect
import logging
import types
from collections.abc import Callable
from typing import Any

from ._make import state_of
from ._options import Options
from ._skiplist import skipped_by_default

log = logging.getLogger("proxycache")

def is_public(name: str) -> bool:
    return not name.startswith("_")


def is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


class Selection:
    """The rule for one set of options: which attributes become cached methods.

    Made once per options object (:func:`selection_of`): an entry point asks
    it for every attribute it considers.
    """

    def __init__(self, options: Options) -> None:
        include, exclude = options.include, options.exclude
        #: Generator functions are cached only when their streams are replayed.
        self.replays = options.streams == "replay"
        self.include_fn: Callable[[str], bool] | None = None
        self.include: tuple[str, ...] | None = None
        self.nested: dict[str, list[str]] = {}
        if callable(include):
            self.include_fn = include
        elif include is not None:
            top: list[str] = []
            for entry in include:
                head, dot, rest = entry.partition(".")
                if dot:
                    self.nested.setdefault(head, []).append(rest)
                else:
                    top.append(entry)
            self.include = tuple(top)
        self.exclude_fn: Callable[[str], bool] | None = exclude if callable(exclude) else None
        self.exclude: tuple[str, ...] = () if exclude is None or callable(exclude) else tuple(exclude)
        self.logged: set[str] | None = None  # made on the first skip: most selections never need it
        #: The parameters of the methods a proxy with these options caches, per class (see proxy_ignore_is_strict).
        self.parameters_by_class: dict[type, frozenset[str] | None] = {}
        # Names and globs only: the answer per name never changes, and every
        # new proxy of a class asks again for each method.
        self._wanted: dict[str, bool] | None = {} if self.include_fn is None and self.exclude_fn is None else None

    # -- by name --

    def wants(self, name: str) -> bool:
        """Whether attribute *name*, if it is a method, is to be cached (the name rule)."""
        wanted = self._wanted
        if wanted is None:
            return self._wants(name)
        known = wanted.get(name)
        if known is None:
            if len(wanted) >= 4096:  # objects that answer any name (xmlrpc) must not grow it for ever
                wanted.clear()
            known = wanted[name] = self._wants(name)
        return known

    def _wants(self, name: str) -> bool:
        if is_dunder(name):
            return False
        if self._excluded(name):
            return False
        if self.include_fn is not None:
            return bool(self.include_fn(name))
        if self.include is None:
            return is_public(name) and not self._skips(name)
        # Whatever include= matches is cached: DEFAULT_SKIP shapes only the default.
        return any(_match(pattern, name) for pattern in self.include)

    def _skips(self, name: str) -> bool:
        if not skipped_by_default(name):
            return False
        if self.logged is None:
            self.logged = set()
        if name not in self.logged:
            self.logged.add(name)
            log.debug(
                "not caching %s(): its name is in proxycache.DEFAULT_SKIP (it changes state or releases "
                "resources); name it in include= to cache it", name,
            )
        return True

    def nested_paths(self, name: str) -> list[str] | None:
        """Dotted paths below attribute *name*, when the include list reaches into it (and exclude does not drop it)."""
        if not self.nested:
            return None
        if self._excluded(name):
            return None
        return self.nested.get(name)

    def _excluded(self, name: str) -> bool:
        if self.exclude_fn is not None and self.exclude_fn(name):
            return True
        return bool(self.exclude) and any(_match(pattern, name) for pattern in self.exclude)

    # -- by kind --

    def takes(self, value: Any) -> bool:
        """Whether *value*, read from an instance, is a callable these options cache (all but the property check)."""
        if type(value) is _MethodType:  # the common case, read without the general checks below
            func = value.__func__
        elif not callable(value) or isinstance(value, type):
            return False  # a class: each call builds a new object
        else:
            func = getattr(value, "__func__", value)
        if type(func) is _FunctionType and not func.__code__.co_flags & _GENERATOR_FLAGS:
            return True  # the common case, without inspect's unwrapping (on every first access)
        return self.replays or uncacheable_reason(value) is None

    def caches(self, owner_type: type, name: str, value: Any) -> bool:
        """The whole rule for attribute *name* of an instance of *owner_type*, already read as *value*.

        What ``CachedProxy`` asks on each first access. The property check
        comes last: it walks the type, and most attributes that are not
        methods fail the cheaper checks first.
        """
        # The memo of the name rule and the common kind (a method of a plain function) read here,
        # not through wants() and takes(): two calls fewer on every first access.
        wanted = self._wanted
        known = wanted.get(name) if wanted is not None else None
        if known is None:
            known = self.wants(name)
        if not known:
            return False
        func = value.__func__ if type(value) is _MethodType else None
        if type(func) is not _FunctionType or func.__code__.co_flags & _GENERATOR_FLAGS:
            if not self.takes(value):
                return False
        elif type(owner_type) in _PLAIN_METACLASSES and getattr(owner_type, name, None) is func:
            # The class answers with the method's own function: what it finds first is that function
            # (a plain class's read of a descriptor gives the descriptor, or what its __get__ makes of
            # the class), not a property. About 1,500 instructions fewer than is_property, every first access.
            return True
        return not is_property(owner_type, name)


def proxy_ignore_is_strict(selection: Selection, options: Options, name: str, method: Any, qualname: str) -> bool:
    """Whether ``ignore=`` must name only parameters of *method*, the proxy's attribute *name*; or fail.

    ``ignore=`` on a proxy applies to the methods that take each name, but a name include= gives exactly
    is one method, checked as ``cache_methods`` checks it. A name no method of the proxy's object takes
    fails here, at the first access, with *method*'s parameters.
    """
    from . import _plan  # loaded with the first cached method: not by making a proxy

    ignore = options.ignore
    if selection.include is not None and name in selection.include:
        return True
    signature = _plan._signature(method, False)
    if signature is None or ignore <= signature.parameters.keys():
        return False
    owner = getattr(method, "__self__", None)
    known, cls = selection.parameters_by_class, type(owner)
    if owner is None or isinstance(owner, type):
        return False  # not a method of the proxy's object: nothing to compare with
    if cls not in known:
        if len(known) > 256:
            known.clear()  # classes made on the fly must not grow it for ever
        known[cls] = _parameters_of_methods(selection, cls, _plan._signature)
    taken = known[cls]
    if taken is None:
        return False  # some method's parameters are unknown: it may take them
    unknown = sorted(ignore - taken - signature.parameters.keys())
    if unknown:
        raise _plan.ignore_error(signature, unknown, f"which no method of this proxy takes ({qualname}() neither)")
    return False


def _parameters_of_methods(selection: Selection, cls: type, signature_of: Any) -> frozenset[str] | None:
    """The parameter names of every method of *cls* the selection takes; None when one's are unknown."""
    names: set[str] = set()
    for attr in dir(cls):
        if not selection.wants(attr):
            continue
        try:
            value = inspect.getattr_static(cls, attr)
        except AttributeError:
            continue
        if isinstance(value, (staticmethod, classmethod)) or inspect.isfunction(value):
            signature = signature_of(getattr(value, "__func__", value), not isinstance(value, staticmethod))
        elif isinstance(value, type) or not callable(value) or is_property(cls, attr):
            continue
        else:
            return None  # a callable object or a C method: its parameters may be unknown
        if signature is None:
            return None
        names.update(signature.parameters)
    return frozenset(names)


def nested_options(options: Options, paths: list[str]) -> Options:
    """The options of a nested object reached by dotted paths: the rest of those paths; ``exclude=`` stays above."""
    return options.replace(include=tuple(paths), exclude=None)


def selection_of(options: Options) -> Selection:
    """The :class:`Selection` of *options*, made once per options object (and kept on it)."""
    selection: Selection | None = options._selection
    if selection is None:
        selection = Selection(options)
        object.__setattr__(options, "_selection", selection)
    return selection


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def _match(pattern: str, name: str) -> bool:
    if _is_glob(pattern):
        # Globs select public names only; name a private method exactly to cache it.
        return is_public(name) and fnmatch.fnmatchcase(name, pattern)
    return pattern == name


# -- the kind of an attribute --

_FunctionType = types.FunctionType
_MethodType = types.MethodType
_GENERATOR_FLAGS = inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR


def uncacheable_reason(value: Any, options: Options | None = None) -> str | None:
    """Why the callable *value* must not be wrapped at all with *options*, or None."""
    func = getattr(value, "__func__", value)
    if type(func) is _FunctionType and not func.__code__.co_flags & _GENERATOR_FLAGS:
        return None
    if options is not None and options.streams == "replay":
        return None  # its streams are recorded and replayed
    if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
        return "it is a generator function (its results are one-shot iterators)"
    return None


_NOT_FOUND: Any = object()
#: Metaclasses that do not shadow a class's __dict__ (what getattr_static guards against).
_PLAIN_METACLASSES = frozenset({type, abc.ABCMeta})
#: What methods are in a class body: no __set__, no __delete__.
_NOT_DATA_DESCRIPTORS = frozenset({types.FunctionType, staticmethod, classmethod, types.BuiltinFunctionType,
                                   types.WrapperDescriptorType, types.MethodDescriptorType})


def is_property(owner_type: type, name: str) -> bool:
    """True when *name* is a data descriptor (property and the like) on the type."""
    # The class's own MRO first, as inspect.getattr_static looks (it costs
    # ten times more, on every first access of a method); a name found only
    # on the metaclass, or a class whose metaclass shadows __dict__, goes to
    # getattr_static itself.
    attr: Any = _NOT_FOUND
    if type(owner_type) in _PLAIN_METACLASSES:
        # A mappingproxy's `in` and `[]` go straight to the dict; its get() is a method call. The class's
        # own dict first, without a loop: that is where a method looked up on each first access mostly is.
        own = owner_type.__dict__
        if name in own:
            attr = own[name]
        else:
            for klass in owner_type.__mro__[1:]:
                own = klass.__dict__
                if name in own:
                    attr = own[name]
                    break
    if attr is _NOT_FOUND:
        try:
            attr = inspect.getattr_static(owner_type, name)
        except AttributeError:
            return False
    kind = type(attr)
    if kind in _NOT_DATA_DESCRIPTORS:
        return False  # hasattr on a type that lacks the name formats an AttributeError: twice per method
    return hasattr(kind, "__set__") or hasattr(kind, "__delete__") or isinstance(attr, property)


# -- the candidates of the eager entry points --


def instance_methods(obj: Any, options: Options) -> list[str]:
    """The names ``cache_methods(obj)`` caches without names: every attribute the rule takes, not yet cached."""
    selection = selection_of(options)
    owner_type = type(obj)
    names = []
    for name in dir(obj):
        # Properties before reading: a property's getter may do work or fail.
        if not selection.wants(name) or is_property(owner_type, name):
            continue
        try:
            value = getattr(obj, name)
        except Exception:
            continue
        if selection.takes(value) and state_of(value) is None:  # a method cached already keeps its cache
            names.append(name)
    return names


def named_method(obj: Any, name: str, options: Options) -> Any:
    """The attribute *name* that ``cache_methods(obj, name)`` is to cache, or a clear error.

    A name given is cached whatever ``include``/``exclude`` and
    :data:`DEFAULT_SKIP` say; it must still be a method.
    """
    if not isinstance(name, str):
        raise TypeError(f"cache_methods takes method names as strings, not {name!r}")
    if name.startswith("__") and is_dunder(name):  # a call fewer for most names: this runs per instance
        raise TypeError(
            f"cache_methods: {_where(obj, name)} is a special method: Python looks those up on the class, so "
            "a cache on the instance would never be called; cache the regular methods it uses"
        )
    if is_property(type(obj), name):
        raise TypeError(
            f"cache_methods: {_where(obj, name)} is a property, not a method; only methods are cached "
            "(CachedProxy(obj) caches every public method and leaves attributes alone)"
        )
    try:
        value = getattr(obj, name)
    except AttributeError:
        raise AttributeError(
            f"cache_methods: {type(obj).__qualname__} object has no attribute {name!r}; name an "
            "existing method, or wrap the object in CachedProxy(obj, include=[...]), which caches "
            "methods when they are first looked up (also ones that appear later)"
        ) from None
    if type(value) is _MethodType:  # always callable, never a class
        func = value.__func__
        if type(func) is _FunctionType and not func.__code__.co_flags & _GENERATOR_FLAGS:
            return value  # a plain method: uncacheable_reason would say None
    elif not callable(value) or isinstance(value, type):
        kind = "a class" if isinstance(value, type) else f"{type(value).__qualname__}, not callable"
        raise TypeError(
            f"cache_methods: {_where(obj, name)} is not a method (it is {kind}); name only methods "
            "(CachedProxy(obj) caches every public method and leaves other attributes alone)"
        )
    reason = uncacheable_reason(value, options)
    if reason:
        raise TypeError(f"cache_methods: cannot cache {_where(obj, name)}: {reason}")
    return value


def _where(obj: Any, name: str) -> str:
    return f"{type(obj).__qualname__}.{name}"


def class_methods(
    cls: type, options: Options, skip: tuple[type, ...], unwrap: Callable[[Any], Any]
) -> list[tuple[str, Any, bool, bool]]:
    """The plain methods of *cls*, as normal lookup finds them: ``(name, function, taken, unwrapped)``.

    What ``CachingMixin`` chooses from, with *options*' rule's answer
    (*taken*). Plain means a function, or a method of a C base class
    (``sqlite3.Connection.execute``): properties, class and static methods
    and nested classes are left as they are. Classes in *skip* are passed
    over. *unwrap* gives the function an attribute stands for (the
    attribute itself, or None to leave it out); *unwrapped* says it was
    another object.
    """
    selection = selection_of(options)
    found: dict[str, Any] = {}
    for klass in cls.__mro__:
        if klass in skip:
            continue
        for name, attr in vars(klass).items():
            if name not in found:
                found[name] = attr
    methods = []
    for name, attr in found.items():
        func = unwrap(attr)
        if func is not None and _is_plain_method(func):
            taken = selection.wants(name) and uncacheable_reason(func, options) is None
            methods.append((name, func, taken, func is not attr))
    return methods


def _is_plain_method(attr: Any) -> bool:
    return inspect.isfunction(attr) or isinstance(attr, types.MethodDescriptorType)


def check_decorated(func: Any, options: Options) -> None:
    """Fail clearly when ``@cached_method`` is put on something that is not a cacheable method."""
    if isinstance(func, (staticmethod, classmethod)):
        func = func.__func__
    elif isinstance(func, property) or hasattr(type(func), "__set__"):
        raise TypeError(
            f"cached_method cannot wrap a property or other data descriptor ({func!r}); to cache a "
            "computed attribute use functools.cached_property, or put @property above @cached_method"
        )
    elif not callable(func):
        raise TypeError(f"cached_method needs a function, not {func!r}")
    reason = uncacheable_reason(func, options)
    if reason:
        raise TypeError(f"cannot cache {getattr(func, '__qualname__', func)!r}: {reason}")


def refuse_unselecting(options: Options, where: str) -> None:
    """Fail clearly on ``include=``/``exclude=`` an entry point cannot honour, at wrap time.

    ``@cached_method`` caches the one method it decorates: a choice among
    methods means nothing there. Dotted ``include=`` paths reach nested
    objects only through ``CachedProxy``, which wraps them without changing
    them; ``cache_methods`` and ``CachingMixin`` change one object or class.
    """
    if where == "cached_method()":
        given = [name for name in ("include", "exclude") if getattr(options, name) is not None]
        if given:
            raise TypeError(
                f"cached_method() caches the method it decorates: {' and '.join(f'{n}=' for n in given)} "
                "choose among methods, so leave them out (they are for CachedProxy, cache_methods and CachingMixin)"
            )
        return
    nested = selection_of(options).nested
    if nested:
        path = next(f"{head}.{rest}" for head, rests in nested.items() for rest in rests)
        raise TypeError(
            f"{where}: include={path!r} is a dotted path into a nested object, which only CachedProxy follows; "
            f"wrap the client in CachedProxy(obj, include=[{path!r}]), or cache the nested object itself "
            f"(cache_methods(obj.{path.rpartition('.')[0]}, {path.rpartition('.')[2]!r}))"
        )
