"""boto3's S3 client against a fake bucket on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from proxycache import CachedProxy, DiskStore, cache_info

from .fakeserver import FakeServer


def s3(server: FakeServer, region: str = "us-east-1") -> Any:
    return boto3.client(
        "s3",
        endpoint_url=server.url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def test_list_objects_makes_one_request_and_matches_the_uncached_call(server: FakeServer, aws_env: None) -> None:
    plain = s3(server).list_objects_v2(Bucket="bucket", Prefix="dir/")
    proxy = CachedProxy(s3(server))
    first = proxy.list_objects_v2(Bucket="bucket", Prefix="dir/")
    second = proxy.list_objects_v2(Bucket="bucket", Prefix="dir/")
    assert first is second
    assert [o["Key"] for o in first["Contents"]] == ["dir/c.txt"]
    assert first["Contents"] == plain["Contents"]
    proxy.list_objects_v2(Bucket="bucket")
    assert server.count("/bucket") == 3  # uncached, the two prefixes once each


def test_get_object_bodies_are_streams(server: FakeServer, aws_env: None) -> None:
    # GetObject's result holds a one-shot stream: cached, a second read of the
    # same Body gives nothing. Cache what you read instead (see the docs).
    proxy = CachedProxy(s3(server), include=["list_objects_v2"])
    assert cache_info(proxy) == {}
    bodies = [proxy.get_object(Bucket="bucket", Key="a.txt")["Body"].read() for _ in range(2)]
    assert bodies == [b"alpha", b"alpha"]
    assert server.count("/bucket/a.txt") == 2
    assert "get_object" not in cache_info(proxy)


def test_presigned_urls_and_writes_are_never_cached_by_default(server: FakeServer, aws_env: None) -> None:
    proxy = CachedProxy(s3(server))
    for name in ("generate_presigned_url", "put_object", "delete_object", "upload_file", "copy_object", "close"):
        getattr(proxy, name)
    url = proxy.generate_presigned_url("get_object", Params={"Bucket": "bucket", "Key": "a.txt"}, ExpiresIn=60)
    assert url.startswith(f"{server.url}/bucket/a.txt?")
    assert cache_info(proxy) == {}


def test_a_shared_store_keyed_by_region(server: FakeServer, aws_env: None, tmp_path: Any) -> None:

    def make(region: str) -> Any:
        client = s3(server, region)
        # The region is a plain string on client.meta: the key function reads it per call.
        return CachedProxy(
            client,
            include=["list_objects_v2"],
            store=DiskStore(tmp_path / "s3"),
            key_attrs=(),
            key=lambda **call: (client.meta.region_name, call),
        )

    east = make("us-east-1").list_objects_v2(Bucket="bucket")
    again = make("us-east-1").list_objects_v2(Bucket="bucket")
    assert server.count("/bucket") == 1
    assert again["Contents"] == east["Contents"]
    make("eu-west-1").list_objects_v2(Bucket="bucket")
    assert server.count("/bucket") == 2


# -- DynamoDB: a condition object inside **kwargs ----------------------------------------


def dynamodb_table(server: FakeServer) -> Any:
    resource = boto3.resource("dynamodb", endpoint_url=server.url, region_name="us-east-1",
                              config=Config(retries={"max_attempts": 1}))
    return resource.Table("t")


def test_a_query_condition_is_named_and_sent_to_key(server: FakeServer, aws_env: None) -> None:
    import pytest
    from boto3.dynamodb.conditions import ConditionExpressionBuilder, Key

    # Table.query(**kwargs): the error names the keyword at fault, and never advises ignore=['kwargs'],
    # which would answer every query with the first one's items.
    table = CachedProxy(dynamodb_table(server), include=["query"])
    with pytest.raises(TypeError) as info:
        table.query(KeyConditionExpression=Key("id").eq("1"))
    message = str(info.value)
    assert "argument \"kwargs['KeyConditionExpression']\" cannot be used in a cache key (Equals" in message
    assert "ignore=[" not in message
    assert "Pass key= a function" in message
    # ignore= cannot reach into **kwargs: refused on first access, pointing to key=.
    refused = CachedProxy(dynamodb_table(server), include=["query"], ignore=["KeyConditionExpression"])
    with pytest.raises(TypeError, match=r"'KeyConditionExpression'.*through \*\*kwargs.*key="):
        refused.query(KeyConditionExpression=Key("id").eq("1"))
    assert server.count("/") == 0

    def key(KeyConditionExpression: Any = None, **call: Any) -> Any:
        built = ConditionExpressionBuilder().build_expression(KeyConditionExpression, is_key_condition=True)
        return (built.condition_expression, tuple(built.attribute_value_placeholders.values()), call)

    keyed = CachedProxy(dynamodb_table(server), include=["query"], key=key)
    answers = [keyed.query(KeyConditionExpression=Key("id").eq(v))["Items"] for v in ("1", "2", "1")]
    assert answers == [[{"id": "1"}], [{"id": "2"}], [{"id": "1"}]]
    assert server.count("/") == 2
