"""The plan of one cached method: what is settled before its first call.

Its names, options, signature and key layout (:class:`Plan`), the checks of
``ignore=`` and ``key_attrs=`` at wrap time, and the signature cache that
makes setting up a method for every new instance cheap. The compiled
factory of the cached callable is cached per key layout in ``_codegen``.
"""

from __future__ import annotations

import inspect
import operator
import types
import weakref
from collections.abc import Callable
from typing import Any

from . import _shape
from ._keys import attr_values
from ._options import Options


class Plan:
    """What the key, its errors and a shared store's namespace need to know about one cached method."""

    __slots__ = ("attrs_of", "key_names", "name", "options", "qualname", "shape", "signature", "wrapped")

    def __init__(
        self,
        *,
        name: str,
        qualname: str,
        options: Options,
        signature: inspect.Signature | None,
        attrs_of: Callable[[], Any] | None,
        wrapped: Any,
        strict_ignore: bool = True,
    ) -> None:
        self.name = name
        self.qualname = qualname
        self.options = options
        self.signature = signature
        #: The owner whose ``key_attrs`` join the key (None for plain functions).
        self.attrs_of = attrs_of
        #: What the method is looked up as (its module and qualname name a default namespace).
        self.wrapped = wrapped
        if strict_ignore:
            # Strict for one named method; an option applied to many methods
            # (a proxy, a mixin) ignores only the parameters each one has.
            check_ignore(signature, options, qualname)
        ignore, typed, custom_key = options.ignore, options.typed, options.key is not None
        key_attrs = options.key_attrs or ()
        try:
            shape = _shape.shape_of(signature, ignore=ignore, typed=typed, custom_key=custom_key, key_attrs=key_attrs)
        except _shape.NoShape:
            shape = _shape.shape_of(None, ignore=ignore, typed=typed, custom_key=custom_key, key_attrs=key_attrs)
        #: The key layout and source parts of the cached callable (cached per signature in ``_shape``).
        self.shape = shape
        #: The parameters whose values make up the key, in key order.
        self.key_names = shape.key_names

    def bound(self, attrs_of: Callable[[], Any] | None, wrapped: Any) -> Plan:
        """This plan for another owner: the same method, options and key layout (checked once), its own owner."""
        plan = _new(Plan)
        plan.name, plan.qualname, plan.options, plan.signature = self.name, self.qualname, self.options, self.signature
        plan.shape, plan.key_names = self.shape, self.key_names
        plan.attrs_of, plan.wrapped = attrs_of, wrapped
        return plan


_new = object.__new__


def check_ignore(signature: inspect.Signature | None, options: Options, qualname: str) -> None:
    """Fail when ``ignore=`` names a parameter the method does not take."""
    if not options.ignore or signature is None:
        return
    unknown = sorted(options.ignore - set(signature.parameters))
    if unknown:
        raise ignore_error(signature, unknown, f"which {qualname}() does not take")


def ignore_error(signature: inspect.Signature, unknown: list[str], why: str) -> TypeError:
    """The error for ``ignore=`` names that are not parameters of the method: its real ones, and the way out."""
    message = (f"ignore= names {', '.join(map(repr, unknown))}, {why}; "
               f"its parameters are: {', '.join(signature.parameters) or '(none)'}")
    packed = [p.name for p in signature.parameters.values() if p.kind is inspect.Parameter.VAR_KEYWORD]
    if packed:
        # Left out of a **kwargs it would be a keyword the key cannot see (or sees anyway): key= says which count.
        message += (f". ignore= takes only these: a keyword that arrives through **{packed[0]} is left out of the "
                    f"key by passing key= a function that builds the key without it")
    return TypeError(message)


def attrs_via(attrs_of: Callable[[], Any]) -> Any:
    """The object whose attributes the hit path reads as ``key_attrs`` values (``_pc_via``).

    *attrs_of* returns the same object every time: a weak reference (then a
    weak proxy, read without a call; a dead one raises ReferenceError, which
    sends the call the careful way) or a function that holds the object.
    """
    if type(attrs_of) is weakref.ref:
        obj = attrs_of()
        return None if obj is None else weakref.proxy(obj)
    return attrs_of()


def attrs_reader(
    attrs_of: Callable[[], Any], names: tuple[str, ...], qualname: str, typed: bool
) -> Callable[[], tuple[Any, ...]]:
    """Read the ``key_attrs`` values (names or dotted paths) that join every key, keyed as arguments are.

    A missing one is named clearly.
    """
    get = operator.attrgetter(*names)
    one = len(names) == 1

    def read() -> tuple[Any, ...]:
        obj = attrs_of()
        if obj is None and type(attrs_of) is weakref.ref:
            raise ReferenceError(
                f"{qualname}() was called after its instance was garbage-collected, so its key_attrs= "
                "cannot be read: cached methods do not keep their instance alive; keep a reference to it "
                "while you use them"
            )
        try:
            values = (get(obj),) if one else get(obj)
        except AttributeError:
            raise _missing_attr(obj, names) from None
        return attr_values(values, typed)

    return read


def _missing_attr(obj: Any, names: tuple[str, ...]) -> AttributeError:
    for name in names:
        value = obj
        for depth, part in enumerate(name.split(".")):
            if not hasattr(value, part):
                where = "this " + type(obj).__qualname__
                if depth:
                    where += f"'s {'.'.join(name.split('.')[:depth])} ({type(value).__qualname__})"
                return AttributeError(
                    f"key_attrs= names {name!r}, but {where} has no attribute {part!r}; "
                    "key_attrs lists instance attributes (or dotted paths) whose values tell instances apart"
                )
            value = getattr(value, part)
    return AttributeError(f"key_attrs= names {names!r}, and reading them raised AttributeError")



def method_signature(func: Any) -> inspect.Signature | None:
    """The signature of a plain method without its first (self) parameter, or None."""
    return _signature(func, drop_first=True)


#: Signatures of plain functions, per function: working one out is the
#: costliest part of setting up a cached method, and every instance of a class
#: asks for the same ones. An entry is used while the function's code and
#: defaults are the ones it was made from: ``[code, defaults, kwdefaults,
#: is_async, signature, as a bound method's, without self, slot]`` (the two
#: signatures filled on first use; the slot: see signature_and_slot).
_signatures: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()
# Read through the underlying dict: WeakKeyDictionary.get is a Python call,
# and weakref.ref(func) hands back the function's existing reference.
_signatures_data: dict[Any, list[Any]] = _signatures.data  # type: ignore[attr-defined]
_weakref = weakref.ref
_FunctionType = types.FunctionType
_MethodType = types.MethodType
_UNSET: Any = object()


def cached_signature(target: Any, drop_first: bool) -> tuple[inspect.Signature | None, bool]:
    """``(_signature(target, drop_first), _is_async(target))``, from the cache for plain functions and methods."""
    signature, is_async, _ = signature_and_slot(target, drop_first)
    return signature, is_async


def signature_and_slot(target: Any, drop_first: bool) -> tuple[inspect.Signature | None, bool, object | None]:
    """:func:`cached_signature`, and an object made with it (None when it is not cached).

    What every instance's cache of the method shares is kept (with the
    options) under that object: a new one when the function's code or
    defaults change.
    """
    func = target
    bound = type(target) is _MethodType
    if bound:
        func = target.__func__
    if type(func) is not _FunctionType or (bound and drop_first):
        return _signature(target, drop_first), _is_async(target), None
    own = func.__dict__
    if own and ("__signature__" in own or "_partialmethod" in own):
        return _signature(target, drop_first), _is_async(target), None
    entry = _signatures_data.get(_weakref(func))
    if (
        entry is None
        or entry[0] is not func.__code__
        or entry[1] is not func.__defaults__
        or entry[2] is not func.__kwdefaults__
    ):
        entry = [func.__code__, func.__defaults__, func.__kwdefaults__, _is_async(func), _signature(func, False),
                 _UNSET, _UNSET, object()]
        _signatures[func] = entry
    if bound:
        if entry[5] is _UNSET:
            entry[5] = _without_first(entry[4], True)
        return entry[5], entry[3], entry[7]
    if drop_first:
        if entry[6] is _UNSET:
            entry[6] = _without_first(entry[4], False)
        return entry[6], entry[3], entry[7]
    return entry[4], entry[3], entry[7]


def _without_first(sig: inspect.Signature | None, bound: bool) -> inspect.Signature | None:
    """*sig* as a bound method's (``bound``, as ``inspect.signature`` has it) or as ``_signature`` drops self."""
    if sig is None:
        return None
    params = list(sig.parameters.values())
    if params and params[0].kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
        return sig.replace(parameters=params[1:])
    if bound and params and params[0].kind is inspect.Parameter.VAR_POSITIONAL:
        return sig  # self arrives in *args
    return None  # inspect.signature raises for such a bound method; _signature gives up


def _signature(target: Any, drop_first: bool) -> inspect.Signature | None:
    if _made_up_signature(target):
        # An object that answers any name (xmlrpc's ServerProxy methods) makes one up: inspect
        # refuses it before Python 3.13, which calls it instead (a request to the server).
        return None
    try:
        # follow_wrapped=False: we call the outer callable, so we mirror its real signature...
        sig = inspect.signature(target, follow_wrapped=False)
        if _passes_all_through(sig) and _wraps(target):
            # ...unless that is a bare (*args, **kwargs) over a functools.wraps chain (openai's
            # required_args over Completions.create): it declares the wrapped signature, which then
            # binds defaults, so create(temperature=omit) is create() (keyed as a plain method's).
            sig = inspect.signature(target)
    except (TypeError, ValueError):
        return None
    if drop_first:
        params = list(sig.parameters.values())
        if not params or params[0].kind not in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            return None
        sig = sig.replace(parameters=params[1:])
    return sig


def _passes_all_through(sig: inspect.Signature) -> bool:
    """Whether *sig* is ``(*args, **kwargs)`` and nothing else (``(self, *args, **kwargs)`` as an unbound function)."""
    kinds = [p.kind for p in sig.parameters.values()]
    if kinds[:1] == [inspect.Parameter.POSITIONAL_OR_KEYWORD]:
        kinds = kinds[1:]
    return kinds == [inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD]


def _wraps(target: Any) -> bool:
    """Whether *target* is a function (or a method of one) made by ``functools.wraps`` (own ``__wrapped__``).

    Only a function's own ``__wrapped__`` counts, as in :func:`_is_async`: dynamic objects answer any name.
    """
    func = getattr(target, "__func__", target)
    return inspect.isfunction(func) and "__wrapped__" in func.__dict__


def _made_up_signature(target: Any) -> bool:
    """Whether *target* has a ``__signature__`` that is no Signature: one its ``__getattr__`` made up."""
    try:
        sig = getattr(target, "__signature__", None)
    except Exception:  # a foreign __getattr__ failing: its signature is unknown
        return True
    return sig is not None and not isinstance(sig, inspect.Signature)


def _is_async(target: Any) -> bool:
    """Whether calling *target* gives a coroutine, also through plain ``functools.wraps`` decorators.

    SDKs (openai's ``AsyncCompletions.create``) put a sync wrapper with
    ``functools.wraps`` over a coroutine function; the chain of
    ``__wrapped__`` tells. Only functions' own ``__wrapped__`` is followed:
    dynamic objects answer any attribute (xmlrpc's remote methods would
    name a remote ``__wrapped__`` method, and so on without end).

    A ``__wrapped__`` that is a bound method is not followed: that wrapper
    was made at run time over another object's method, an adapter, and
    adapters change what the call gives (openai's
    ``with_streaming_response.create`` wraps the bound coroutine method
    ``create`` and returns an async context manager, which a coroutine
    method could not hand back). Taken as the plain function it is, a
    wrapper that does return the coroutine is still awaited and cached
    (see ``returns_awaitable``).
    """
    if inspect.iscoroutinefunction(target):
        return True
    func = getattr(target, "__func__", target)
    for _ in range(32):  # a __wrapped__ cycle must not hang the wrap
        if inspect.iscoroutinefunction(func):
            return True
        if not inspect.isfunction(func):
            return False
        func = func.__dict__.get("__wrapped__")
        if type(func) is types.MethodType:
            return False
        func = getattr(func, "__func__", func)  # a staticmethod or classmethod object
    return False
