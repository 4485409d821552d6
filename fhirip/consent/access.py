"""What one actor may do in one patient's compartment, and why.

A decision is a set of `Access` values per patient. Each says which resource types
of the compartment may be read (and written), which security labels and single
resources are excluded, and on what basis (the patient, a proxy, a Consent, the
coordinating unit's administrative view, or break-the-glass). Several accesses to
one patient add up (OR); a deny provision narrows all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

Label = tuple[str, str]  # (system, code) of a meta.security coding
Instance = tuple[str, str]  # (resource type, id)


class Basis(StrEnum):
    SELF = "self"
    PROXY = "proxy"
    CONSENT = "consent"
    COORDINATOR = "coordinator"  # a consent-based access upgraded by the coordinator role
    ADMINISTRATIVE = "administrative"
    BREAK_THE_GLASS = "break-the-glass"


@dataclass(frozen=True)
class Access:
    """One grant into one patient's compartment."""

    basis: Basis
    # Types that may be read; None = every type of the compartment.
    read_types: frozenset[str] | None
    # Types that may be written; empty = read only, None = every type read_types allows.
    write_types: frozenset[str] | None = frozenset()
    excluded_types: frozenset[str] = frozenset()
    # Permit only resources carrying one of these labels (None = no such restriction).
    required_labels: frozenset[Label] | None = None
    denied_labels: frozenset[Label] = frozenset()
    excluded_resources: frozenset[Instance] = frozenset()
    consents: tuple[str, ...] = ()  # "Consent/id" that gave (or narrowed) this access

    def reads(self, res_type: str) -> bool:
        if res_type in self.excluded_types:
            return False
        return self.read_types is None or res_type in self.read_types

    def writes(self, res_type: str) -> bool:
        if not self.reads(res_type):
            return False
        return self.write_types is None or res_type in self.write_types

    @property
    def can_write(self) -> bool:
        return self.write_types is None or bool(self.write_types)

    def sql_key(self) -> tuple[object, ...]:
        """What the SQL condition depends on; patients with equal keys share one clause."""
        return (self.read_types, self.excluded_types, self.required_labels, self.denied_labels,
                self.excluded_resources)

    def narrowed(self, *, types: frozenset[str] = frozenset(), labels: frozenset[Label] = frozenset(),
                 resources: frozenset[Instance] = frozenset(), read_only: bool = False,
                 consent: str | None = None) -> Access:
        """This access minus what a deny provision takes away."""
        return replace(
            self,
            excluded_types=self.excluded_types | types,
            denied_labels=self.denied_labels | labels,
            excluded_resources=self.excluded_resources | resources,
            write_types=frozenset() if read_only else self.write_types,
            consents=self.consents + ((consent,) if consent and consent not in self.consents else ()),
        )
