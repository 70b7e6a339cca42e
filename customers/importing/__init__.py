"""Importing customers, and optionally their consent, from a CSV file.

Plain functions the ``import_customers`` command strings together: build the
spec from the options, read and decode the file, map its header to fields,
validate every row, then write. The whole file is validated before anything is
written, with the schema the HTTP API uses (``CustomerIn``), so one bad row
never leaves half a file imported and the API and the import refuse the same
values with the same words. Rows travel in batches of ``BATCH_SIZE`` because
``customers_upsert`` and ``consents_record`` cost a fixed number of queries per
batch: 100,000 new customers are about a thousand queries on PostgreSQL, not a
few hundred thousand.
"""

from customers.importing.reading import Columns, columns_map, file_read
from customers.importing.spec import BATCH_SIZE, ImportRefused, ImportSpec, spec_build
from customers.importing.validating import Validated, errors_list, file_validate
from customers.importing.writing import Counts, rejects_write, rows_write

__all__ = [
    "BATCH_SIZE",
    "Columns",
    "Counts",
    "ImportRefused",
    "ImportSpec",
    "Validated",
    "columns_map",
    "errors_list",
    "file_read",
    "file_validate",
    "rejects_write",
    "rows_write",
    "spec_build",
]
