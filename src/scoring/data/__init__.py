"""Data layer: canonical tables, loaders, cleaning rules with row accounting."""

from .errors import DataError
from .loaders import DATASETS, data_hash, load_dataset, load_files, require_customers
from .schema import ShopData

__all__ = [
    "DATASETS",
    "DataError",
    "ShopData",
    "data_hash",
    "load_dataset",
    "load_files",
    "require_customers",
]
