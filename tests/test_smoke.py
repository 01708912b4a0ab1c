from proxycache import CachedProxy, cache_info

from .conftest import CountingClient


def test_proxy_caches_a_repeated_call(client: CountingClient) -> None:
    proxy = CachedProxy(client)
    assert proxy.get(1) == (1, 1)
    assert proxy.get(1) == (1, 1)
    assert client.count("get") == 1
    assert cache_info(proxy)["get"].hits == 1
