"""FHIR search: registry, index, query parsing, SQL, paging and the searchset Bundle.

https://hl7.org/fhir/R4/search.html
"""

from fhirip.search.bundle import searchset_bundle
from fhirip.search.execute import Entry, SearchResult, search

__all__ = ["Entry", "SearchResult", "search", "searchset_bundle"]
