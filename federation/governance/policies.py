"""``governance/policies.yaml``: the closed vocabulary of classification labels, the global
rules keyed on them, the declared purposes, and per-role scan budgets.

The vocabulary is closed: every label a contract may use is declared here, least to
most sensitive, each either explicitly allowed or governed by at least one rule.  A
column whose label is not declared is denied at query time, never served raw; a column
without a label takes ``default_classification``.

```yaml
default_classification: internal
classifications:            # least to most sensitive
  - {name: public, allow: true}
  - {name: internal, allow: true}
  - {name: pii}             # governed by the rules below
  - {name: pci}
purposes:
  - {name: fraud_detection, description: Investigating suspected payment fraud}
rules:
  - classification: pii
    action: mask
    method: hash
    unless_roles: [admin]
    release:                # raw for these roles, only for these purposes
      - {roles: [fraud_investigator], purposes: [fraud_detection]}
  - classification: pci
    action: deny
    grantable_purposes: [fraud_detection]   # a domain's grant may release it (per reader)
budgets:
  - {roles: [analyst], max_bytes: 10GB}
declassify:                 # derived products: which masks lower a label (default: none)
  - {classification: pii, method: redact, to: internal, description: nothing personal left}
```
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from products.sizes import parse_size

MaskMethod = Literal["hash", "redact", "null", "partial", "year"]
# Strictest first: when two rules mask one column, the stricter method wins.
MASK_STRICTNESS: tuple[str, ...] = ("null", "redact", "hash", "year", "partial")

LABEL_PATTERN = re.compile(r"^[a-z0-9_-]{1,64}$")


def _label(value: str) -> str:
    # No normalisation: "PII", "pii " or a look-alike letter is another word, and a
    # word the vocabulary does not know must never pass as a known one.
    if not LABEL_PATTERN.match(value):
        raise ValueError(f"{value!r} is not a valid label: use lower-case ASCII letters, "
                         "digits, '_' and '-'")
    return value


Label = Annotated[str, AfterValidator(_label)]
"""A classification label or purpose name: ASCII ``[a-z0-9_-]``."""


class _Strict(BaseModel):
    # defer_build: a model's validator is built when it first validates, not at import
    # (pydantic work to open the demo mesh: 29 ms -> 17 ms; models never used: nothing).
    # Empty lists are plain defaults (``= []``, copied per instance by pydantic): building
    # a schema with default_factory=list costs an inspect.signature(list) each (~4 ms).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Classification(_Strict):
    """One declared label; ``allow: true`` says no rule restricts it, explicitly."""

    name: Label
    allow: bool = False
    description: str | None = None


class Purpose(_Strict):
    """A declared reason to query data (GDPR purpose limitation)."""

    name: Label
    description: str = Field(min_length=1)


class Release(_Strict):
    """Roles that see a rule's label raw, but only while querying for these purposes."""

    roles: list[str] = Field(min_length=1)
    purposes: list[Label] = Field(min_length=1)


class Rule(_Strict):
    """A global rule: columns of ``classification`` are denied or masked."""

    classification: Label
    action: Literal["deny", "mask"]
    method: MaskMethod | None = None
    unless_roles: list[str] = []
    release: list[Release] = []
    grantable_purposes: list[Label] = []
    """Purposes for which a domain's grant may release this rule's label to its readers
    (``release_columns``: an approved access request); empty, the default: never."""
    description: str | None = None

    def model_post_init(self, _context: object) -> None:
        if self.action == "mask" and self.method is None:
            raise ValueError("a mask rule needs a method")
        if self.action == "deny" and self.method is not None:
            raise ValueError("a deny rule takes no method")

    def describe(self, index: int) -> str:
        """``policies.yaml rule 1 (pci: deny unless fraud_investigator)``."""
        what = self.action if self.action == "deny" else f"mask {self.method}"
        unless = f" unless {', '.join(self.unless_roles)}" if self.unless_roles else ""
        return f"policies.yaml rule {index + 1} ({self.classification}: {what}{unless})"


class Declassify(_Strict):
    """A derived product's column computed from ``classification`` masked with ``method``
    is labelled ``to`` instead (e.g. pii redacted → internal).  Without one, masking never
    lowers a label: pseudonymised personal data is still personal data."""

    classification: Label
    method: MaskMethod
    to: Label
    description: str = Field(min_length=1)
    """Why this mask makes the data less sensitive; recorded with every column it lowers."""


class Budget(_Strict):
    """The most one query by these roles may scan, e.g. ``{roles: [analyst], max_bytes: 1MB}``."""

    roles: list[str]
    max_bytes: int | str

    def limit(self) -> int:
        """``max_bytes`` in bytes (``1MB`` = 10^6, ``1MiB`` = 2^20)."""
        return parse_size(self.max_bytes, "max_bytes")

    def model_post_init(self, _context: object) -> None:
        self.limit()


class PoliciesFile(_Strict):
    """``governance/policies.yaml``: every field that protects is required, so a file cut
    short is an error rather than fewer rules."""

    default_classification: Label
    classifications: list[Classification] = Field(min_length=1)
    purposes: list[Purpose] = []
    rules: list[Rule] = []
    budgets: list[Budget] = []
    declassify: list[Declassify] = []

    @model_validator(mode="after")
    def _closed_vocabulary(self) -> PoliciesFile:
        names = [c.name for c in self.classifications]
        _unique(names, "classification")
        _unique([p.name for p in self.purposes], "purpose")
        if self.default_classification not in names:
            raise ValueError(f"default_classification {self.default_classification!r} is not "
                             "one of the declared classifications")
        ruled = {r.classification for r in self.rules}
        for index, rule in enumerate(self.rules):
            if rule.classification not in names:
                raise ValueError(f"rule {index + 1} names classification "
                                 f"{rule.classification!r}, which is not declared"
                                 + suggest(rule.classification, names))
            for release in rule.release:
                unknown = [p for p in release.purposes if p not in self.purpose_names]
                if unknown:
                    raise ValueError(f"rule {index + 1} releases for purpose {unknown[0]!r}, "
                                     "which is not declared under purposes")
            unknown = [p for p in rule.grantable_purposes if p not in self.purpose_names]
            if unknown:
                raise ValueError(f"rule {index + 1} lets grants release for purpose "
                                 f"{unknown[0]!r}, which is not declared under purposes")
        for index, entry in enumerate(self.declassify):
            for field_name in ("classification", "to"):
                label_name = getattr(entry, field_name)
                if label_name not in names:
                    raise ValueError(f"declassify {index + 1} names {field_name} "
                                     f"{label_name!r}, which is not declared"
                                     + suggest(label_name, names))
            if names.index(entry.to) >= names.index(entry.classification):
                raise ValueError(f"declassify {index + 1} does not lower {entry.classification!r}"
                                 f": {entry.to!r} is not declared before it (less sensitive)")
        for label in self.classifications:
            if label.allow and label.name in ruled:
                raise ValueError(f"classification {label.name!r} is both allowed and ruled: "
                                 "remove allow or its rules")
            if not label.allow and label.name not in ruled:
                raise ValueError(f"classification {label.name!r} has no rule: add one, or "
                                 "declare it with allow: true")
        return self

    @property
    def labels(self) -> tuple[str, ...]:
        """Declared labels, least to most sensitive."""
        return tuple(c.name for c in self.classifications)

    @property
    def purpose_names(self) -> tuple[str, ...]:
        """Declared purposes, in file order."""
        return tuple(p.name for p in self.purposes)


def _unique(names: list[str], kind: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{kind} {name!r} is declared twice")
        seen.add(name)


def suggest(word: str, known: tuple[str, ...] | list[str]) -> str:
    """`` (did you mean 'pii'?)`` for the nearest known word, or nothing."""
    import difflib

    close = difflib.get_close_matches(word.strip().lower(), list(known), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def mask_rank(method: str) -> int:
    """Lower is stricter."""
    return MASK_STRICTNESS.index(method)


def stricter(a: str, b: str) -> str:
    """The stricter of two mask methods."""
    return a if mask_rank(a) <= mask_rank(b) else b
