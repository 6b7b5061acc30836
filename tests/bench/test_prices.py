"""Prices: the bundled snapshot, the Retail Prices API (mocked with `responses`), offline."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import responses

from dsvmctl.bench.prices import RETAIL_PRICES_URL, PricesUnavailable, price_per_hour, refresh_from_retail_api
from dsvmctl.catalog.sizes import PRICES_AS_OF, PRICES_SOURCE, SIZES

T4 = "Standard_NC4as_T4_v3"


def item(price: float, product: str = "Virtual Machines NCasT4_v3 Series", sku: str = "NC4as T4 v3",
         arm_sku: str = T4, start: str = "2024-04-01T00:00:00Z", **extra) -> dict:
    """One item as the Retail Prices API returns it (fields from a real response)."""
    return {
        "currencyCode": "USD", "tierMinimumUnits": 0.0, "retailPrice": price, "unitPrice": price,
        "armRegionName": "eastus", "location": "US East", "effectiveStartDate": start,
        "meterId": "0b6d0f51-0000-4000-8000-000000000000", "meterName": sku.removeprefix("NC"),
        "productId": "DZH318Z0BQ4K", "skuId": "DZH318Z0BQ4K/00F7", "productName": product, "skuName": sku,
        "serviceName": "Virtual Machines", "serviceId": "DZH313Z7MMC8", "serviceFamily": "Compute",
        "unitOfMeasure": "1 Hour", "type": "Consumption", "isPrimaryMeterRegion": True, "armSkuName": arm_sku,
        **extra,
    }


def page(items: list[dict], next_link: str | None = None) -> dict:
    return {"BillingCurrency": "USD", "CustomerEntityId": "Default", "CustomerEntityType": "Retail",
            "Items": items, "NextPageLink": next_link, "Count": len(items)}


# The four prices Azure lists for one NC size in one region, Linux pay-as-you-go among them.
T4_ITEMS = [
    item(0.1578, sku="NC4as T4 v3 Spot"),
    item(0.934, product="Virtual Machines NCasT4_v3 Series Windows"),
    item(0.526),
    item(0.263, sku="NC4as T4 v3 Low Priority"),
    item(0.28, product="Virtual Machines NCasT4_v3 Series Windows", sku="NC4as T4 v3 Spot"),
]


def test_snapshot_quote_names_its_source_and_date():
    q = price_per_hour(T4)
    assert q.price_per_hour == SIZES[T4].price_per_hour
    assert (q.currency, q.source, q.as_of) == ("USD", PRICES_SOURCE, PRICES_AS_OF)


def test_snapshot_lookup_is_case_insensitive():
    assert price_per_hour("standard_nc4as_t4_v3").price_per_hour == SIZES[T4].price_per_hour


@pytest.mark.parametrize("size,location,os", [
    ("Standard_Made_Up", "eastus", "linux"),  # unknown size
    ("Standard_NC6s_v3", "eastus", "linux"),  # retired size: Azure no longer prices it
    (T4, "westeurope", "linux"),  # the snapshot covers eastus only
    (T4, "eastus", "windows"),  # and Linux only
])
def test_snapshot_has_no_price_rather_than_a_guess(size, location, os):
    q = price_per_hour(size, location, os)
    assert q.price_per_hour is None
    assert q.source


@responses.activate
def test_refresh_picks_linux_pay_as_you_go_and_caches_it(tmp_path):
    responses.get(RETAIL_PRICES_URL, json=page(T4_ITEMS))
    cache = tmp_path / "prices.json"
    quotes = refresh_from_retail_api([T4], "eastus", cache)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert quotes[T4].price_per_hour == 0.526
    assert quotes[T4].as_of == today and "Retail Prices API" in quotes[T4].source
    saved = json.loads(cache.read_text())["locations"]["eastus"][T4]
    assert saved["price_per_hour"] == 0.526 and saved["fetched_at"].startswith(today)
    assert saved["product_name"] == "Virtual Machines NCasT4_v3 Series" and saved["sku_name"] == "NC4as T4 v3"
    # Later lookups with the cache use the fetched price and say where it came from.
    q = price_per_hour(T4, cache_path=cache)
    assert (q.price_per_hour, q.as_of) == (0.526, today) and "Retail Prices API" in q.source


@responses.activate
def test_refresh_query_filters_on_service_region_sku_and_price_type(tmp_path):
    responses.get(RETAIL_PRICES_URL, json=page([item(0.526)]))
    refresh_from_retail_api([T4], "EastUS", tmp_path / "prices.json")
    query = parse_qs(urlparse(responses.calls[0].request.url).query)
    assert query["$filter"] == [
        "serviceName eq 'Virtual Machines' and armRegionName eq 'eastus' "
        f"and armSkuName eq '{T4}' and priceType eq 'Consumption'"]


@responses.activate
def test_refresh_follows_next_page_links(tmp_path):
    next_link = f"{RETAIL_PRICES_URL}?$filter=x&$skip=100"
    responses.get(next_link, json=page([item(0.526)]))  # registered first: responses matches in order
    responses.get(RETAIL_PRICES_URL, json=page([item(0.1578, sku="NC4as T4 v3 Spot")], next_link))
    quotes = refresh_from_retail_api([T4], "eastus", tmp_path / "prices.json")
    assert quotes[T4].price_per_hour == 0.526
    assert len(responses.calls) == 2


@responses.activate
def test_newest_effective_price_wins(tmp_path):
    responses.get(RETAIL_PRICES_URL, json=page([item(0.60, start="2022-01-01T00:00:00Z"),
                                                item(0.526, start="2024-04-01T00:00:00Z")]))
    assert refresh_from_retail_api([T4], "eastus", tmp_path / "p.json")[T4].price_per_hour == 0.526


@responses.activate
def test_size_with_only_windows_or_spot_prices_gets_none(tmp_path):
    responses.get(RETAIL_PRICES_URL, json=page([i for i in T4_ITEMS if i["retailPrice"] != 0.526]))
    assert refresh_from_retail_api([T4], "eastus", tmp_path / "p.json")[T4].price_per_hour is None


@responses.activate
def test_refresh_merges_into_an_existing_cache(tmp_path):
    cache = tmp_path / "prices.json"
    responses.get(RETAIL_PRICES_URL, json=page([item(0.526)]))
    refresh_from_retail_api([T4], "eastus", cache)
    responses.replace(responses.GET, RETAIL_PRICES_URL, json=page([item(
        0.226, product="Virtual Machines Ddsv5 Series", sku="D4ds v5", arm_sku="Standard_D4ds_v5")]))
    refresh_from_retail_api(["Standard_D4ds_v5"], "eastus", cache)
    assert set(json.loads(cache.read_text())["locations"]["eastus"]) == {T4, "Standard_D4ds_v5"}


@responses.activate
def test_offline_fails_fast_naming_the_snapshot_date_and_keeps_the_cache(tmp_path):
    cache = tmp_path / "prices.json"
    cache.write_text('{"locations": {}}')
    responses.get(RETAIL_PRICES_URL, body=requests.ConnectionError("Failed to resolve 'prices.azure.com'"))
    started = time.perf_counter()
    with pytest.raises(PricesUnavailable) as info:
        refresh_from_retail_api([T4, "Standard_D4ds_v5"], "eastus", cache)
    assert time.perf_counter() - started < 1
    message = str(info.value)
    assert "could not reach the Retail Prices API" in message
    assert f"using the bundled snapshot dated {PRICES_AS_OF}" in message
    assert len(responses.calls) == 1  # no retry per size: the first failure ends it
    assert cache.read_text() == '{"locations": {}}'
    assert price_per_hour(T4, cache_path=cache).source == PRICES_SOURCE  # the fallback callers use


@responses.activate
@pytest.mark.parametrize("kwargs,reason", [
    ({"status": 503, "json": {"error": "busy"}}, "HTTP 503"),
    ({"body": "<html>gateway</html>"}, "not JSON"),
    ({"json": {"unexpected": True}}, "no Items"),
])
def test_unusable_answers_are_reported_not_guessed(tmp_path, kwargs, reason):
    responses.get(RETAIL_PRICES_URL, **kwargs)
    with pytest.raises(PricesUnavailable, match=reason):
        refresh_from_retail_api([T4], "eastus", tmp_path / "p.json")
    assert not (tmp_path / "p.json").exists()


def test_a_damaged_cache_falls_back_to_the_snapshot(tmp_path):
    cache = tmp_path / "prices.json"
    cache.write_text("{not json")
    q = price_per_hour(T4, cache_path=cache)
    assert (q.price_per_hour, q.source) == (SIZES[T4].price_per_hour, PRICES_SOURCE)
