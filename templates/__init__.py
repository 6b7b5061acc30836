"""ARM templates shipped with dsvmctl (package data; edited in place by team leads)."""
