"""What the services' logic knows of MongoDB without a driver: a stored document's type,
and the server's error codes it acts on (the adapters and `shared.database` hold the
driver)."""

from typing import Any, Final

Document = dict[str, Any]
DUPLICATE_KEY_CODES: Final = frozenset({11000, 11001})
"""A unique index refused the write (11001 is the code older servers give updates)."""
WRITE_CONFLICT_CODES: Final = frozenset({112, 251})
"""WriteConflict, NoSuchTransaction (a transaction aborted under it): re-read and retry."""
ILLEGAL_OPERATION: Final = 20
"""What a standalone server answers a transaction: it has none."""
