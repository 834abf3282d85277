"""The data product model: ODCS contracts, the catalog, mesh settings and the demo mesh."""

from products.catalog import Catalog
from products.contract import Column, Product, Server

__all__ = ["Catalog", "Column", "Product", "Server"]
