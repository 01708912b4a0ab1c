"""``CachingMixin``: subclass a client and its public methods are cached per instance."""

from __future__ import annotations

from typing import Any, ClassVar

from ._decorator import CachedMethodDescriptor
from ._options import OPTION_NAMES, Options, check_option_names, make_options
from ._select import class_methods, refuse_unselecting


class CachingMixin:
    """Put first in the bases: ``class Mine(CachingMixin, Client, maxsize=256): ...``.

    Options are class keywords (``maxsize``, ``ttl``, ``policy``, ``include``,
    ``key_attrs``, ``store``, ...: see the Options page); subclasses inherit
    them and may override any. Each instance gets its own caches, created lazily on first use and
    freed with the instance, so the client's ``__init__`` need not be yours.
    Calls the object makes to its own methods go through the caches too.
    Only plain methods are cached: properties, class and static methods and
    nested classes are left as they are.
    """

    __proxycache_options__: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **keywords: Any) -> None:
        where = f"class {cls.__name__}(CachingMixin, ...)"
        options = {k: v for k, v in keywords.items() if k in OPTION_NAMES}
        others = {k: v for k, v in keywords.items() if k not in OPTION_NAMES}
        given = {**cls.__proxycache_options__, **options}
        resolved = make_options(**given)
        refuse_unselecting(resolved, where)
        # Class keywords that are not ours belong to the client's own bases.
        try:
            super().__init_subclass__(**others)
        except TypeError:
            check_option_names(others, where)  # nobody took them: say which option was meant
            raise
        cls.__proxycache_options__ = given
        for name, func, taken, inherited in class_methods(cls, resolved, (CachingMixin, object), _own_unwrap(cls)):
            if taken:
                descriptor = CachedMethodDescriptor(func, resolved, name)
                descriptor.__set_name__(cls, name)
                descriptor.from_mixin = True
                setattr(cls, name, descriptor)
            elif inherited:
                # A base cached it, this class's include/exclude does not: plain again.
                setattr(cls, name, func)

    @classmethod
    def cache_options(cls) -> Options:
        """The options this class caches with."""
        return make_options(**cls.__proxycache_options__)


def _own_unwrap(cls: type) -> Any:
    """What a class attribute stands for, to *cls*'s mixin: a base's mixin-made cached method is its function again."""

    def unwrap(attr: Any) -> Any:
        if isinstance(attr, CachedMethodDescriptor):
            if not attr.from_mixin or attr.owner is cls:
                return None  # an explicit @cached_method keeps its own options
            return attr.func  # re-wrapped with this class's options
        return attr

    return unwrap
