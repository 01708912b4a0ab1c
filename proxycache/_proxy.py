"""``CachedProxy``: a ``wrapt.ObjectProxy`` that caches the wrapped object's methods."""

from __future__ import annotations

import inspect
from types import MethodType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import wrapt

from ._make import CACHE_API, make_cached
from ._options import CHECKED_DEFAULT, Options, make_options
from ._options import DEFAULT as DEFAULT_OPTIONS
from ._select import Selection, is_property, nested_options, proxy_ignore_is_strict, selection_of

T = TypeVar("T")
_proxy_init = wrapt.ObjectProxy.__init__
#: The selection of the default options, kept here: selection_of's table may be cleared.
_DEFAULT_SELECTION = selection_of(CHECKED_DEFAULT)

# Names the proxy keeps fresh copies of in its own dict: __module__ is a plain string on its class (type()
# reads it raw: no descriptor), and the copy in the proxy's dict wins, reporting the wrapped object's.
_FORWARDED = ("__module__",)


def _copy_forwarded(own: dict[str, Any], wrapped: Any) -> None:
    own["__module__"] = getattr(wrapped, "__module__", None)


class _WrappedDoc:
    """``__doc__`` of CachedProxy classes: the class's docstring on the class, the wrapped object's on a proxy.

    wrapt's C ``__getattribute__`` intercepts ``__doc__``; CachedProxy reads
    attributes with ``object.__getattribute__``, so a data descriptor in the
    class dict does the same, read live (``type.__doc__`` calls ``__get__``
    with no instance, which keeps ``help(CachedProxy)`` working).
    """

    __slots__ = ("doc",)

    def __init__(self, doc: str | None) -> None:
        self.doc = doc

    def __get__(self, proxy: Any, owner: type | None = None) -> Any:
        if proxy is None:
            return self.doc
        return proxy.__wrapped__.__doc__

    def __set__(self, proxy: Any, value: Any) -> None:
        proxy.__wrapped__.__doc__ = value

    def __delete__(self, proxy: Any) -> None:
        del proxy.__wrapped__.__doc__


class _ClassSignature:
    """``__signature__`` of CachedProxy classes, for ``inspect.signature`` and IPython's ``?``.

    Without it ``inspect.signature(CachedProxy)`` follows the class's
    ``__wrapped__`` slot and fails. On a proxy it forwards to the wrapped
    object, so a proxy of a function keeps the function's signature.
    """

    def __get__(self, proxy: Any, owner: type | None = None) -> Any:
        if proxy is not None:
            return proxy.__wrapped__.__signature__  # AttributeError falls through to the wrapped object
        init = getattr(owner, "__init__", None)
        if init is None or init is CachedProxy.__init__:
            return _options_signature()
        own = inspect.signature(init)
        return own.replace(parameters=list(own.parameters.values())[1:])


def _options_signature() -> inspect.Signature:
    params = [inspect.Parameter("wrapped", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    for name, default in DEFAULT_OPTIONS.parameters().items():
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default))
    return inspect.Signature(params)


class _ProxyType(type):
    """The class of CachedProxy classes: keeps ``help(CachedProxy)`` to what proxycache adds.

    pydoc lists ``dir(cls)``; wrapt's sixty-odd forwarding dunders ("Return
    abs(self)") would bury the docstring. Proxies themselves are unaffected:
    ``dir(proxy)`` is the wrapped object's.
    """

    def __dir__(cls) -> list[str]:
        names = {"__init__", "__wrapped__"}
        for klass in cls.__mro__:
            if klass.__module__.startswith(("wrapt", "_wrappers", "builtins", "typing")):
                continue
            names.update(n for n in vars(klass) if not n.startswith(("_self_", "__")) or n in _HELP_DUNDERS)
        return sorted(names)

    # Each class's own docstring (its _WrappedDoc read with no proxy). pydoc
    # reads __doc__ past the class's dict, from the metaclass: without this
    # the metaclass's docstring would stand for every CachedProxy class.
    @property
    def __doc__(cls) -> str | None:
        doc = cls.__dict__.get("__doc__")
        return doc.__get__(None, cls) if isinstance(doc, _WrappedDoc) else doc

    @__doc__.setter
    def __doc__(cls, value: Any) -> None:
        _TYPE_DOC.__set__(cls, value)


_TYPE_DOC: Any = type.__dict__["__doc__"]

# The special methods help() shows: how a proxy is made, copied and pickled.
_HELP_DUNDERS = frozenset({"__init__", "__wrapped__", "__copy__", "__deepcopy__", "__reduce__"})


class CachedProxy(wrapt.ObjectProxy[T], Generic[T], metaclass=_ProxyType):
    """Wraps *wrapped*; its public methods are cached per proxy, each on first access.

    ``CachedProxy(client, maxsize=256, ttl=60)``: the options are keywords,
    the same for every entry point (``maxsize``, ``ttl``, ``policy``,
    ``include``, ``exclude``, ``ignore``, ``key_attrs``, ``store``, ...; see
    the Options page). Everything else (attributes, properties, special
    methods, ``isinstance``, ``dir()``, equality, setting attributes) behaves
    as on *wrapped*. Calls that *wrapped* makes to its own methods do not
    pass through the proxy. Type checkers see the proxy as *wrapped*'s type;
    reach a method's cache with :func:`proxycache.cache_of` or
    :func:`proxycache.cache_info`.
    """

    # Why: a Python subclass of wrapt's C proxy gets CPython's generic
    # attribute hook, which calls the C __getattribute__ through a slot
    # wrapper (~50 ns per read). object.__getattribute__ finds the cached
    # callables in the proxy's own dict directly; misses still reach
    # __getattr__ below, which forwards to the wrapped object.
    __getattribute__ = object.__getattribute__

    if TYPE_CHECKING:
        # Type checkers see CachedProxy(client) as the client's own type,
        # methods and all: __new__ returns T, and __init__ is hidden from them
        # (below), since mypy reads a visible __init__ as "returns CachedProxy[T]".
        def __new__(cls, wrapped: T, **options: Any) -> T: ...  # type: ignore[misc]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A subclass's docstring is its own; its proxies still report the
        # wrapped object's. A __doc__ descriptor the subclass defines wins.
        doc = cls.__dict__.get("__doc__")
        if doc is None or isinstance(doc, str):
            type.__setattr__(cls, "__doc__", _WrappedDoc(doc))

    if not TYPE_CHECKING:

        def __init__(self, wrapped, **options):
            """Wrap *wrapped*; *options* are the caching options, as keywords."""
            if not options:
                opts = CHECKED_DEFAULT  # a proxy per request with default options: validated once
            else:
                opts = options.pop("_options", None)
                if opts is None:
                    opts = make_options(**options)
                else:
                    options = opts.parameters()
            if type(self) is CachedProxy:
                _proxy_init(self, wrapped)  # a super object costs more than the rest of this line
            else:
                super().__init__(wrapped)
            self._self_setup(opts, options)

    def _self_setup(self, opts: Options, options: dict[str, Any]) -> None:
        self._self_options: Options
        self._self_selection: Selection
        # Class-level defaults (set below the class): the path from the object the user wrapped, for
        # a nested proxy ("chat.completions."); for a nested proxy, the object the user wrapped (its
        # type names the methods, key_attrs are read from it), None for the outer proxy; the options
        # as given, for copies and pickles (never changed: a proxy given some has its own).
        self._self_prefix: str
        self._self_owner: Any
        self._self_given: dict[str, Any]
        # Into the proxy's own dict, not through wrapt's __setattr__ (a trip per name).
        own = self.__self_dict__
        own["_self_options"] = opts
        own["_self_selection"] = _DEFAULT_SELECTION if opts is CHECKED_DEFAULT else selection_of(opts)
        if options:
            own["_self_given"] = options
        if "__module__" not in own:  # wrapt's __init__ copied it, unless the object has none (or it never ran)
            _copy_forwarded(own, self.__wrapped__)

    def __getattr__(self, name: str) -> Any:
        if name[:6] == "_self_":  # half what startswith() costs, on every first access
            raise AttributeError(name)
        if name == "__wrapped__":
            # Only reached when the proxy was never initialised: wrapt raises
            # its own error (AttributeError, or ValueError after __init__).
            return super().__getattr__(name)
        wrapped = self.__wrapped__
        value = getattr(wrapped, name)
        own = self.__self_dict__  # read there, the proxy's own values skip CPython's attribute hook (~400 each)
        try:
            selection: Selection = own["_self_selection"]
        except KeyError:
            # A subclass whose __init__ set __wrapped__ without calling
            # CachedProxy.__init__ (wrapt allows it): default options.
            self._self_setup(make_options(), {})
            selection = own["_self_selection"]
        wanted = selection.caches(type(wrapped), name, value)
        if wanted and type(value) is MethodType and not selection.nested:
            # The common case, a method and no dotted include=, in one step. Stored into the proxy's
            # dict as object.__setattr__ would (no data descriptor has the name: __getattr__ runs).
            own[name] = cached = _cached_call(own, name, value, wrapped)
            return cached
        paths = selection.nested_paths(name)
        if paths is not None:
            if is_property(type(wrapped), name):
                # A property is read on every access (it may return another
                # object later); its proxy lasts while it returns the same one.
                known = own.get("_self_children", {}).get(name)
                if known is not None and known.__wrapped__ is value:
                    return known
                return self._self_child(name, value, paths, install=False)
            call = None
            if wanted and not inspect.isroutine(value):
                call = _cached_call(own, name, value, wrapped)
            return self._self_child(name, value, paths, call=call)
        if wanted:
            return self._self_cache(name, value, own, wrapped)
        return value

    def _self_cache(self, name: str, method: Any, own: dict[str, Any], wrapped: Any) -> Any:
        cached = _cached_call(own, name, method, wrapped)
        if type(method) is MethodType or inspect.isroutine(method):  # the common case first: cheaper
            own[name] = cached  # as in __getattr__
            return cached
        # A callable object (xmlrpc's _Method, a functools.partial): its calls
        # are cached, and its attributes (more methods, dotted remote names)
        # stay reachable through a callable proxy of it.
        return self._self_child(name, method, None, call=cached)

    def _self_child(
        self, name: str, value: Any, paths: list[str] | None, install: bool = True, call: Any = None
    ) -> CachedProxy[Any]:
        # Dotted paths narrow the child to them; a cached callable object's
        # child (paths None) chooses its methods as this proxy does.
        opts = self._self_options if paths is None else nested_options(self._self_options, paths)
        if callable(value) and not inspect.isroutine(value) and not isinstance(value, type):
            child: CachedProxy[Any] = _CallableProxy(value, _options=opts)
            child.__self_setattr__("_self_call", call)
        else:
            child = CachedProxy(value, _options=opts)
        child._self_prefix = f"{self._self_prefix}{name}."
        child._self_owner = self._self_owner if self._self_owner is not None else self.__wrapped__
        own = self.__self_dict__
        children = own.get("_self_children")
        if children is None:
            children = own.setdefault("_self_children", {})
        if not install:
            children[name] = child
            return child
        child = children.setdefault(name, child)
        self.__self_setattr__(name, child)
        return child

    # -- with blocks: the block gets the proxy when the object gives itself --

    def __enter__(self) -> Any:
        wrapped = self.__wrapped__
        enter = _special(wrapped, "__enter__", "the context manager protocol")
        entered = enter()
        # httpx.Client, requests.Session, sqlite3.Connection, OpenAI return
        # themselves: hand out the proxy so calls in the block are cached.
        return self if entered is wrapped else entered

    def __exit__(self, *exc: Any) -> Any:
        return _special(self.__wrapped__, "__exit__", "the context manager protocol")(*exc)

    async def __aenter__(self) -> Any:
        wrapped = self.__wrapped__
        entered = await _special(wrapped, "__aenter__", "the asynchronous context manager protocol")()
        return self if entered is wrapped else entered

    async def __aexit__(self, *exc: Any) -> Any:
        return await _special(self.__wrapped__, "__aexit__", "the asynchronous context manager protocol")(*exc)

    # -- in-place operators on immutable values: the result stays cached --

    @property
    def __object_proxy__(self) -> Any:
        # wrapt calls this with the result of `p += 1` when the wrapped value
        # has no in-place operator: a proxy of the result with these options.
        options = self._self_options
        cls = type(self) if type(self).__init__ is CachedProxy.__init__ else CachedProxy
        return lambda value: cls(value, _options=options)

    # -- attribute writes reach the wrapped object; drop what they make stale --

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if not name.startswith("_self_"):
            self._self_forget(name)

    def __delattr__(self, name: str) -> None:
        super().__delattr__(name)
        if not name.startswith("_self_"):
            self._self_forget(name)

    def _self_forget(self, name: str) -> None:
        if name in _FORWARDED:
            _copy_forwarded(self.__self_dict__, self.__wrapped__)
            return
        own = self.__self_dict__
        methods, children = own.get("_self_methods", {}), own.get("_self_children", {})
        if name == "__wrapped__":
            # A new object: every cached callable was bound to the old one.
            stale = [*methods, *children]
            methods.clear()
            children.clear()
            _copy_forwarded(own, self.__wrapped__)
        else:
            # Only our own entries: a name the subclass defines keeps the
            # value wrapt just stored on the proxy.
            stale = [name] if name in methods or name in children else []
            methods.pop(name, None)
            children.pop(name, None)
        for entry in stale:
            own.pop(entry, None)

    # -- statistics over everything this proxy cached --

    def _self_cached_methods(self) -> dict[str, Any]:
        own = self.__self_dict__
        found: dict[str, Any] = {}
        for name, func in list(own.get("_self_methods", {}).items()):
            found[f"{self._self_prefix}{name}"] = func
        for child in list(own.get("_self_children", {}).values()):
            found.update(child._self_cached_methods())
        return found

    # -- copying and pickling carry the wrapped object and options, not entries --

    def __copy__(self) -> CachedProxy[T]:
        cls: Any = type(self)  # to checkers, calling the class gives the wrapped type
        import copy  # on first use: importing it costs every import of proxycache half a millisecond

        copied: CachedProxy[T] = cls(copy.copy(self.__wrapped__), **self._self_given)
        return copied

    def __deepcopy__(self, memo: dict[int, Any]) -> CachedProxy[T]:
        cls: Any = type(self)
        import copy

        copied: CachedProxy[T] = cls(copy.deepcopy(self.__wrapped__, memo), **copy.deepcopy(self._self_given, memo))
        return copied

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        # Through __reduce__, so a subclass that defines only __reduce__ (as
        # wrapt asks of proxies with other __init__ arguments) is honoured.
        return self.__reduce__()

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.__wrapped__, self._self_given))


class _CallableProxy(CachedProxy[T]):
    """A proxy of a callable attribute: calls go to its cached callable (or straight through)."""

    _self_call: Any = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        call = self._self_call
        if call is None:  # only paths below it were included: calls are not cached
            wrapped: Any = self.__wrapped__
            return wrapped(*args, **kwargs)
        return call(*args, **kwargs)

    # The cached callable's own API, answered here rather than forwarded to
    # the wrapped object (which, for xmlrpc, would call the server).

    def _self_cached(self) -> Any:
        call = self._self_call
        if call is None:
            raise TypeError(f"calls of {self._self_prefix.rstrip('.')} are not cached (only paths below it are)")
        return call

    @property
    def __proxycache__(self) -> Any:
        return getattr(self._self_call, "__proxycache__", None)


def _forward(name: str) -> Any:
    def control(self: _CallableProxy[Any], *args: Any, **kwargs: Any) -> Any:
        return getattr(self._self_cached(), name)(*args, **kwargs)

    control.__name__ = control.__qualname__ = name
    return control


for _name in CACHE_API:
    setattr(_CallableProxy, _name, _forward(_name))
del _name


# What most proxies have is said once, on the class: a proxy's own dict holds only what differs (a
# service that makes a proxy per request pays for each entry); the tables of cached methods and nested
# proxies (_self_methods, _self_children) are made on first use. Set here, not in the class body,
# whose annotations would give the class an __annotations__ hiding the wrapped object's.
for _name, _value in (("_self_prefix", ""), ("_self_owner", None), ("_self_given", {})):
    type.__setattr__(CachedProxy, _name, _value)
del _name, _value

# The class body's docstring becomes the class-level value of the descriptor.
type.__setattr__(CachedProxy, "__doc__", _WrappedDoc(CachedProxy.__dict__["__doc__"]))
type.__setattr__(CachedProxy, "__signature__", _ClassSignature())


def _cached_call(own: dict[str, Any], name: str, method: Any, wrapped: Any) -> Any:
    """The cached callable of *method*, kept in the table of the proxy whose dict is *own*.

    Not a method: a proxy's attribute costs a trip through CPython's attribute hook (about 800 instructions).
    An outer proxy's dict holds no owner (it is what it wraps) nor prefix (the class's "").
    """
    owner = own.get("_self_owner", wrapped)
    options = own["_self_options"]
    # Named after the object the user wrapped (OpenAI.chat.completions.create),
    # not the nested object's type: the name feeds namespaces and messages.
    qualname = f"{type(owner).__qualname__}.{own.get('_self_prefix', '')}{name}"
    # The object, not the proxy: a closure over the proxy would be a cycle (proxy -> cached callable -> proxy)
    # only gc could free. Only key_attrs= and a store's namespace read it.
    attrs_of = (lambda: owner) if options.key_attrs or options.store is not None else None
    # ignore= applies to the methods that take those parameters (strict for one include= names exactly).
    strict = options.ignore and proxy_ignore_is_strict(own["_self_selection"], options, name, method, qualname)
    cached = make_cached(method, options, name=name, qualname=qualname, attrs_of=attrs_of, strict_ignore=strict)
    methods = own.get("_self_methods")
    if methods is None:
        methods = own.setdefault("_self_methods", {})
    # setdefault: when two threads race on first access, both get one callable.
    return methods.setdefault(name, cached)


def _special(wrapped: Any, name: str, protocol: str) -> Any:
    # Looked up on the type, as the with statement does.
    method = getattr(type(wrapped), name, None)
    if method is None:
        raise TypeError(f"{type(wrapped).__qualname__!r} object does not support {protocol}")
    return method.__get__(wrapped, type(wrapped))


def _rebuild(cls: type[CachedProxy[Any]], wrapped: Any, given: dict[str, Any]) -> Any:
    return cls(wrapped, **given)


__all__ = ["CachedProxy"]
