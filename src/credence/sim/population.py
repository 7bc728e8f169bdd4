"""A seeded synthetic population: people and organisations with latent conduct.

The population is stored column-wise (one list per attribute, indexed by subject number) so
that generating and scanning 100,000 subjects stays a handful of list operations. Latent
attributes are the simulation's ground truth, never shown to the policy:

* ``segment``: 0 law-abiding (commits no adverse acts), 1 occasional, 2 chronic;
* ``civic``: takes part in civic life (volunteering, awards, on-time repayments);
* ``rectifies``: fulfils the obligation when warned by a notice.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

REGIONS: tuple[tuple[str, float, float], ...] = (
    # name, share of the population, relative share of chronic conduct (deprivation)
    ("Central", 0.18, 1.0),
    ("Harbour", 0.12, 1.8),
    ("Northgate", 0.14, 0.8),
    ("Riverside", 0.13, 1.3),
    ("Eastfield", 0.12, 1.5),
    ("Westbrook", 0.11, 0.7),
    ("Hillcrest", 0.10, 0.5),
    ("Southmoor", 0.10, 1.2),
)
AGE_BANDS: tuple[tuple[str, float, float], ...] = (
    # band, share of adults, relative share of occasional (e.g. traffic) conduct
    ("18-24", 0.12, 1.6),
    ("25-34", 0.18, 1.3),
    ("35-49", 0.27, 1.0),
    ("50-64", 0.24, 0.8),
    ("65+", 0.19, 0.5),
)
ORG_BAND = "organisation"
PERSON, ORGANISATION = "person", "organisation"


@dataclass(frozen=True)
class PopulationSpec:
    """The shape of the population (shares are of the whole population)."""

    size: int
    organisation_share: float = 0.05
    law_abiding_share: float = 0.55
    chronic_share: float = 0.04
    civic_share: float = 0.30
    rectify_share: float = 0.45


@dataclass
class Population:
    """Column-wise subjects; index ``i`` is the same subject in every column."""

    ids: list[str]
    kinds: list[str]
    regions: list[int]
    age_bands: list[int]  # index into AGE_BANDS, or len(AGE_BANDS) for organisations
    households: list[int]  # household number (persons) or -1 (organisations); statistics only
    segments: list[int]
    civic: list[bool]
    rectifies: list[bool]

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def region_names(self) -> list[str]:
        """Region names in index order."""
        return [r[0] for r in REGIONS]

    @property
    def band_names(self) -> list[str]:
        """Age band names in index order (organisations last)."""
        return [b[0] for b in AGE_BANDS] + [ORG_BAND]

    def index(self) -> dict[str, int]:
        """Subject id → subject number."""
        return {sid: i for i, sid in enumerate(self.ids)}


def generate_population(spec: PopulationSpec, seed: int) -> Population:
    """A population of ``spec.size`` subjects; the same seed always gives the same people."""
    rng = random.Random(f"population:{seed}")
    n = spec.size
    n_org = round(n * spec.organisation_share)
    kinds = [PERSON] * (n - n_org) + [ORGANISATION] * n_org
    region_w = [r[1] for r in REGIONS]
    regions = rng.choices(range(len(REGIONS)), weights=region_w, k=n)
    band_w = [b[1] for b in AGE_BANDS]
    bands = rng.choices(range(len(AGE_BANDS)), weights=band_w, k=n - n_org)
    bands += [len(AGE_BANDS)] * n_org
    households = _households(rng, n - n_org) + [-1] * n_org
    segments: list[int] = []
    rand = rng.random
    # Chronic conduct is more common in deprived regions, occasional conduct among the young:
    # that is what makes the burden tables worth reading.
    chronic_mult = [r[2] for r in REGIONS]
    occasional_mult = [b[2] for b in AGE_BANDS] + [1.0]
    occasional_share = 1.0 - spec.law_abiding_share - spec.chronic_share
    for i in range(n):
        chronic = spec.chronic_share * chronic_mult[regions[i]]
        occasional = occasional_share * occasional_mult[bands[i]]
        u = rand()
        segments.append(2 if u < chronic else 1 if u < chronic + occasional else 0)
    civic = [rand() < spec.civic_share for _ in range(n)]
    rectifies = [rand() < spec.rectify_share for _ in range(n)]
    ids = [f"sim-{'p' if k == PERSON else 'o'}{i:07d}" for i, k in enumerate(kinds)]
    return Population(ids, kinds, regions, bands, households, segments, civic, rectifies)


def _households(rng: random.Random, persons: int) -> list[int]:
    """Household numbers: consecutive persons share a household of 1 to 5 members."""
    out: list[int] = []
    house = 0
    sizes = (1, 2, 3, 4, 5)
    weights = (0.28, 0.34, 0.16, 0.15, 0.07)
    while len(out) < persons:
        size = rng.choices(sizes, weights=weights)[0]
        out.extend([house] * size)
        house += 1
    return out[:persons]
