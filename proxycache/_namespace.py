"""The namespace a cached method's entries live under in a store, and the digest that names an entry in it.

``options.namespace``, or one built from the class the method is looked up
on; a default namespace is claimed in this process, so two functions never
answer each other's calls.
"""

from __future__ import annotations

import contextlib
import threading
import types
import weakref
from typing import Any

from ._keyerror import defaults_marked, unkeyable_error
from ._keys import UnkeyableError, freeze, stable_digest
from ._options import Options
from ._plan import Plan


def namespace_for(plan: Plan, options: Options) -> str:
    """``options.namespace``, or ``module.Class.attribute`` of the class the method is looked up on; plus ``@version``.

    The class is the instance's (the wrapped object's for a proxy), never
    the function's own qualname, which decorators without ``functools.wraps``
    and lambdas share. A default namespace already claimed in this process
    by another function is refused: the two would answer each other's calls.
    """
    namespace = options.namespace
    if namespace is None:
        namespace = _default_namespace(plan)
        _claim(namespace, plan)
    if options.version is not None:
        namespace = f"{namespace}@{options.version}"
    return namespace


def _default_namespace(plan: Plan) -> str:
    owner = plan.attrs_of() if plan.attrs_of is not None else None
    if owner is None:
        # No instance (a static or class method, a plain function): its own name.
        module = getattr(plan.wrapped, "__module__", None)
        if not isinstance(module, str):
            # Objects may answer any attribute with anything; a repr in the
            # namespace (an address) would differ between processes.
            module = type(plan.wrapped).__module__
        return f"{module}.{plan.qualname}" if module else plan.qualname
    if isinstance(owner, types.ModuleType):
        prefix = owner.__name__
        heads = [type(owner).__qualname__ + "."]
    else:
        cls = owner if isinstance(owner, type) else type(owner)
        prefix = f"{cls.__module__}.{cls.__qualname__}"
        heads = [cls.__qualname__ + ".", type(owner).__qualname__ + "."]
    bound_to = getattr(plan.wrapped, "__self__", None)
    if bound_to is not None and bound_to is not owner:
        heads.append(type(bound_to).__qualname__ + ".")  # a nested object's method, named after that object
    return f"{prefix}.{_attribute_path(plan.qualname, heads, plan.name)}"


def _attribute_path(qualname: str, heads: list[str], name: str) -> str:
    """The attribute path from the owner to the method: ``get``, or ``chat.completions.create`` for nested objects.

    It comes from the qualname the entry point gives (``Owner.path.name``)
    when that reads as one; a function's own qualname (``wrapper``,
    ``Client.<lambda>``, a base class's ``Base.get``) gives just the name.
    """
    for head in heads:
        if qualname.startswith(head):
            rest = qualname[len(head):]
            if (rest == name or rest.endswith("." + name)) and all(p.isidentifier() for p in rest.split(".")):
                return rest
    return name


#: Default namespace -> (code of the function that claimed it, its qualname, the live functions with that code).
_claims: dict[str, tuple[tuple[types.CodeType | None, ...], str, weakref.WeakSet[Any]]] = {}
_claims_lock = threading.Lock()


def _claim(namespace: str, plan: Plan) -> None:
    func = getattr(plan.wrapped, "__func__", plan.wrapped)
    code = getattr(func, "__code__", None)
    if not isinstance(code, types.CodeType):
        return  # builtins and callable objects: nothing to compare
    # A wrapper without functools.wraps has the same code for every method
    # it wraps: what it closes over tells them apart.
    codes = (code, *(_cell_code(cell) for cell in func.__closure__ or ()))
    with _claims_lock:
        held = _claims.get(namespace)
        if held is None or (held[0] != codes and not held[2]):
            # Free, or held by functions that are all gone (a class defined anew).
            held = _claims[namespace] = (codes, getattr(func, "__qualname__", repr(func)), weakref.WeakSet())
        elif held[0] != codes:
            raise TypeError(
                f"{plan.qualname}: its default store namespace {namespace!r} is already used by another "
                f"function in this process ({held[1]}); the two would answer each other's calls. "
                f"Pass namespace= a name of its own (namespace={namespace + '2'!r})"
            )
        with contextlib.suppress(TypeError):  # a function that cannot be weakly referenced
            held[2].add(func)


def _cell_code(cell: Any) -> Any:
    try:
        return getattr(cell.cell_contents, "__code__", None)
    except ValueError:  # an empty cell
        return None


def store_digest(plan: Plan, key: Any) -> str:
    """The stable digest of a memory key that names its entry in the store (``<namespace>:<digest>``)."""
    try:
        return stable_digest(key)
    except UnkeyableError as first:
        try:
            # Hashable values without a canonical encoding of their own
            # (namedtuples, hashable Pydantic models) are keyed by value.
            return stable_digest(freeze(key))
        except UnkeyableError:
            try:
                return stable_digest(freeze(defaults_marked(plan, key)))
            except UnkeyableError:
                raise unkeyable_error(plan, key, first) from None
