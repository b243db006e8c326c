"""Results: the file format (store), the typed records (records) and their loading."""

from gembench.results.loading import load_run, load_tidy, migrate_v1
from gembench.results.records import SCHEMA_VERSION, CaseRecord, RunRecord
from gembench.results.store import ResultsWriter, read_records, tidy

__all__ = ["SCHEMA_VERSION", "CaseRecord", "ResultsWriter", "RunRecord", "load_run",
           "load_tidy", "migrate_v1", "read_records", "tidy"]
