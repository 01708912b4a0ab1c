"""Types for annotating code that uses proxycache.

``CachedCallable[P, R]`` is what every entry point installs in place of a
method: callable like the method, plus the ``cache_*`` controls. Methods
decorated with ``@cached_method`` are typed as such (``BoundCachedMethod``
through an instance); reach the controls of a method cached by a proxy, in
place or by the mixin through :func:`proxycache.cache_of` or a ``typing.cast``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar, overload

from typing_extensions import Self

from ._stats import CacheInfo

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
S = TypeVar("S")
T = TypeVar("T")
# Covariant on purpose, against how the descriptor uses it (see CachedMethodDescriptor).
S_co = TypeVar("S_co", covariant=True)

__all__ = ["BoundCachedMethod", "CacheInfo", "CachedCallable", "CachedMethodDescriptor", "MethodDecorator"]


class CachedCallable(Protocol[P, R_co]):
    """A cached method (or function): call it as the original, control its cache."""

    # Any parameters: what the entry point wrapped, which takes ``self`` or not
    # (see BoundCachedMethod for the one entry point typed directly).
    @property
    def __wrapped__(self) -> Callable[..., R_co]:
        """The original callable, uncached.

        As with ``functools.lru_cache``: for a method cached per instance
        (``cache_methods``, ``CachingMixin``, ``@cached_method``) it is the
        plain function, called with the instance first; for a ``CachedProxy``
        method, which wraps what the proxy read from the client (a bound
        method), it is that, called without it.
        """
        ...

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...

    def cache_info(self) -> CacheInfo:
        """Hits, misses, maxsize and current size, as in ``functools``."""
        ...

    def cache_stats(self) -> dict[str, Any]:
        """``cache_info()`` plus store faults, results returned uncached and the policy."""
        ...

    def cache_clear(self) -> None:
        """Drop every entry and reset the statistics."""
        ...

    def cache_parameters(self) -> dict[str, Any]:
        """The options the method was cached with."""
        ...

    def cache_invalidate(self, *args: P.args, **kwargs: P.kwargs) -> bool:
        """Drop the entry a call with these arguments would use; True if there was one."""
        ...

    def cache_refresh(self, *args: P.args, **kwargs: P.kwargs) -> R_co:
        """Call the method now and store its result, whatever the cache holds."""
        ...


class BoundCachedMethod(CachedCallable[P, R_co], Protocol[P, R_co]):
    """A ``@cached_method`` read through an instance: a :class:`CachedCallable` whose
    ``__wrapped__`` is the plain function, called with the instance first, as ``functools.lru_cache``'s."""

    # The instance as Any: a subclass's override is typed for the subclass,
    # and checkers must accept it where the base's method is expected.
    @property
    def __wrapped__(self) -> Callable[Concatenate[Any, P], R_co]:
        """The plain function, uncached: ``obj.method.__wrapped__(obj, ...)``."""
        ...


# S_co is covariant although __get__ and __call__ take it as a parameter: a
# subclass overrides a cached method with its own (S_co its own class), and
# type checkers accept that only if the descriptor for the subclass is one for
# the base, as they accept it for plain methods, whose ``self`` they read
# covariantly in an override. Contravariant, pyright rejects every override.
class CachedMethodDescriptor(Protocol[S_co, P, R_co]):  # type: ignore[misc]  # pyright: ignore[reportInvalidTypeVarUse]
    """How type checkers see a method decorated with ``@cached_method``.

    Read through an instance it is a :class:`BoundCachedMethod` (a
    :class:`CachedCallable` without ``self``); read through the class it is
    callable with the instance first, as a plain function would be.
    """

    # A class method (``@cached_method`` above ``@classmethod``): type checkers
    # pass the function with ``cls: type[T]`` first; bound on any access.
    @overload
    def __get__(
        self: CachedMethodDescriptor[type[T], P, R_co], instance: object, owner: type[T] | None = None, /
    ) -> CachedCallable[P, R_co]: ...

    # A method read through its class (or a subclass): the descriptor itself.
    @overload
    def __get__(self, instance: None, owner: type[S_co], /) -> Self: ...  # pyright: ignore[reportGeneralTypeIssues]

    # A static method (``@cached_method`` above ``@staticmethod``): checkers
    # pass the plain function, so its first parameter stands where ``self``
    # would. Read through a class that is not that parameter's type, it is the
    # cached function: every parameter, and the cache controls.
    @overload
    def __get__(
        self, instance: None, owner: type[Any] | None = None, /
    ) -> CachedCallable[Concatenate[S_co, P], R_co]: ...

    @overload
    def __get__(
        self,
        instance: S_co,  # type: ignore[misc]  # pyright: ignore[reportGeneralTypeIssues]
        owner: type[Any] | None = None,
        /,
    ) -> BoundCachedMethod[P, R_co]: ...

    # The static method read through an instance.
    @overload
    def __get__(
        self, instance: object, owner: type[Any] | None = None, /
    ) -> CachedCallable[Concatenate[S_co, P], R_co]: ...

    def __call__(
        self,
        instance: S_co,  # type: ignore[misc]  # pyright: ignore[reportGeneralTypeIssues]
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R_co: ...

    @property
    def __wrapped__(self) -> Callable[Concatenate[S_co, P], R_co]:
        """The plain function, uncached."""
        ...

    def cache_parameters(self) -> dict[str, Any]:
        """The options the method is cached with."""
        ...


class MethodDecorator(Protocol):
    """What ``cached_method(**options)`` returns: a decorator for one method."""

    @overload
    def __call__(self, func: staticmethod[P, R], /) -> staticmethod[P, R]: ...  # type: ignore[overload-overlap]

    @overload
    def __call__(self, func: classmethod[S, P, R], /) -> classmethod[S, P, R]: ...

    @overload
    def __call__(self, func: Callable[Concatenate[S, P], R], /) -> CachedMethodDescriptor[S, P, R]: ...
