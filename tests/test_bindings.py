"""The registry of bound handlers, on its own: order, globs, unbinding, the cache."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pusher_channels import PusherConfigError
from pusher_channels._bindings import Bindings, is_pattern


def handler(label: str) -> Callable[..., str]:
    def call(*args: object) -> str:
        return label

    call.__name__ = label
    return call


def labels(bindings: Bindings, event_name: str) -> list[str]:
    return [h.__name__ for h in bindings.handlers(event_name)]


def test_global_handlers_come_first_then_bind_order_across_names_and_globs() -> None:
    bindings = Bindings()
    a, b, c, g = handler("a"), handler("b"), handler("c"), handler("g")
    bindings.bind("order-*", a)
    bindings.bind("order-1", b)
    bindings.bind_global(g)
    bindings.bind("order-?", c)
    assert labels(bindings, "order-1") == ["g", "a", "b", "c"]
    assert labels(bindings, "order-12") == ["g", "a"]
    assert labels(bindings, "refund") == ["g"]


def test_the_same_pair_twice_is_one_binding_but_one_callback_may_bind_many_names() -> None:
    bindings = Bindings()
    a = handler("a")
    bindings.bind("x", a)
    bindings.bind("x", a)
    bindings.bind("y", a)
    bindings.bind_global(a)
    bindings.bind_global(a)
    assert labels(bindings, "x") == ["a", "a"]  # once as global, once by name
    bindings.unbind_global()
    assert labels(bindings, "x") == ["a"]


def test_unbind_by_name_by_callback_by_both_and_all() -> None:
    bindings = Bindings()
    a, b = handler("a"), handler("b")
    for name in ("x", "y", "z-*"):
        bindings.bind(name, a)
        bindings.bind(name, b)
    bindings.unbind("x", a)
    assert labels(bindings, "x") == ["b"]
    bindings.unbind("z-*")  # a pattern is unbound by its pattern
    assert labels(bindings, "z-1") == []
    bindings.unbind(callback=b)
    assert labels(bindings, "x") == []
    assert labels(bindings, "y") == ["a"]
    bindings.bind_global(b)
    bindings.unbind()
    assert labels(bindings, "y") == ["b"], "unbind() leaves the global handlers"
    bindings.unbind_all()
    assert not bindings
    assert labels(bindings, "y") == []


def test_the_cache_of_worked_out_names_is_bounded() -> None:
    bindings = Bindings()
    bindings.bind("order-*", handler("a"))
    for n in range(10_000):
        assert len(bindings.handlers(f"order-{n}")) == 1
    assert bindings._cache is not None
    assert len(bindings._cache) <= 4096


def test_patterns_are_told_from_names() -> None:
    assert is_pattern("order-*")
    assert is_pattern("price-[ab]")
    assert is_pattern("x?")
    assert not is_pattern(r"App\Events\OrderShipped")
    assert not is_pattern("client-typing")


@pytest.mark.parametrize("name", ["", None, 3])
def test_a_name_must_be_a_non_empty_string(name: object) -> None:
    with pytest.raises(PusherConfigError):
        Bindings().bind(name, handler("a"))  # type: ignore[arg-type]
