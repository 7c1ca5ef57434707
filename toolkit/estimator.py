"""The scikit-learn estimator contract, without importing scikit-learn until something needs it.

Importing scikit-learn costs about a second of every cold start (it imports ``scipy.stats``), and a
model that only labels uses none of it. :class:`Estimator` gives what ``sklearn.base.clone``, grid
searches and pipelines ask of an estimator: ``get_params`` and ``set_params`` read from
``__init__``'s signature (so ``__init__`` must only store its parameters), a repr of the parameters
that differ from their defaults, and ``__sklearn_tags__``, which borrows scikit-learn's own defaults
when scikit-learn asks for them (scikit-learn is loaded by then).
"""

from __future__ import annotations

import inspect
from typing import Any


class Estimator:
    """Base class: parameters are the arguments of ``__init__``, stored under the same names."""

    @classmethod
    def _get_param_names(cls) -> list[str]:
        """The names of ``__init__``'s parameters, sorted (as scikit-learn lists them)."""
        if cls.__init__ is object.__init__:
            return []
        names = []
        for parameter in inspect.signature(cls.__init__).parameters.values():
            if parameter.name == "self" or parameter.kind == parameter.VAR_KEYWORD:
                continue
            if parameter.kind == parameter.VAR_POSITIONAL:
                raise TypeError(f"{cls.__name__}.__init__ must not take *args: parameters are named")
            names.append(parameter.name)
        return sorted(names)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The parameters as given to ``__init__``; with ``deep``, nested estimators' as ``name__param``."""
        params: dict[str, Any] = {}
        for name in self._get_param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                params.update((f"{name}__{key}", item) for key, item in value.get_params().items())
            params[name] = value
        return params

    def set_params(self, **params: Any) -> Estimator:
        """Set parameters by name (``name__param`` reaches a nested estimator); returns the estimator."""
        valid = self._get_param_names()
        nested: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            name, _, rest = key.partition("__")
            if name not in valid:
                raise ValueError(
                    f"invalid parameter {name!r} for {type(self).__name__} (valid: {', '.join(valid)})"
                )
            if rest:
                nested.setdefault(name, {})[rest] = value
            else:
                setattr(self, name, value)
        for name, values in nested.items():
            getattr(self, name).set_params(**values)
        return self

    def __repr__(self) -> str:
        signature = inspect.signature(type(self).__init__)
        defaults = {name: parameter.default for name, parameter in signature.parameters.items()}
        shown = [
            f"{name}={value!r}"
            for name, value in self.get_params(deep=False).items()
            if not _same(value, defaults.get(name, inspect.Parameter.empty))
        ]
        return f"{type(self).__name__}({', '.join(shown)})"

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's default tags of an estimator (asked for only by scikit-learn itself)."""
        from sklearn.base import BaseEstimator

        return BaseEstimator.__sklearn_tags__(self)


def _same(value: Any, default: Any) -> bool:
    if value is default:
        return True
    try:
        return type(value) is type(default) and bool(value == default)
    except Exception:  # an array or an object whose == does not give one truth value
        return False
