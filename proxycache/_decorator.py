"""``@cached_method`` and the descriptor it shares with ``CachingMixin``."""

from __future__ import annotations

import functools
import inspect
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar, overload

from . import _instance
from ._make import make_cached, state_of
from ._options import Options, check_option_names, make_options
from ._outcome import trim
from ._plan import check_ignore, method_signature
from ._select import check_decorated, refuse_unselecting

if TYPE_CHECKING:
    from .typing import CachedMethodDescriptor as TypedDescriptor
    from .typing import MethodDecorator

_weakref = weakref.ref
_getattr = object.__getattribute__
_get_ident = threading.get_ident
_partial_new = functools.partial.__new__

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")


class CachedMethodDescriptor:
    """A method whose calls are cached per instance.

    On first access through an instance it builds that instance's cached
    callable and stores it in the instance's ``__dict__``, where later
    lookups find it directly. Accessed through the class it is itself
    callable as ``Class.method(instance, ...)``.
    """

    def __init__(self, func: Callable[..., Any], options: Options, name: str | None = None) -> None:
        self.func = func
        self.options = options
        self.name: str = name or str(getattr(func, "__name__", "method"))
        self.owner: type | None = None
        #: True when CachingMixin made it (subclasses re-wrap it with their options).
        self.from_mixin = False
        self.side = _instance.SideTable()
        self._resolves: weakref.WeakKeyDictionary[type, bool] = weakref.WeakKeyDictionary()
        self._resolves_data: dict[Any, bool] = self._resolves.data  # type: ignore[attr-defined]
        self._lock = threading.Lock()
        #: The thread reading what an instance holds under this name itself (``_own``, under the lock).
        self._prober: int | None = None
        # As functools.update_wrapper, but its func.__dict__ copied attribute by attribute: reading
        # self.__dict__ would make CPython 3.11 and 3.12 build the dict, and then every read of
        # self's attributes (first accesses make about fifteen) take the generic path.
        for name, value in getattr(func, "__dict__", {}).items():
            setattr(self, name, value)
        functools.update_wrapper(self, func, updated=())

    def __set_name__(self, owner: type, name: str) -> None:
        self.owner = owner
        self.name = name
        # A __copy__ that copies __dict__ must not hand the copy this instance's callables.
        _instance.guard_copies(owner)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        prober = self._prober
        if prober is not None and prober == _get_ident():
            return None  # to _own: the instance holds nothing under the name
        # Runs only on the first access (later ones find the callable in the
        # instance's dict), through super(), or for __slots__ instances. What
        # it hands out holds the instance strongly, as a bound method does, so
        # Client().method() works although the stored callable holds it weakly.
        func = self.cached_for(instance)
        if func.__proxycache__.is_async:
            return BoundCached(func, instance)
        bound = _partial_new(BoundCached, func)  # BoundCached(func, instance) without its Python __new__
        bound.__self__ = instance
        bound.__func__ = func
        return bound

    def __call__(self, instance: Any, /, *args: Any, **kwargs: Any) -> Any:
        return self.cached_for(instance)(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<cached method {getattr(self.func, '__qualname__', self.name)}>"

    def cache_parameters(self) -> dict[str, Any]:
        """The options this method is cached with."""
        return self.options.parameters()

    def _resolves_to_me(self, cls: type) -> bool:
        """Whether normal lookup of the name on *cls* finds this descriptor (not an override)."""
        known = self._resolves_data.get(_weakref(cls))  # WeakKeyDictionary.get is a Python call
        if known is None:
            found = next((k.__dict__[self.name] for k in cls.__mro__ if self.name in k.__dict__), None)
            known = self._resolves[cls] = found is self
        return known

    def cached_for(self, instance: Any) -> Any:
        """This instance's cached callable, built on first use."""
        # Written out (the instance's dict, the lock): this runs on every first access.
        if _instance.DICT_UNREAD:
            d = None
            usable = type(instance).__dictoffset__ != 0  # instances have a __dict__ (__slots__ ones may not)
        else:
            try:
                d = _getattr(instance, "__dict__")
            except (AttributeError, TypeError):
                d = None
            usable = type(d) is dict
        if usable:
            # Reached through super() from an override, the instance's entry
            # under the plain name belongs to the override: use another key.
            key = self.name if self._resolves_to_me(type(instance)) else self._super_key()
            if d is not None:  # what super() finds on every call after the first, told without the lock
                func = d.get(key)
                if func is not None and state_of(func) is not None and _instance.belongs_to(func, instance):
                    return func
            lock = self._lock
            lock.acquire()
            try:
                func = d.get(key) if d is not None else self._own(instance, key)
                if func is None or state_of(func) is None or not _instance.belongs_to(func, instance):
                    func = self._build(instance)
                    _instance.install(instance, key, func, d, func.__proxycache__)
            finally:
                lock.release()
            return func
        func = self.side.get(instance)
        if func is None:
            _instance.require_weakref(instance)
            func = self.side.setdefault(instance, self._build(instance))
        return func

    def _own(self, instance: Any, key: str) -> Any:
        """What *instance* holds under *key* itself, or None (called under the lock).

        Read as an attribute, leaving ``__dict__`` unread (see ``_instance.DICT_UNREAD``).
        Under the plain name, lookup comes back to this descriptor when the
        instance holds nothing: its ``__get__`` answers None to this thread then.
        """
        if key != self.name:
            try:
                return _getattr(instance, key)
            except AttributeError:
                return None
        self._prober = _get_ident()
        try:
            return _getattr(instance, key)
        finally:
            self._prober = None

    def _super_key(self) -> str:
        # The module keeps two bases of one qualname (a subclass named like
        # its parent) apart; cache_info reports the part after the colon.
        owner = f"{self.owner.__module__}:{self.owner.__qualname__}" if self.owner else "?"
        return f"{_instance.SUPER_PREFIX}{owner}.{self.name}"

    def _build(self, instance: Any) -> Any:
        return make_cached(
            self.func,
            self.options,
            name=self.name,
            qualname=getattr(self.func, "__qualname__", self.name),
            instance=instance,
            weak_instance=True,
            # A mixin applies ignore= across many methods: only those that take the parameters.
            strict_ignore=not self.from_mixin,
        )


class BoundCached(functools.partial):  # type: ignore[type-arg]
    """A per-instance cached callable bound strongly to its instance.

    Calls go straight to the cached callable (``partial.__call__`` is C);
    ``cache_info()`` and the other attributes are the cached callable's.
    """

    # Slots: partial's own __dict__ would be one more object for every first access.
    __slots__ = ("__func__", "__self__")
    __self__: Any
    __func__: Any

    def __new__(cls, func: Any, instance: Any) -> BoundCached:
        if func.__proxycache__.is_async:  # a cached callable of ours (a function: its dict answers)
            # The instance must outlive the coroutine, not just its creation.
            self = _partial_new(cls, _await_holding, func, instance)
        else:
            self = _partial_new(cls, func)  # not super().__new__: a super object costs more than the rest
        self.__self__ = instance
        self.__func__ = func
        return self

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.signature(self.__func__)

    def __getattr__(self, name: str) -> Any:
        if name == "__func__":
            raise AttributeError(name)
        return getattr(self.__func__, name)

    def __repr__(self) -> str:
        return f"<bound cached method {self.__func__.__qualname__} of {object.__repr__(self.__self__)}>"


async def _await_holding(func: Callable[..., Any], instance: Any, /, *args: Any, **kwargs: Any) -> Any:
    try:
        return await func(*args, **kwargs)
    except BaseException as error:
        # The one frame of ours a traceback shows between the caller and the method.
        raise error.with_traceback(trim(error.__traceback__))  # noqa: B904  # the same error, not a new one


@overload
def cached_method(func: staticmethod[P, R], /) -> staticmethod[P, R]: ...  # type: ignore[overload-overlap]


@overload
def cached_method(func: classmethod[S, P, R], /) -> classmethod[S, P, R]: ...


@overload
def cached_method(func: Callable[Concatenate[S, P], R], /) -> TypedDescriptor[S, P, R]: ...


@overload
def cached_method(func: None = None, /, **options: Any) -> MethodDecorator: ...


def cached_method(func: Any = None, /, **options: Any) -> Any:
    """Cache a method of your own class, per instance, without keeping instances alive.

    Use bare (``@cached_method``) or with options (``@cached_method(maxsize=32)``):
    the keyword options every entry point takes (``maxsize``, ``ttl``,
    ``policy``, ``include``, ``exclude``, ``ignore``, ``key_attrs``, ``key``,
    ``store``, ...): see the Options page.
    On a ``classmethod`` or ``staticmethod`` (put ``@cached_method`` above it)
    there is one cache shared by all callers; for a classmethod the class is
    part of the key.
    """
    check_option_names(options, "cached_method()")
    opts = make_options(**options)
    refuse_unselecting(opts, "cached_method()")
    if func is None:
        return lambda f: _decorate(f, opts)
    if not callable(func) and not hasattr(type(func), "__get__"):
        raise TypeError(
            f"cached_method() takes options as keywords only (got {func!r} positionally); "
            "write @cached_method(maxsize=...)"
        )
    return _decorate(func, opts)


def _decorate(func: Any, options: Options) -> Any:
    check_decorated(func, options)
    if isinstance(func, (staticmethod, classmethod)):
        inner = func.__func__
        cached = make_cached(inner, options, name=inner.__name__, qualname=inner.__qualname__)
        return type(func)(cached)
    # The method is known now: check ignore= at decoration, not at first call.
    check_ignore(method_signature(func), options, getattr(func, "__qualname__", repr(func)))
    return CachedMethodDescriptor(func, options)


def find_cached(obj: Any) -> dict[str, Any]:
    """Cached callables built for *obj* by descriptors (dict or side table) and shared ones on classes."""
    found = dict(_instance.cached_in_dict(obj))
    is_class = isinstance(obj, type)
    cls = obj if is_class else type(obj)
    for klass in cls.__mro__:
        for name, attr in vars(klass).items():
            if isinstance(attr, CachedMethodDescriptor):
                func = None if is_class else attr.side.get(obj)
            elif isinstance(attr, (staticmethod, classmethod)) and state_of(attr.__func__) is not None:
                func = attr.__func__
            else:
                continue
            if func is not None:
                # The nearest class answers to the plain name; the methods it
                # overrides (reached through super()) to Owner.name, as in the dict.
                found.setdefault(name if name not in found else f"{klass.__qualname__}.{name}", func)
    return found
