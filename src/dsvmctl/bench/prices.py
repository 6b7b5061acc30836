"""Hourly VM prices: the bundled snapshot, or Azure's public Retail Prices API when refreshed.

Every quote carries its source and date, and reports print them: a price is only as good as
its date. Prices are Linux pay-as-you-go (no Spot, no Low Priority, no reservations). Where we
have no price, the quote says None; nothing is guessed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from ..catalog.sizes import PRICES_AS_OF, PRICES_SOURCE, lookup
from ..errors import DsvmctlError

RETAIL_PRICES_URL = "https://prices.azure.com/api/retail/prices"
RETAIL_SOURCE = "Azure Retail Prices API (Linux pay-as-you-go)"
SNAPSHOT_LOCATION = "eastus"
MAX_PAGES = 20  # one size in one region is a page or two; this bounds a misbehaving server


@dataclass(frozen=True)
class PriceQuote:
    size: str
    price_per_hour: float | None  # None: no known price (unknown/retired size, other region or OS)
    currency: str = "USD"
    source: str = PRICES_SOURCE
    as_of: str = PRICES_AS_OF  # date of the snapshot, or of the fetch from the Retail Prices API


class PricesUnavailable(DsvmctlError):
    """The Retail Prices API could not be reached or gave an unusable answer."""


def price_per_hour(size: str, location: str = SNAPSHOT_LOCATION, os: str = "linux", *,
                   cache_path: str | Path | None = None) -> PriceQuote:
    """The hourly price of `size`: from the refreshed cache when it has one, else the snapshot."""
    location, os = location.lower(), os.lower()
    if os != "linux":
        return PriceQuote(size, None, source=f"no {os} prices known (dsvmctl tracks Linux pay-as-you-go)")
    if cache_path is not None:
        cached = _read_cache(Path(cache_path)).get("locations", {}).get(location, {}).get(size)
        if cached is not None:
            return PriceQuote(size, cached.get("price_per_hour"), cached.get("currency", "USD"),
                              RETAIL_SOURCE, cached.get("fetched_at", "")[:10])
    if location != SNAPSHOT_LOCATION:
        return PriceQuote(size, None, source=f"{PRICES_SOURCE}: no price for {location}; "
                                             f"refresh from the Retail Prices API for that region")
    known = lookup(size)
    return PriceQuote(known.name if known else size, known.price_per_hour if known else None)


def refresh_from_retail_api(sizes: Iterable[str], location: str, cache_path: str | Path, *,
                            timeout: float = 10, session=None) -> dict[str, PriceQuote]:
    """Fetch current prices for `sizes` in `location` and merge them into the JSON cache.

    Raises PricesUnavailable (naming the snapshot date callers fall back to) when the API
    cannot be reached or answers with something unusable; the cache is then left as it was.
    """
    import requests  # the offline paths (snapshot, cache) never need it

    http = session or requests.Session()
    location = location.lower()
    fetched_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    found: dict[str, dict] = {}
    for size in sizes:
        items = _fetch_items(http, size, location, timeout)
        item = pick_linux_payg(items, size)
        found[size] = {
            "price_per_hour": item["retailPrice"] if item else None,
            "currency": item["currencyCode"] if item else "USD",
            "product_name": item.get("productName") if item else None,
            "sku_name": item.get("skuName") if item else None,
            "effective_start_date": item.get("effectiveStartDate") if item else None,
            "fetched_at": fetched_at,
        }
    cache = _read_cache(Path(cache_path))
    cache.setdefault("locations", {}).setdefault(location, {}).update(found)
    cache["source"] = RETAIL_SOURCE
    _write_json(Path(cache_path), cache)
    return {size: PriceQuote(size, entry["price_per_hour"], entry["currency"], RETAIL_SOURCE, fetched_at[:10])
            for size, entry in found.items()}


def pick_linux_payg(items: list[dict], size: str) -> dict | None:
    """The Linux pay-as-you-go hourly item for `size`: not Windows, not Spot, not Low Priority."""
    matches = [
        item for item in items
        if str(item.get("armSkuName", "")).lower() == size.lower()
        and item.get("type", "Consumption") == "Consumption"
        and "windows" not in str(item.get("productName", "")).lower()
        and not any(word in str(item.get("skuName", "")).lower() for word in ("spot", "low priority"))
        and isinstance(item.get("retailPrice"), (int, float))
        and item.get("currencyCode", "USD") == "USD"
    ]
    # Several matches happen when a price changes: the newest effective date is today's price.
    return max(matches, key=lambda i: str(i.get("effectiveStartDate", "")), default=None)


def _fetch_items(http, size: str, location: str, timeout: float) -> list[dict]:
    import requests

    odata = (f"serviceName eq 'Virtual Machines' and armRegionName eq '{location}' "
             f"and armSkuName eq '{size}' and priceType eq 'Consumption'")
    url, params, items = RETAIL_PRICES_URL, {"$filter": odata}, []
    for _ in range(MAX_PAGES):
        try:
            response = http.get(url, params=params, timeout=timeout)
            response.raise_for_status()
            page = response.json()
        except requests.HTTPError as e:
            raise _unavailable(f"HTTP {e.response.status_code} for {size}") from e
        except ValueError as e:  # not JSON (before RequestException: requests' JSONDecodeError is both)
            raise _unavailable(f"the answer for {size} was not JSON") from e
        except requests.RequestException as e:
            # The type says enough (ConnectionError, ConnectTimeout); requests' text is a long URL dump.
            raise _unavailable(f"{type(e).__name__} for {urlparse(RETAIL_PRICES_URL).netloc}") from e
        if not isinstance(page, dict) or not isinstance(page.get("Items"), list):
            raise _unavailable(f"the answer for {size} has no Items list")
        items.extend(page["Items"])
        url, params = page.get("NextPageLink"), None  # the link already carries the filter
        if not url:
            return items
    raise _unavailable(f"more than {MAX_PAGES} pages for {size}")


def _unavailable(reason: str) -> PricesUnavailable:
    return PricesUnavailable(
        f"could not reach the Retail Prices API ({reason}); using the bundled snapshot dated {PRICES_AS_OF}",
        fix="check the network (prices.azure.com needs no login) and run the refresh again")


def _read_cache(path: Path) -> dict:
    # A missing or damaged cache is no cache: quotes then come from the snapshot, which says so.
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_json(path: Path, data: dict) -> None:
    from ..paths import write_atomic

    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")  # readers never see half a file
