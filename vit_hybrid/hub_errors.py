"""huggingface_hub's "no such file" exceptions, across its 0.x, 1.x and 2.x layouts."""

from __future__ import annotations

try:  # huggingface_hub >= 0.24
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError
except ImportError:  # pragma: no cover - older releases
    from huggingface_hub.utils import EntryNotFoundError, LocalEntryNotFoundError

# Offline (or local_files_only) and not cached. In 0.x this subclasses EntryNotFoundError, so it is
# caught first.
LOCAL_MISS_ERRORS = (LocalEntryNotFoundError,)
# The repo exists but has no such file.
MISSING_FILE_ERRORS = (EntryNotFoundError,)
